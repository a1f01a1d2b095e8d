package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// numberedScript writes n lines "NAME i PAD", PAD of 0 to 980 bytes by i
// (some lines in two writes), odd ones to stderr.
func numberedScript(name string, n int) string {
	return fmt.Sprintf(`pad=; i=1; while [ $i -le %d ]; do
	if [ $((i %% 7)) = 0 ]; then pad=; else pad=${pad}%s; fi
	if [ $((i %% 2)) = 1 ]; then printf '%s %%d ' $i >&2; printf '%%s\n' "$pad" >&2; else printf '%s %%d %%s\n' $i "$pad"; fi
	i=$((i+1)); done`, n, strings.Repeat("p", 140), name, name)
}

// checkNumbered checks that lines are the n lines of numberedScript(name,
// n), in order.
func checkNumbered(t *testing.T, name string, lines []string, n int) {
	t.Helper()
	if len(lines) != n {
		t.Errorf("%s: got %d lines, want %d", name, len(lines), n)
	}
	pad := ""
	for i, l := range lines {
		if (i+1)%7 == 0 {
			pad = ""
		} else {
			pad += strings.Repeat("p", 140)
		}
		if want := fmt.Sprintf("%s %d %s", name, i+1, pad); l != want {
			t.Fatalf("%s: line %d: got %.60q…, want %.60q…", name, i+1, l, want)
		}
	}
}

// closeCtx closes o within d, failing the test if that takes longer.
func closeCtx(t *testing.T, o *Output, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestOutputsManyChildren has 200 Outputs written at the same time by a
// child each, each child filling its pipe more than once: every line
// reaches its own log file, in order.
func TestOutputsManyChildren(t *testing.T) {
	const outputs, n = 200, 300
	dir := t.TempDir()
	// The children wait for the test to close this pipe, to start writing
	// all at once.
	start, ready, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer start.Close()
	type svc struct {
		name string
		w    *Writer
		o    *Output
		cmd  *exec.Cmd
	}
	svcs := make([]svc, outputs)
	for i := range svcs {
		s := &svcs[i]
		s.name = fmt.Sprintf("s%03d", i)
		s.w = open(t, dir, s.name, Options{})
		s.o = newOutput(t, s.name, s.w, nil)
		s.cmd = exec.Command("/bin/sh", "-c", "read x; "+numberedScript(s.name, n))
		s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = start, s.o.File(), s.o.File()
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	ready.Close()
	for _, s := range svcs {
		if err := s.cmd.Wait(); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
	}
	for _, s := range svcs {
		closeCtx(t, s.o, 30*time.Second)
		s.w.Close()
		checkNumbered(t, s.name, readLog(t, s.w.Path()), n)
	}
}

// lineWaiter is a console that closes got when it sees want.
type lineWaiter struct {
	want string
	got  chan struct{}
	once sync.Once
}

func (l *lineWaiter) Write(p []byte) (int, error) {
	if string(p) == l.want {
		l.once.Do(func() { close(l.got) })
	}
	return len(p), nil
}

// TestOutputBusyDoesNotStarveQuiet: while two services write as fast as
// they can, faster than their lines are read (three writers each, of
// lines of one letter), a line of a quiet one still arrives at once.
func TestOutputBusyDoesNotStarveQuiet(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"busy1", "busy2"} {
		w := open(t, dir, name, Options{MaxSize: 4 << 20, Keep: 1})
		o := newOutput(t, name, w, nil)
		cmd := exec.Command("/bin/sh", "-c", "yes & yes & exec yes")
		cmd.Stdout = o.File()
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			closeCtx(t, o, 10*time.Second)
		})
	}
	// Both are read once their log files grow.
	for _, name := range []string{"busy1", "busy2"} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			fi, err := os.Stat(path(dir, name, 0))
			if err == nil && fi.Size() > 1<<20 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: log file not growing: starved by the other?", name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	lw := &lineWaiter{want: "quiet | hello\n", got: make(chan struct{})}
	quiet := newOutput(t, "quiet", nil, lw)
	// Let the busy ones fill their pipes again around the quiet one.
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	if _, err := quiet.File().Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lw.got:
		t.Logf("the quiet line arrived after %v", time.Since(t0))
	case <-time.After(5 * time.Second):
		t.Fatal("the quiet service's line did not arrive within 5s while two others streamed")
	}
}

// TestOutputCloseWhileOthersStream opens, fills and closes Outputs one
// after the other while others stream: each closed one has all its lines,
// and so have the others at their end.
func TestOutputCloseWhileOthersStream(t *testing.T) {
	const streams, n = 4, 20000
	dir := t.TempDir()
	type svc struct {
		name string
		w    *Writer
		o    *Output
		cmd  *exec.Cmd
	}
	var svcs []svc
	for i := range streams {
		s := svc{name: fmt.Sprintf("stream%d", i)}
		s.w = open(t, dir, s.name, Options{MaxSize: 1 << 30})
		s.o = newOutput(t, s.name, s.w, nil)
		s.cmd = exec.Command("/bin/sh", "-c", numberedScript(s.name, n))
		s.cmd.Stdout, s.cmd.Stderr = s.o.File(), s.o.File()
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, s)
	}
	streaming := make(chan struct{})
	go func() {
		defer close(streaming)
		for _, s := range svcs {
			if err := s.cmd.Wait(); err != nil {
				t.Errorf("%s: %v", s.name, err)
			}
		}
	}()
	// Short-lived Outputs, at least 10, and more while the streams go: a
	// closed one's descriptor is the next one's, while the poller may
	// still hold an event of the last.
	short := 0
more:
	for ; short < 200; short++ {
		if short >= 10 {
			select {
			case <-streaming:
				break more
			default:
			}
		}
		name := fmt.Sprintf("short%d", short)
		w := open(t, dir, name, Options{})
		o := newOutput(t, name, w, nil)
		run(t, o, numberedScript(name, 50))
		closeCtx(t, o, 10*time.Second)
		w.Close()
		checkNumbered(t, name, readLog(t, w.Path()), 50)
	}
	<-streaming
	t.Logf("%d Outputs opened and closed while %d others streamed", short, streams)
	for _, s := range svcs {
		closeCtx(t, s.o, 30*time.Second)
		s.w.Close()
		checkNumbered(t, s.name, readLog(t, s.w.Path()), n)
	}
}

// TestOutputGrandchildHoldsPipe: a service that leaves a process behind,
// holding its stdout. Close waits for it; when it outlives ctx, Close gives
// up at ctx's end with what it has read, the last partial line included.
func TestOutputGrandchildHoldsPipe(t *testing.T) {
	t.Run("exits", func(t *testing.T) {
		w := open(t, t.TempDir(), "svc", Options{})
		o := newOutput(t, "svc", w, nil)
		run(t, o, `echo before; (sleep 0.3; echo late) & exit 0`)
		t0 := time.Now()
		closeCtx(t, o, 10*time.Second)
		if d := time.Since(t0); d < 200*time.Millisecond {
			t.Errorf("Close returned after %v, before the grandchild's last line", d)
		}
		w.Close()
		if got := readLog(t, w.Path()); strings.Join(got, ",") != "before,late" {
			t.Errorf("log file: got %q, want before, late", got)
		}
	})
	t.Run("outlives ctx", func(t *testing.T) {
		w := open(t, t.TempDir(), "svc", Options{})
		o := newOutput(t, "svc", w, nil)
		cmd := exec.Command("/bin/sh", "-c", `echo before; sleep 1000 & printf partial`)
		cmd.Stdout, cmd.Stderr = o.File(), o.File()
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		err := o.Close(ctx)
		d := time.Since(t0)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: got %v, want context.DeadlineExceeded", err)
		}
		if d < 250*time.Millisecond || d > 5*time.Second {
			t.Errorf("Close returned after %v, want at ctx's end, 300ms", d)
		}
		w.Close()
		if got := readLog(t, w.Path()); strings.Join(got, ",") != "before,partial" {
			t.Errorf("log file: got %q, want before, partial", got)
		}
		// A second Close has nothing left to wait for.
		if err := o.Close(context.Background()); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

// TestOutputFailingLogFile: with its log file failing, an Output goes on
// reading, so that its service never blocks on a full pipe.
func TestOutputFailingLogFile(t *testing.T) {
	w := open(t, t.TempDir(), "svc", Options{})
	w.Close() // every write fails from now on
	o := newOutput(t, "svc", w, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `yes | head -c 4000000`)
	cmd.Stdout = o.File()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("a service writing 4 MB with its log file failing: %v %s", err, stderr.Bytes())
	}
	closeCtx(t, o, 10*time.Second)
}
