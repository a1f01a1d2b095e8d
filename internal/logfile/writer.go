package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for Options.
const (
	DefaultMaxSize = 10 << 20
	DefaultKeep    = 5
)

// flushSize is how much a Writer buffers before it writes on its own.
const flushSize = 32 << 10

// timeLayout is RFC 3339 with milliseconds; times are formatted in UTC.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// stampLen is the length of a formatted time.
const stampLen = len("2006-01-02T15:04:05.000Z")

// Options tune a Writer. The zero value means the defaults.
type Options struct {
	// MaxSize is the size in bytes past which the file is rotated before
	// the next line (DefaultMaxSize if 0). A file exceeds it only if a
	// single line does.
	MaxSize int64
	// Keep is how many rotated files are kept, NAME.log.1 (the newest) to
	// NAME.log.Keep (DefaultKeep if 0).
	Keep int
}

// Writer appends timestamped lines to DIR/NAME.log and rotates it. It is
// safe for concurrent use.
type Writer struct {
	dir, name string
	opt       Options

	mu   sync.Mutex
	f    *os.File
	size int64  // bytes in f, buffered ones included
	buf  []byte // formatted lines not yet written to f
}

// Open opens DIR/NAME.log for appending, creating DIR (0755) and the file
// (0640) if needed. Lines already in the file are kept, and count toward
// the next rotation.
func Open(dir, name string, opt Options) (*Writer, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if opt.MaxSize <= 0 {
		opt.MaxSize = DefaultMaxSize
	}
	if opt.Keep <= 0 {
		opt.Keep = DefaultKeep
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open log %s: %w", name, err)
	}
	w := &Writer{dir: dir, name: name, opt: opt}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

// checkName refuses names that are not a plain file name.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("open log %q: invalid service name", name)
	}
	return nil
}

// Path returns the path of the current log file, DIR/NAME.log.
func (w *Writer) Path() string { return path(w.dir, w.name, 0) }

// path returns NAME.log for i == 0, NAME.log.i otherwise.
func path(dir, name string, i int) string {
	p := filepath.Join(dir, name+".log")
	if i > 0 {
		p += "." + strconv.Itoa(i)
	}
	return p
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.Path(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	w.f, w.size = f, fi.Size()
	return nil
}

// WriteLine appends one line stamped with the current time, and tag after
// the time if tag is not empty. A newline inside line starts another line
// with the same stamp; a trailing one is dropped. The line may sit in a
// buffer until Flush, Sync or Close, or until enough lines accumulate.
func (w *Writer) WriteLine(tag string, line []byte) error {
	now := time.Now()
	line = bytes.TrimSuffix(line, []byte("\n"))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("write log %s: %w", w.name, os.ErrClosed)
	}
	var err error
	for l := range bytes.SplitSeq(line, []byte("\n")) {
		if e := w.append(now, tag, l); e != nil && err == nil {
			err = e
		}
	}
	if len(w.buf) >= flushSize {
		if e := w.flush(); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// append formats one line into the buffer, rotating first if the line
// would take the file past MaxSize.
func (w *Writer) append(now time.Time, tag string, line []byte) error {
	n := int64(stampLen + 1 + len(line) + 1)
	if tag != "" {
		n += int64(len(tag) + 1)
	}
	var err error
	if w.size > 0 && w.size+n > w.opt.MaxSize {
		err = w.rotate()
	}
	b := now.UTC().AppendFormat(w.buf, timeLayout)
	b = append(b, ' ')
	if tag != "" {
		b = append(append(b, tag...), ' ')
	}
	b = append(append(b, line...), '\n')
	w.size += int64(len(b) - len(w.buf))
	w.buf = b
	return err
}

// flush writes the buffer. On error the unwritten bytes are dropped rather
// than retried forever (a full disk must not grow vinit's memory).
func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.f.Write(w.buf)
	w.buf = w.buf[:0]
	if err != nil {
		return fmt.Errorf("write log %s: %w", w.name, err)
	}
	return nil
}

// rotate shifts NAME.log.i to NAME.log.i+1, dropping the oldest, and starts
// a new NAME.log. If it fails, lines go on to the file that was open, under
// whatever name it has now: a failed rotation loses no line.
func (w *Writer) rotate() error {
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("rotate log %s: %w", w.name, err)
	}
	// Shift only the files there are: NAME.log.1 … NAME.log.last.
	last := 0
	for last < w.opt.Keep {
		if _, err := os.Lstat(path(w.dir, w.name, last+1)); err != nil {
			break
		}
		last++
	}
	if last == w.opt.Keep {
		if err := os.Remove(path(w.dir, w.name, last)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log %s: %w", w.name, err)
		}
		last--
	}
	for i := last; i >= 0; i-- {
		if err := os.Rename(path(w.dir, w.name, i), path(w.dir, w.name, i+1)); err != nil {
			return fmt.Errorf("rotate log %s: %w", w.name, err)
		}
	}
	old := w.f
	if err := w.open(); err != nil {
		return fmt.Errorf("rotate log %s: %w", w.name, err)
	}
	old.Close()
	return nil
}

// Flush writes buffered lines to the file.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	return w.flush()
}

// Sync writes buffered lines and fsyncs the file.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	return w.flushSync("sync")
}

// flushSync writes buffered lines and fsyncs the file; op names the call
// in the error. w.mu is held.
func (w *Writer) flushSync(op string) error {
	err := w.flush()
	if e := w.f.Sync(); e != nil && err == nil {
		err = fmt.Errorf("%s log %s: %w", op, w.name, e)
	}
	return err
}

// Close writes buffered lines, fsyncs and closes the file. Later writes
// fail; a second Close does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.flushSync("close")
	if e := w.f.Close(); e != nil && err == nil {
		err = fmt.Errorf("close log %s: %w", w.name, e)
	}
	w.f = nil
	return err
}
