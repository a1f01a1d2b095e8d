// Package exeseal makes the running binary impossible to overwrite from
// the processes it starts in a context (CVE-2019-5736).
//
// A process that joins a guest's namespaces and execs a guest-chosen path
// can be made to exec /proc/self/exe, that is the host binary itself, inside
// the guest; guest root could then reopen it through /proc/PID/exe and write
// to the host's file. Like runc (libcontainer/exeseal) and crun
// (cloned_binary.c), Reexec first re-executes the binary from a sealed
// memfd copy, so /proc/self/exe names a file nobody can write.
package exeseal
