// Package hostd is the logic of `vhost daemon`, the host's system service:
// it boots the vservers marked autostart in boot order when the host comes
// up, boots again those that end unexpectedly (their restart policy), and
// stops them in reverse order when the host goes down.
//
// The daemon holds no guest. Every vserver runs under a monitor of its own
// (internal/vserver), detached from the daemon, so stopping, restarting or
// upgrading the daemon leaves the guests running; a daemon that starts
// adopts the vservers already running instead of booting them twice.
//
// The daemon learns how a guest ended from the exit record its monitor
// writes (RunMonitor): ROOT/run/vhostd/exit/NAME.json. Its own lock and pid
// are ROOT/run/vhostd/pid.
package hostd
