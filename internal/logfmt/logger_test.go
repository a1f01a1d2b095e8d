package logfmt

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// writes records every Write, as a kmsg device sees them.
type writes struct {
	mu    sync.Mutex
	calls []string
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.calls = append(w.calls, string(p))
	w.mu.Unlock()
	return len(p), nil
}

// TestOneWritePerLine: concurrent records, from a logger and loggers derived
// from it, arrive as one Write each holding one whole line.
func TestOneWritePerLine(t *testing.T) {
	var w writes
	root := New(&w, LevelInfo)
	const goroutines, each = 20, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			log := root.With("service", "s"+strconv.Itoa(g))
			for i := range each {
				log.Info("started", "pid", i, "argv", []string{"sh", "-c", strings.Repeat("x", i)})
			}
		})
	}
	wg.Wait()
	if len(w.calls) != goroutines*each {
		t.Fatalf("%d Writes, want %d", len(w.calls), goroutines*each)
	}
	for _, c := range w.calls {
		if strings.Count(c, "\n") != 1 || !strings.HasSuffix(c, "\n") || !strings.HasPrefix(c, "time=") ||
			!strings.Contains(c, " level=INFO msg=started service=s") {
			t.Fatalf("Write of not one whole record: %q", c)
		}
	}
}

func TestMinimumLevel(t *testing.T) {
	var b bytes.Buffer
	log := New(&b, LevelWarn)
	log.out.now = zeroTime
	for _, l := range []Level{LevelDebug, LevelInfo, LevelWarn, LevelError} {
		if got, want := log.Enabled(l), l >= LevelWarn; got != want {
			t.Errorf("Enabled(%v) = %v, want %v", l, got, want)
		}
	}
	log.Debug("d")
	log.Info("i")
	log.Warn("w")
	log.With("k", 1).Error("e")
	if got, want := b.String(), "level=WARN msg=w\nlevel=ERROR msg=e k=1\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestDiscard: Discard and a nil *Logger write nothing and derive loggers
// that write nothing.
func TestDiscard(t *testing.T) {
	for _, log := range []*Logger{Discard(), nil} {
		if log.Enabled(LevelError) {
			t.Errorf("%v: enabled", log)
		}
		d := log.With("service", "web")
		d.Error("nothing", "err", "x")
		d.Info("nothing")
		if d.Enabled(LevelError) {
			t.Errorf("%v.With: enabled", log)
		}
	}
}

// TestWithDoesNotShare: loggers derived from one logger keep their own keys,
// however the parent's were stored.
func TestWithDoesNotShare(t *testing.T) {
	var b bytes.Buffer
	root := New(&b, LevelInfo)
	root.out.now = zeroTime
	parent := root.With("a", 1)
	parent.attrs = append(make([]byte, 0, 100), parent.attrs...) // room to append in place
	x := parent.With("x", 1)
	y := parent.With("y", 2)
	x.Info("m")
	y.Info("m")
	parent.Info("m")
	root.Info("m")
	if got, want := b.String(), "level=INFO msg=m a=1 x=1\nlevel=INFO msg=m a=1 y=2\nlevel=INFO msg=m a=1\nlevel=INFO msg=m\n"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func zeroTime() (t time.Time) { return t }
