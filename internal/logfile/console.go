package logfile

import (
	"io"
	"strconv"
	"sync"
)

// ConsoleQueue is how many lines a Console holds for a slow console, all
// Outputs together, before it drops them.
const ConsoleQueue = 1024

// Console copies the lines of every Output that shares it to one writer,
// from one goroutine, through one bounded queue: a console that blocks
// never stalls an Output, whose lines that don't fit are dropped and
// counted, and a note of how many follows once the console has caught up.
type Console struct {
	w     io.Writer
	queue chan consoleLine
	wake  chan struct{} // a drop or the end of an Output to note

	mu      sync.Mutex
	pending []*Output // Outputs with drops to note or an end to see to
}

type consoleLine struct {
	o *Output
	b []byte
}

// NewConsole returns a Console that writes to w, which must be safe for
// concurrent Writes if anything else writes to it (an *os.File is); each
// line is one Write.
func NewConsole(w io.Writer) *Console {
	c := &Console{w: w, queue: make(chan consoleLine, ConsoleQueue), wake: make(chan struct{}, 1)}
	go c.run()
	return c
}

// send queues a line of o, or counts it dropped.
func (c *Console) send(o *Output, b []byte) {
	o.queued.Add(1)
	select {
	case c.queue <- consoleLine{o, b}:
	default:
		o.queued.Add(-1)
		o.dropped.Add(1)
		c.note(o)
	}
}

// note has the writer look at o once the queue is empty: to say what it
// dropped, or to see that its lines are all written.
func (c *Console) note(o *Output) {
	c.mu.Lock()
	if !o.pending {
		o.pending = true
		c.pending = append(c.pending, o)
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Console) run() {
	for {
		select {
		case l := <-c.queue:
			c.w.Write(l.b)
			l.o.queued.Add(-1)
		case <-c.wake:
		}
		if len(c.queue) == 0 {
			c.settle()
		}
	}
}

// settle writes the drop notes of the pending Outputs and closes the
// consoleDone of those that have ended with nothing left in the queue.
func (c *Console) settle() {
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	for _, o := range pending {
		o.pending = false
	}
	c.mu.Unlock()
	for _, o := range pending {
		if d := o.dropped.Load(); d != o.reported {
			c.w.Write([]byte(o.name + " | [vinit: " + strconv.FormatUint(d-o.reported, 10) + " lines dropped from the console, see the log file]\n"))
			o.reported = d
		}
		if o.ended.Load() {
			if o.queued.Load() == 0 {
				o.endConsole.Do(func() { close(o.consoleDone) })
			} else {
				c.note(o) // its last lines are still queued
			}
		}
	}
}
