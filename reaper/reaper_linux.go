package reaper

import (
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// New returns a reaper that has already subscribed to SIGCHLD, so no exit
// that happens after New returns can be missed. When the process is not PID 1
// it becomes a child subreaper (PR_SET_CHILD_SUBREAPER), so orphans below it
// are reparented to it rather than to the real init.
//
// One pending SIGCHLD is enough: a signal that arrives while the channel is
// full finds a drain pending that will collect its child too, because every
// drain runs until wait4 has nothing more.
func New() (*Reaper, error) {
	if os.Getpid() != 1 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("reaper: become child subreaper: %w", err)
		}
	}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, unix.SIGCHLD)
	return &Reaper{
		waiters: make(map[int]func(Exit)),
		drained: make(chan struct{}),
		sigc:    sigc,
	}, nil
}
