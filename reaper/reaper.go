package reaper

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Exit is how a child ended, as wait4 reported it.
type Exit struct {
	Pid    int
	Status unix.WaitStatus
	Rusage unix.Rusage
}

// Code is the exit status a shell would report: the exit code of a child
// that exited, 128+N for a child killed by signal N.
func (e Exit) Code() int {
	switch {
	case e.Status.Exited():
		return e.Status.ExitStatus()
	case e.Status.Signaled():
		return 128 + int(e.Status.Signal())
	}
	return 255
}

// Success reports whether the child exited with status 0.
func (e Exit) Success() bool { return e.Status.Exited() && e.Status.ExitStatus() == 0 }

func (e Exit) String() string {
	switch {
	case e.Status.Exited():
		return fmt.Sprintf("exit status %d", e.Status.ExitStatus())
	case e.Status.Signaled():
		s := "signal: " + unix.SignalName(e.Status.Signal())
		if e.Status.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return fmt.Sprintf("wait status %#x", uint32(e.Status))
}

// Stats are the reaper's counters since New.
type Stats struct {
	Reaped  uint64 // every status collected
	Orphans uint64 // statuses of children nobody registered
}

// Reaper collects the exit statuses of all children of the process.
// Create it with New before the process has any child.
type Reaper struct {
	// forking is held shared by every Start, across its fork and the
	// registration of the PID, and exclusively by Reap: no status can be
	// collected between a fork and its registration, while forks of
	// several goroutines go on at the same time.
	forking sync.RWMutex

	mu      sync.Mutex         // guards the fields below
	waiters map[int]func(Exit) // by PID: who is told of its exit
	// childless is true once wait4 has answered ECHILD and no child has
	// been started since.
	childless bool
	// drained is closed and replaced after every drain, to wake WaitChildless.
	drained chan struct{}

	reaped  atomic.Uint64
	orphans atomic.Uint64

	sigc chan os.Signal
}

// Start runs start, which must fork exactly one child and return its PID, and
// registers that PID so that its exit is delivered on the returned channel
// (buffered; it receives exactly one value). Reaping waits while any start
// runs, so the child's status can't be collected before it is registered;
// starts of several goroutines run at the same time.
func (r *Reaper) Start(start func() (int, error)) (int, <-chan Exit, error) {
	ch := make(chan Exit, 1)
	pid, err := r.StartFunc(start, func(e Exit) { ch <- e })
	if err != nil {
		return 0, nil, err
	}
	return pid, ch, nil
}

// StartFunc is Start with the exit handed to exited rather than sent on a
// channel, so that nothing has to wait for it: a supervisor of many
// children needs no goroutine per child. exited is called once, from the
// goroutine that reaps, with the Reaper locked: it must return at once and
// must not call the Reaper.
func (r *Reaper) StartFunc(start func() (int, error), exited func(Exit)) (int, error) {
	r.forking.RLock()
	defer r.forking.RUnlock()
	pid, err := start()
	if err != nil {
		return 0, err
	}
	if pid <= 0 {
		return 0, fmt.Errorf("reaper: start returned pid %d", pid)
	}
	r.mu.Lock()
	r.waiters[pid] = exited
	r.childless = false
	r.mu.Unlock()
	return pid, nil
}

// Watch registers pid, a child started without Start (for example one
// inherited across exec), so that its exit is delivered on the returned
// channel. A status already collected for pid is not replayed.
func (r *Reaper) Watch(pid int) <-chan Exit {
	ch := make(chan Exit, 1)
	r.WatchFunc(pid, func(e Exit) { ch <- e })
	return ch
}

// WatchFunc is Watch with the exit handed to exited, as StartFunc does.
func (r *Reaper) WatchFunc(pid int, exited func(Exit)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waiters[pid] = exited
	r.childless = false
}

// Stats returns the counters.
func (r *Reaper) Stats() Stats {
	return Stats{Reaped: r.reaped.Load(), Orphans: r.orphans.Load()}
}

// Reap collects every child that has exited, without blocking. The loop
// calls it on every SIGCHLD; callers may call it to reap at once.
func (r *Reaper) Reap() {
	r.forking.Lock()
	defer r.forking.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		var ru unix.Rusage
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, &ru)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ECHILD {
			r.childless = true
			break
		}
		if pid == 0 {
			r.childless = false // children left, none has exited
		}
		if err != nil || pid <= 0 {
			break
		}
		r.reaped.Add(1)
		if exited, ok := r.waiters[pid]; ok {
			delete(r.waiters, pid)
			exited(Exit{Pid: pid, Status: ws, Rusage: ru})
			continue
		}
		r.orphans.Add(1)
	}
	close(r.drained)
	r.drained = make(chan struct{})
}

// WaitChildless returns once the process has no child left, running or
// zombie, or when ctx is done.
func (r *Reaper) WaitChildless(ctx context.Context) error {
	for {
		r.Reap()
		r.mu.Lock()
		done, next := r.childless, r.drained
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-next:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run is the wait loop: it reaps on every SIGCHLD until ctx is done. Run it in
// exactly one goroutine.
func (r *Reaper) Run(ctx context.Context) {
	r.Reap() // children that exited before the loop started
	for {
		select {
		case <-r.sigc:
			r.Reap()
		case <-ctx.Done():
			return
		}
	}
}

// Close stops delivering SIGCHLD to the reaper.
func (r *Reaper) Close() { signal.Stop(r.sigc) }
