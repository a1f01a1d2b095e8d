// Package sdnotify is the receiving end of the sd_notify protocol, served the
// way systemd's service manager serves it.
//
// A service finds the socket in $NOTIFY_SOCKET and sends datagrams of
// newline-separated KEY=VALUE fields ("READY=1\nSTATUS=listening"), as
// described in sd_notify(3). Listen binds that socket; Serve reads it and
// calls a handler once per datagram, in the order the datagrams arrived.
//
// The server follows systemd's rules (src/core/manager.c,
// manager_dispatch_notify_fd):
//
//   - The sender is identified by the kernel, not by the message: the socket
//     has SO_PASSCRED on, and a datagram without SCM_CREDENTIALS, or with a
//     PID that does not exist in our PID namespace (0), is dropped.
//   - A datagram longer than MaxMessage bytes, one with a NUL byte, and one
//     whose control data was truncated (MSG_CTRUNC) are dropped; every file
//     descriptor that came with a dropped datagram is closed.
//   - Lines without "=" are ignored, as systemd ignores fields it does not
//     know.
//   - BARRIER=1 (sd_notify_barrier(3), and systemd-notify since v246 by
//     default) comes with one file descriptor, the write end of a pipe the
//     sender polls. The server closes it, which releases the sender, and
//     does not hand the datagram to the handler. Because the handler runs
//     synchronously, every earlier datagram of that sender has been handled
//     by then.
//
// Matching a sender to a service is the caller's decision: Message.Pid is
// the sender's PID in the server's PID namespace. Note that systemd-notify
// sends with the credentials of its parent (or of --pid=), not its own, so a
// shell script that runs "systemd-notify --ready" is seen as the script
// itself. A short-lived sender may be gone by the time the handler runs,
// unless it used a barrier (the sender waits for it, so it is still alive
// while its earlier datagrams are handled); ProcessGroup therefore returns an
// error the caller must be ready for.
package sdnotify
