// Package reaper is the one wait loop of an init process.
//
// A process that is PID 1 of a PID namespace, or a child subreaper, adopts
// every orphan below it and must collect their exit statuses or they stay
// zombies. Only one goroutine of such a process may call wait4: any other
// caller (os/exec's Cmd.Wait among them) would race with it and lose statuses.
//
// The Reaper owns that loop. On every SIGCHLD it calls wait4(-1, WNOHANG)
// until no exited child is left, and routes each status to whoever registered
// the PID with Start; statuses nobody registered are counted as orphans.
// Reaping waits for every Start in progress, each of which holds a shared
// lock across its fork and the registration, so a child that exits at once
// is still routed to its owner, never counted as an orphan; the forks of
// several goroutines don't wait for each other.
//
// The package knows nothing of services: the supervisor and vinit's
// single-command mode are its callers.
package reaper
