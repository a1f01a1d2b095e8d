package logfmt

import (
	"io"
	"strconv"
	"sync"
	"time"
)

// A Level is the importance of a record; the values are slog's, so a level
// between two names is written as slog writes it (INFO+2).
type Level int

// The levels, as log/slog numbers them.
const (
	LevelDebug Level = -4
	LevelInfo  Level = 0
	LevelWarn  Level = 4
	LevelError Level = 8
)

// String is the level's name as slog writes it: DEBUG, INFO, WARN, ERROR,
// and for a level between two of them the lower name and the offset from it.
func (l Level) String() string {
	str := func(base string, val Level) string {
		if val == 0 {
			return base
		}
		sval := strconv.Itoa(int(val))
		if val > 0 {
			sval = "+" + sval
		}
		return base + sval
	}
	switch {
	case l < LevelInfo:
		return str("DEBUG", l-LevelDebug)
	case l < LevelWarn:
		return str("INFO", l-LevelInfo)
	case l < LevelError:
		return str("WARN", l-LevelWarn)
	default:
		return str("ERROR", l-LevelError)
	}
}

// A Logger writes records at or above its minimum level. It is safe for
// concurrent use. A nil *Logger discards everything.
type Logger struct {
	out   *sink  // nil: discard
	attrs []byte // the keys and values of With, formatted, each after a space
}

// sink is what a logger shares with those derived from it.
type sink struct {
	mu  sync.Mutex // serialises Writes, as slog's handler does
	w   io.Writer
	min Level
	now func() time.Time // time.Now; tests fix it
}

// New returns a logger that writes to w the records at level min and above.
func New(w io.Writer, min Level) *Logger {
	return &Logger{out: &sink{w: w, min: min, now: time.Now}}
}

// Discard returns a logger that writes nothing.
func Discard() *Logger { return &Logger{} }

// Enabled reports whether l writes records of the level.
func (l *Logger) Enabled(level Level) bool {
	return l != nil && l.out != nil && level >= l.out.min
}

// With returns a logger that writes args, key-value pairs as in Info, on
// every record, after the message and before the record's own.
func (l *Logger) With(args ...any) *Logger {
	if len(args) == 0 || l == nil || l.out == nil {
		return l
	}
	attrs := appendArgs(l.attrs[:len(l.attrs):len(l.attrs)], args)
	return &Logger{out: l.out, attrs: attrs}
}

// Debug writes a record at LevelDebug; see Info.
func (l *Logger) Debug(msg string, args ...any) { l.Log(LevelDebug, msg, args...) }

// Info writes a record at LevelInfo: the message, then args, alternately a
// key (a string) and its value, as in l.Info("started", "pid", pid).
func (l *Logger) Info(msg string, args ...any) { l.Log(LevelInfo, msg, args...) }

// Warn writes a record at LevelWarn; see Info.
func (l *Logger) Warn(msg string, args ...any) { l.Log(LevelWarn, msg, args...) }

// Error writes a record at LevelError; see Info.
func (l *Logger) Error(msg string, args ...any) { l.Log(LevelError, msg, args...) }

// Log writes a record at the level, if l is enabled for it; see Info.
// A failed Write is ignored, as slog's Logger ignores it.
func (l *Logger) Log(level Level, msg string, args ...any) {
	if !l.Enabled(level) {
		return
	}
	s := l.out
	t := s.now()
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if !t.IsZero() {
		b = append(b, "time="...)
		b = appendRFC3339Millis(b, t.Round(0))
		b = append(b, ' ')
	}
	b = append(b, "level="...)
	b = appendString(b, level.String())
	b = append(b, " msg="...)
	b = appendString(b, msg)
	b = append(b, l.attrs...)
	b = appendArgs(b, args)
	b = append(b, '\n')

	s.mu.Lock()
	s.w.Write(b)
	s.mu.Unlock()

	if cap(b) <= maxPooled {
		*bp = b
		bufPool.Put(bp)
	}
}

// maxPooled bounds the buffers kept for the next records, as slog's.
const maxPooled = 16 << 10

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}
