// Package single is vinit's single-command mode: a drop-in for tini,
// dumb-init and catatonit that runs one command as the main child of an init
// process.
//
// Run starts the command, forwards every catchable signal to it (to its whole
// process group by default), reaps every orphan through the reaper package,
// and when the main child has exited it terminates what is left of the
// processes vinit started or adopted, then returns the child's exit code.
//
// The Go runtime shapes three parts of the design:
//
//   - Async preemption sends SIGURG to the runtime's own threads, and a
//     process can't tell those from a SIGURG somebody sent it with kill(2).
//     ReexecWithoutPreemption re-executes the binary once with
//     GODEBUG=asyncpreemptoff=1 (the only switch a plain "go build" allows:
//     the //go:debug directive rejects runtime settings), and ChildEnv undoes
//     that change for the child.
//   - The runtime installs its own handlers before main runs, so an inherited
//     SIG_IGN survives only where the runtime keeps it (SIGHUP, SIGINT and the
//     job-control signals); see docs/single-command.md for the exact list.
//     Run never changes a disposition or the signal mask before the child is
//     started, so the child sees whatever the runtime left.
//   - Nothing calls exec.Cmd.Wait: the child is registered with reaper.Start,
//     gets only *os.File stdio, and its os.Process (a pidfd) is released after
//     its exit has been delivered.
package single
