// Package systemd is what vhost asks of systemd on a host that runs it: a
// delegated transient scope per vserver (instead of writing under systemd's
// cgroup tree), registration with systemd-machined so machinectl sees the
// guests, sd_notify for the daemon (READY, STATUS, STOPPING, WATCHDOG), and
// a log/slog handler that writes to the journal with structured fields.
//
// Every call goes over the system bus (D-Bus, via go-systemd and godbus);
// callers check Booted first and fall back to cgroupfs and stderr when it is
// false.
//
// Units: the vserver NAME's scope is vhost-NAME.scope in machine.slice
// (ScopeUnit). RegisterMachine makes the unit that the leader PID is in the
// machine's unit, so register a guest's init after it was moved into its
// scope: then `machinectl terminate NAME` stops vhost-NAME.scope, and never
// the unit of whoever called.
package systemd
