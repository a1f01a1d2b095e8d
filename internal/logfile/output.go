package logfile

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/vservers/vserver/internal/logfmt"
)

// readSize is the most read from a pipe at once: what a pipe holds.
const readSize = 64 << 10

// readBufs are the buffers of the pipes' reads, taken only while data is
// there to read: a service that writes nothing holds none.
var readBufs = sync.Pool{New: func() any { b := make([]byte, readSize); return &b }}

// Output owns the pipe that carries a service's stdout and stderr. It reads
// lines from it until every write end is closed, and sends them to the log
// file and the console.
type Output struct {
	name    string
	file    *Writer
	console *Console
	log     *logfmt.Logger

	w  *os.File
	in input // the read end, and how it is read (output_linux.go, output_other.go)

	// The reading state: the reader's alone, or under polling.mu on Linux.
	split   splitter
	fileErr bool // the last write to file failed (logged once)

	done chan struct{} // the reading has ended: EOF or stop, and flushed

	// Shared with the console's writer.
	queued      atomic.Int64  // lines in the console's queue
	dropped     atomic.Uint64 // lines the console missed
	ended       atomic.Bool   // the reader is done: no more lines
	consoleDone chan struct{} // closed once the console has every line (or its note) after the end
	endConsole  sync.Once
	pending     bool   // in the console's pending list; guarded by its mu
	reported    uint64 // drops noted on the console; the console's writer's
}

// NewOutput creates the pipe and starts reading it. Lines go to file (if
// not nil) and, as "name | line", to console (if not nil). name is printed
// as given: pad it (fmt.Sprintf("%-*s", width, name)) to line up the
// columns of several services. log gets write errors of the log file; nil
// discards them.
//
// Give File to each process of the service as its stdout and stderr, and
// call Close when the service is gone for good.
func NewOutput(name string, file *Writer, console *Console, log *logfmt.Logger) (*Output, error) {
	if log == nil {
		log = logfmt.Discard()
	}
	o := &Output{
		name: name, file: file, console: console, log: log,
		split:       splitter{max: MaxLine},
		done:        make(chan struct{}),
		consoleDone: make(chan struct{}),
	}
	if console == nil {
		close(o.consoleDone)
	}
	// The write end is in blocking mode: children share its file
	// description, and a service must not see EAGAIN on stdout.
	if err := o.open(); err != nil {
		return nil, fmt.Errorf("create output pipe of %s: %w", name, err)
	}
	return o, nil
}

// File returns the pipe's write end, to be set as a child's Stdout and
// Stderr. It stays open, and valid for the next child, until Close.
func (o *Output) File() *os.File { return o.w }

// Dropped returns how many lines the console missed because it was slow.
// The log file misses none.
func (o *Output) Dropped() uint64 { return o.dropped.Load() }

// Close closes the Output's own write end and waits until the processes
// that still hold one have closed it too and every line is in the log file
// (flushed, not fsynced: close the Writer for that). If ctx ends first,
// Close stops reading, dropping what is still unread, and returns
// ctx.Err(). Console lines still queued are written when the console
// takes them, or never if it blocks forever.
func (o *Output) Close(ctx context.Context) error {
	o.w.Close()
	select {
	case <-o.done:
		return nil
	case <-ctx.Done():
		o.stop() // the end is flushed, o.done closed
		<-o.done
		return ctx.Err()
	}
}

// end flushes the last partial line and the log file, tells the console,
// and closes done: the reading has ended, at EOF or by stop. The reader
// calls it once, after its last read.
func (o *Output) end() {
	o.split.flush(o.line)
	o.flushFile()
	o.ended.Store(true)
	if o.console != nil {
		o.console.note(o)
	}
	close(o.done)
}

// line handles one line read from the pipe.
func (o *Output) line(b []byte) {
	if o.file != nil {
		o.checkFile(o.file.WriteLine("", b))
	}
	if o.console == nil {
		return
	}
	c := make([]byte, 0, len(o.name)+3+len(b)+1)
	c = append(append(append(append(c, o.name...), " | "...), b...), '\n')
	o.console.send(o, c)
}

func (o *Output) flushFile() {
	if o.file != nil {
		o.checkFile(o.file.Flush())
	}
}

// checkFile logs the first of a run of log file errors, and the recovery.
// Reading goes on regardless: a service blocks if its pipe is not drained.
func (o *Output) checkFile(err error) {
	switch {
	case err != nil && !o.fileErr:
		o.fileErr = true
		o.log.Error("service log file failing; lines are lost until it recovers", "service", o.name, "err", err)
	case err == nil && o.fileErr:
		o.fileErr = false
		o.log.Info("service log file writable again", "service", o.name)
	}
}
