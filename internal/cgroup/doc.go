// Package cgroup puts a vserver's processes into a control group of their
// own, on cgroup v2 (unified) and on cgroup v1 hosts alike, sets its limits
// and reads back its usage.
//
// On v1 a group is one directory per mounted controller hierarchy we use
// (pids, memory, cpu, cpuacct, blkio, freezer), plus the cgroup2 hierarchy of
// a hybrid host (/sys/fs/cgroup/unified) when it is mounted. On v2 it is one
// directory, with the controllers enabled in every parent's
// cgroup.subtree_control.
//
// The group's path is the same relative path in every hierarchy, so a group
// can be found again from its path alone (by `vhost stop` after the monitor
// that made it was killed).
package cgroup
