package logfile

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
)

// consoleQueue is how many lines an Output holds for a slow console before
// it drops them.
const consoleQueue = 1024

// Output owns the pipe that carries a service's stdout and stderr. It reads
// lines from it until every write end is closed, and sends them to the log
// file and the console.
type Output struct {
	name    string
	file    *Writer
	console io.Writer
	log     *slog.Logger

	r, w    *os.File
	split   splitter
	queue   chan []byte // console lines; nil without a console
	dropped atomic.Uint64

	done        chan struct{} // the reader has seen EOF and flushed
	consoleDone chan struct{} // the console writer has ended
	fileErr     bool          // the last write to file failed (logged once)
}

// NewOutput creates the pipe and starts reading it. Lines go to file (if
// not nil) and, as "name | line", to console (if not nil). name is printed
// as given: pad it (fmt.Sprintf("%-*s", width, name)) to line up the
// columns of several services. A console shared by several Outputs must be
// safe for concurrent Writes, as an *os.File is; each line is one Write.
// log gets write errors of the log file; nil discards them.
//
// Give File to each process of the service as its stdout and stderr, and
// call Close when the service is gone for good.
func NewOutput(name string, file *Writer, console io.Writer, log *slog.Logger) (*Output, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create output pipe of %s: %w", name, err)
	}
	// os.Pipe makes both ends non-blocking; children share the write end's
	// file description, and a service must not see EAGAIN on stdout. Fd
	// puts it back in blocking mode (os/exec would too, later).
	w.Fd()
	o := &Output{
		name: name, file: file, console: console, log: log,
		r: r, w: w,
		split:       splitter{max: MaxLine},
		done:        make(chan struct{}),
		consoleDone: make(chan struct{}),
	}
	if console != nil {
		o.queue = make(chan []byte, consoleQueue)
		go o.writeConsole()
	} else {
		close(o.consoleDone)
	}
	go o.read()
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
// ctx.Err(). Console lines still queued are written by a goroutine that
// ends when they are, or never if the console blocks forever.
func (o *Output) Close(ctx context.Context) error {
	o.w.Close()
	select {
	case <-o.done:
		return nil
	case <-ctx.Done():
		o.r.Close() // wakes read, which flushes and ends
		<-o.done
		return ctx.Err()
	}
}

func (o *Output) read() {
	defer close(o.done)
	defer o.r.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := o.r.Read(buf)
		if n > 0 {
			o.split.write(buf[:n], o.line)
			o.flushFile()
		}
		if err != nil {
			break
		}
	}
	o.split.flush(o.line)
	o.flushFile()
	if o.queue != nil {
		close(o.queue)
	}
}

// line handles one line read from the pipe.
func (o *Output) line(b []byte) {
	if o.file != nil {
		o.checkFile(o.file.WriteLine("", b))
	}
	if o.queue == nil {
		return
	}
	c := make([]byte, 0, len(o.name)+3+len(b)+1)
	c = append(append(append(append(c, o.name...), " | "...), b...), '\n')
	select {
	case o.queue <- c:
	default:
		o.dropped.Add(1)
	}
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

// writeConsole copies queued lines to the console, and says how many were
// dropped when it catches up. Write errors are ignored: the console is
// best effort, the log file is the record.
func (o *Output) writeConsole() {
	defer close(o.consoleDone)
	var reported uint64
	for b := range o.queue {
		o.console.Write(b)
		if d := o.dropped.Load(); d != reported && len(o.queue) == 0 {
			o.console.Write([]byte(o.name + " | [vinit: " + strconv.FormatUint(d-reported, 10) + " lines dropped from the console, see the log file]\n"))
			reported = d
		}
	}
	if d := o.dropped.Load(); d != reported {
		o.console.Write([]byte(o.name + " | [vinit: " + strconv.FormatUint(d-reported, 10) + " lines dropped from the console, see the log file]\n"))
	}
}
