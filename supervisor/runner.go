package supervisor

import "sync"

// maxRunners bounds the goroutines that handle services' events: enough
// to keep the forker's workers busy with starts, and first starts
// creating their log files, while others handle exits and timers. A boot
// of a thousand services would otherwise run a thousand goroutines at
// once, each waiting for its fork, and the runtime keeps the records (and
// many of the stacks) of every goroutine that ever ran at once, for
// reuse. (Measured with 1 000 units: 8 made a first boot about 40 ms
// slower than 32; 32 costs about 30 KiB more than 8 at 100 units.)
const maxRunners = 32

// drainBudget is how many events a runner handles for one service before
// it lets the next service that has some go first.
const drainBudget = 32

// runner handles the queued events of many services on a few goroutines:
// at most max at a time, each taking the next service that has events
// once it is done with one.
type runner struct {
	max int

	mu      sync.Mutex
	ready   []*service // services with events waiting for a goroutine, oldest first
	running int
}

// schedule has s's events handled: by a new goroutine if fewer than max
// run, or by the next one free.
func (r *runner) schedule(s *service) {
	r.mu.Lock()
	if r.running >= r.max {
		r.ready = append(r.ready, s)
		r.mu.Unlock()
		return
	}
	r.running++
	r.mu.Unlock()
	go r.run(s)
}

// run drains s, then every service that became ready meanwhile, and ends
// when there is none.
func (r *runner) run(s *service) {
	for s != nil {
		more := s.drain(drainBudget)
		r.mu.Lock()
		if more {
			r.ready = append(r.ready, s)
		}
		s = nil
		if len(r.ready) > 0 {
			s = r.ready[0]
			r.ready[0] = nil
			r.ready = r.ready[1:]
		} else {
			r.ready = nil
			r.running--
		}
		r.mu.Unlock()
	}
}
