package supervisor

import (
	"sync"

	"github.com/vservers/vserver/reaper"
)

// exitLatch holds the exit of a service's main process from the moment the
// reaper collects it until the service asks for it, so that no goroutine
// has to sit waiting for the exit of each process.
type exitLatch struct {
	mu   sync.Mutex
	exit *reaper.Exit
	to   func(reaper.Exit) // set by notify; nil until then
}

func newExitLatch() *exitLatch { return &exitLatch{} }

// deliver is the reaper's callback: it must not block.
func (l *exitLatch) deliver(e reaper.Exit) {
	l.mu.Lock()
	l.exit = &e
	to := l.to
	l.mu.Unlock()
	if to != nil {
		to(e)
	}
}

// notify has the exit handed to to once it happens, or now if it has.
func (l *exitLatch) notify(to func(reaper.Exit)) {
	l.mu.Lock()
	e := l.exit
	if e == nil {
		l.to = to
	}
	l.mu.Unlock()
	if e != nil {
		to(*e)
	}
}

// wait blocks until the exit: for a process nobody else will be told of.
func (l *exitLatch) wait() reaper.Exit {
	c := make(chan reaper.Exit, 1)
	l.notify(func(e reaper.Exit) { c <- e })
	return <-c
}
