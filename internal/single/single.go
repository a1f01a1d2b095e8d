package single

import (
	"runtime/debug"
	"time"

	"github.com/vservers/vserver/internal/logfmt"
)

// DefaultGrace is how long Run waits, after the main child has exited,
// between SIGTERM and SIGKILL for the processes left behind.
const DefaultGrace = 2 * time.Second

// Config is what Run needs. The zero value of every field but Argv is a
// usable default.
type Config struct {
	// Argv is the command and its arguments. A command without a slash is
	// looked up in $PATH.
	Argv []string
	// Env is the child's environment; nil means ChildEnv().
	Env []string
	// ChildOnly forwards signals to the child alone rather than to its
	// process group.
	ChildOnly bool
	// RemapExit lists exit codes of the child that Run reports as 0.
	RemapExit []int
	// Grace is the time between SIGTERM and SIGKILL for what is left after
	// the main child has exited; 0 means DefaultGrace, a negative value
	// none (SIGKILL at once).
	Grace time.Duration
	// Log receives vinit's own messages; nil discards them.
	Log *logfmt.Logger
}

// Exit codes Run returns when the child does not run, as a shell does.
const (
	ExitNotFound      = 127 // the command was not found
	ExitCannotExecute = 126 // the command was found but could not be executed
	ExitFailure       = 1   // vinit itself could not set up
)

// protect runs fn and reports whether it returned normally; a panic is
// recovered and logged instead of ending the process (PID 1 must not die).
func protect(log *logfmt.Logger, what string, fn func()) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("recovered from panic", "in", what, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	fn()
	return true
}

// keepRunning runs fn until it returns normally, restarting it after a
// panic.
func keepRunning(log *logfmt.Logger, what string, fn func()) {
	for !protect(log, what, fn) {
		time.Sleep(10 * time.Millisecond) // a panic on every call must not spin
	}
}
