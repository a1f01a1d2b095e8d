package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// progress shows long work on a terminal: a line on stderr, redrawn every
// quarter second, with what is done, for how long, and how many bytes it
// has read; in scripts (stderr not a terminal) it prints nothing.
type progress struct {
	label string
	n     atomic.Int64
	done  chan struct{}
	ended chan struct{}
}

// interactive reports whether stderr is a terminal a person watches.
func interactive() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

// startProgress starts the line; it returns nil in scripts, and every
// method of a nil progress does nothing.
func startProgress(label string) *progress {
	if !interactive() {
		return nil
	}
	p := &progress{label: label, done: make(chan struct{}), ended: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(p.ended)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-p.done:
				fmt.Fprint(os.Stderr, "\r\x1b[K") // clear the line
				return
			}
			line := fmt.Sprintf("%s: %s", p.label, time.Since(start).Round(time.Second))
			if n := p.n.Load(); n > 0 {
				line += ", " + humanBytes(n) + " read"
			}
			fmt.Fprint(os.Stderr, "\r\x1b[K"+line)
		}
	}()
	return p
}

// reader counts what r reads into the line.
func (p *progress) reader(r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return countingReader{r, &p.n}
}

func (p *progress) stop() {
	if p != nil {
		close(p.done)
		<-p.ended
	}
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// toolOutput is where a tool's own progress output (debootstrap's) goes:
// the terminal when a person watches; else a buffer, shown only if the
// work fails.
func toolOutput() (io.Writer, func(error) error) {
	if interactive() {
		return os.Stderr, func(err error) error { return err }
	}
	var buf bytes.Buffer
	return &buf, func(err error) error {
		if err != nil && buf.Len() > 0 {
			os.Stderr.Write(buf.Bytes())
		}
		return err
	}
}
