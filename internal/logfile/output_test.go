package logfile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// syncBuffer is a console that records what it got.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newOutput(t *testing.T, name string, w *Writer, console io.Writer) *Output {
	t.Helper()
	var c *Console
	if console != nil {
		c = NewConsole(console)
	}
	o, err := NewOutput(name, w, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

// run runs a shell script with the Output's pipe as stdout and stderr.
func run(t *testing.T, o *Output, script string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Stdout, cmd.Stderr = o.File(), o.File()
	if err := cmd.Run(); err != nil {
		t.Fatalf("sh -c %q: %v", script, err)
	}
}

// TestOutputChildren runs two children, one after the other, on the same
// pipe, each writing to stdout and stderr: every line reaches the log file
// and the console, each stream in order, and an unterminated last line is
// kept.
func TestOutputChildren(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, "web", Options{MaxSize: 16 << 10, Keep: 100})
	console := &syncBuffer{}
	o := newOutput(t, "web", w, console)

	const n = 500
	script := fmt.Sprintf(`i=1; while [ $i -le %d ]; do echo "$0 out $i"; echo "$0 err $i" >&2; i=$((i+1)); done`, n)
	run(t, o, strings.Replace(script, "$0", "first", -1))
	run(t, o, strings.Replace(script, "$0", "second", -1)+`; printf "no newline"`)
	if err := o.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	<-o.consoleDone
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	got, _ := readAll(t, dir, "web")
	// check checks lines hold every line of both runs, each stream in
	// order; with gaps, lines may be missing (the console drops lines it
	// cannot keep up with), but not reordered.
	check := func(where string, lines []string, gaps bool) {
		t.Helper()
		next := map[string]int{}
		for i, l := range lines {
			if i == len(lines)-1 {
				if l == "no newline" {
					break
				}
				if !gaps {
					t.Errorf("%s: last line: got %q, want \"no newline\"", where, l)
				}
			}
			var run, stream string
			var num int
			if _, err := fmt.Sscanf(l, "%s %s %d", &run, &stream, &num); err != nil {
				t.Fatalf("%s: line %q: %v", where, l, err)
			}
			key := run + " " + stream
			if num != next[key]+1 && (!gaps || num <= next[key]) {
				t.Fatalf("%s: line %q: want %s %d", where, l, key, next[key]+1)
			}
			next[key] = num
		}
		want := map[string]int{"first out": n, "first err": n, "second out": n, "second err": n}
		if diff := cmp.Diff(want, next); diff != "" {
			t.Errorf("%s: last line number per stream (-want +got):\n%s", where, diff)
		}
	}
	check("log file", got, false)

	var cons []string
	var noted uint64
	for _, l := range strings.Split(strings.TrimSuffix(console.String(), "\n"), "\n") {
		rest, ok := strings.CutPrefix(l, "web | ")
		if !ok {
			t.Fatalf("console line %q: want prefix \"web | \"", l)
		}
		var k uint64
		if _, err := fmt.Sscanf(rest, "[vinit: %d lines dropped", &k); err == nil {
			noted += k
			continue
		}
		cons = append(cons, rest)
	}
	check("console", cons, true)
	if total := uint64(len(got)); uint64(len(cons))+noted != total || noted != o.Dropped() {
		t.Errorf("console: got %d lines + %d noted as dropped (Dropped %d), want %d in all", len(cons), noted, o.Dropped(), total)
	}
}

// TestOutputLongLine checks a line longer than MaxLine is split, not lost.
func TestOutputLongLine(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, "svc", Options{})
	o := newOutput(t, "svc", w, nil)
	long := strings.Repeat("x", 2*MaxLine+10)
	if _, err := o.File().Write([]byte(long + "\nshort\n")); err != nil {
		t.Fatal(err)
	}
	o.Close(context.Background())
	w.Close()
	want := []string{long[:MaxLine], long[MaxLine : 2*MaxLine], long[2*MaxLine:], "short"}
	if diff := cmp.Diff(want, readLog(t, w.Path())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestOutputBlockedConsole gives the Output a console nobody reads: the
// log file still gets every line, and the console is told what it missed.
func TestOutputBlockedConsole(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, "svc", Options{MaxSize: 1 << 20, Keep: 100})
	cr, cw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer cr.Close()
	o := newOutput(t, "svc", w, cw)

	const n = 20000 // far more than the console pipe and queue hold
	run(t, o, fmt.Sprintf(`i=1; while [ $i -le %d ]; do echo "line $i"; i=$((i+1)); done`, n))
	if err := o.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	w.Close()
	got, _ := readAll(t, dir, "svc")
	if len(got) != n || got[n-1] != fmt.Sprintf("line %d", n) {
		t.Errorf("log file: got %d lines, want %d", len(got), n)
	}
	dropped := o.Dropped()
	if dropped == 0 {
		t.Fatal("Dropped: got 0, want lines dropped from a console nobody reads")
	}
	// Unblock the console and check it says how many it missed.
	cons := make(chan string)
	go func() {
		b, _ := io.ReadAll(cr)
		cons <- string(b)
	}()
	<-o.consoleDone
	cw.Close()
	c := <-cons
	var written, noted uint64
	for _, l := range strings.Split(strings.TrimSuffix(c, "\n"), "\n") {
		var k uint64
		if _, err := fmt.Sscanf(l, "svc | [vinit: %d lines dropped", &k); err == nil {
			noted += k
		} else if strings.HasPrefix(l, "svc | line ") {
			written++
		} else {
			t.Errorf("console line %q: want \"svc | line N\" or a drop note", l)
		}
	}
	if written != n-dropped || noted != dropped {
		t.Errorf("console: got %d lines and notes of %d dropped, want %d lines and %d dropped", written, noted, n-dropped, dropped)
	}
}

// TestOutputCloseGivesUp: a process that keeps the pipe open (a daemon's
// leftover child) must not hold Close past its context.
func TestOutputCloseGivesUp(t *testing.T) {
	w := open(t, t.TempDir(), "svc", Options{})
	o := newOutput(t, "svc", w, nil)
	cmd := exec.Command("sleep", "1000")
	cmd.Stdout = o.File()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Close(ctx); err != context.Canceled {
		t.Errorf("Close with a holder left: got %v, want context.Canceled", err)
	}
}

// TestOutputsShareConsole: the lines of several Outputs reach one Console,
// each with its own prefix, each stream in order.
func TestOutputsShareConsole(t *testing.T) {
	console := &syncBuffer{}
	c := NewConsole(console)
	var outs []*Output
	for _, name := range []string{"a", "b", "c"} {
		o, err := NewOutput(name, nil, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, o)
	}
	const n = 200
	var wg sync.WaitGroup
	for _, o := range outs {
		wg.Go(func() {
			run(t, o, fmt.Sprintf(`i=1; while [ $i -le %d ]; do echo "line $i"; i=$((i+1)); done`, n))
			if err := o.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
			<-o.consoleDone
		})
	}
	wg.Wait()
	next := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(console.String(), "\n"), "\n") {
		var name string
		var k int
		if _, err := fmt.Sscanf(l, "%s | line %d", &name, &k); err != nil {
			t.Fatalf("console line %q: %v", l, err)
		}
		if k != next[name]+1 {
			t.Fatalf("console line %q: want line %d of %s", l, next[name]+1, name)
		}
		next[name] = k
	}
	if diff := cmp.Diff(map[string]int{"a": n, "b": n, "c": n}, next); diff != "" {
		t.Errorf("last line per output (-want +got):\n%s", diff)
	}
}
