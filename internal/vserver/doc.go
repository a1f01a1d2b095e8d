// Package vserver is the host-side lifecycle of a vserver: its config file,
// its runtime state, and the monitor process that holds a running context.
//
// Paths all hang off one root (Paths):
//
//	ROOT/etc/vhost/vservers/NAME.yaml   the config (Load)
//	ROOT/var/lib/vhost/images/          the image store
//	ROOT/var/lib/vhost/vservers/NAME/   upper/ and work/: the vserver's copy-on-write layer
//	ROOT/run/vhost/NAME/state.json      runtime state, written atomically
//	ROOT/run/vhost/NAME/lock            flock held by the monitor while it lives
//	ROOT/var/log/vhost/NAME.log         console of a detached vserver
//
// A monitor (Monitor) is one process per running vserver. It creates the
// context, records every undo step in the state file before it takes it,
// waits for the guest's init, restarts the context when the guest reboots,
// and removes every trace when the guest powers off or is stopped. A monitor
// that was killed leaves its state behind; Stop and Cleanup finish its work
// from that record.
package vserver
