package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/sdnotify"
	"github.com/vservers/vserver/reaper"
	"github.com/vservers/vserver/units"
)

func TestBackoffDelays(t *testing.T) {
	tests := []struct {
		name string
		cfg  units.Backoff
		rand float64
		want []time.Duration
	}{
		{"doubling up to max", units.Backoff{Initial: time.Second, Max: 5 * time.Second, Factor: 2},
			0, []time.Duration{1e9, 2e9, 4e9, 5e9, 5e9}},
		{"factor one is constant", units.Backoff{Initial: time.Second, Max: time.Minute, Factor: 1},
			0, []time.Duration{1e9, 1e9, 1e9}},
		{"jitter adds a fraction of the base", units.Backoff{Initial: time.Second, Max: 4 * time.Second, Factor: 2, Jitter: 0.5},
			1, []time.Duration{1500 * time.Millisecond, 3e9, 6e9, 6e9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backoff{cfg: tt.cfg, rand: func() float64 { return tt.rand }}
			for i, want := range tt.want {
				if got := b.delay(); got != want {
					t.Fatalf("delay %d: got %v, want %v", i, got, want)
				}
			}
			b.reset()
			if got, want := b.delay(), tt.want[0]; got != want {
				t.Fatalf("after reset: got %v, want %v", got, want)
			}
		})
	}
}

func TestStartLimit(t *testing.T) {
	l := startLimit{cfg: units.StartLimit{Burst: 2, Interval: 10 * time.Second}}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, true}, {time.Second, true}, {2 * time.Second, false}, // a third within 10s
		{11 * time.Second, true}, {12 * time.Second, true}, {13 * time.Second, false},
		{22 * time.Second, true}, // both earlier ones are 10s old or more
	}
	for _, s := range steps {
		if got := l.allow(t0.Add(s.at)); got != s.want {
			t.Fatalf("start at +%v: allowed %v, want %v", s.at, got, s.want)
		}
	}
}

// fakeProc is a process that exits when the test says so.
type fakeProc struct {
	pid   int
	latch *exitLatch
	sigs  chan unix.Signal
}

func (p *fakeProc) Pid() int                        { return p.pid }
func (p *fakeProc) OnExit(exited func(reaper.Exit)) { p.latch.notify(exited) }
func (p *fakeProc) Alive() bool                     { return false }
func (p *fakeProc) Release()                        {}
func (p *fakeProc) Signal(sig unix.Signal) error {
	p.sigs <- sig
	return nil
}
func (p *fakeProc) SignalMain(sig unix.Signal) error { return p.Signal(sig) }

// exit ends the process with code.
func (p *fakeProc) exit(code int) {
	p.latch.deliver(reaper.Exit{Pid: p.pid, Status: unix.WaitStatus(code << 8)})
}

// fakeSpawner hands every spawned process to the test.
type fakeSpawner struct {
	procs chan *fakeProc
	n     int
}

func (f *fakeSpawner) spawn(u *units.Unit, env []string, out outputFile) (proc, error) {
	f.n++
	p := &fakeProc{pid: 100 + f.n, latch: newExitLatch(), sigs: make(chan unix.Signal, 4)}
	f.procs <- p
	return p, nil
}

func (f *fakeSpawner) probe(ctx context.Context, u *units.Unit, env []string) error {
	return errors.New("no probes here")
}

func (f *fakeSpawner) adopt(parent proc, pid int) (proc, error) {
	return nil, errors.New("no daemons here")
}

// TestRestartTiming runs the state machine on fake time: the delays between
// starts follow the backoff, a run longer than Reset starts it over, and the
// start limit fails the service for good.
func TestRestartTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := testUnit("crash", "false")
		u.Restart = units.RestartAlways
		u.Backoff = units.Backoff{Initial: time.Second, Max: 4 * time.Second, Factor: 2, Reset: time.Minute}
		u.StartLimit = units.StartLimit{Burst: 7, Interval: time.Hour}
		sp := &fakeSpawner{procs: make(chan *fakeProc, 1)}
		svc := newService(u, sp, nil, discard, &runner{max: maxRunners})
		svc.env = func(*units.Unit) ([]string, error) { return nil, nil }
		go svc.do(t.Context(), command{op: opStart})

		// run: how long each process lives; want: the delay before its start.
		steps := []struct{ run, want time.Duration }{
			{0, 0}, {0, time.Second}, {0, 2 * time.Second}, {0, 4 * time.Second},
			{2 * time.Minute, 4 * time.Second}, // it stayed up past Reset:
			{0, time.Second},                   // so the next delay is Initial again
			{0, 2 * time.Second},
		}
		last := time.Now()
		for i, s := range steps {
			p := <-sp.procs
			if got := time.Since(last); got != s.want {
				t.Fatalf("start %d: after %v, want %v", i, got, s.want)
			}
			time.Sleep(s.run)
			last = time.Now()
			p.exit(1)
		}
		// The eighth start is over the limit of 7 an hour.
		st, _ := svc.watch(t.Context(), func(st Status) bool { return st.State == StateFailed })
		if st.Restarts != 7 || st.Error == "" {
			t.Fatalf("got restarts %d, error %q; want 7 and the start limit", st.Restarts, st.Error)
		}
		if err := svc.do(t.Context(), command{op: opQuit}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestStopEscalates checks that a service ignoring its stop signal gets
// SIGKILL once its stop timeout has passed, and not before.
func TestStopEscalates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := testUnit("stubborn", "sleep")
		u.StopTimeout = 5 * time.Second
		sp := &fakeSpawner{procs: make(chan *fakeProc, 1)}
		svc := newService(u, sp, nil, discard, &runner{max: maxRunners})
		svc.env = func(*units.Unit) ([]string, error) { return nil, nil }
		svc.do(t.Context(), command{op: opStart})
		p := <-sp.procs
		start := time.Now()
		stopped := make(chan error, 1)
		go func() { stopped <- svc.do(t.Context(), command{op: opStop}) }()
		if sig := <-p.sigs; sig != unix.SIGTERM {
			t.Fatalf("first signal %v, want SIGTERM", sig)
		}
		if sig := <-p.sigs; sig != unix.SIGKILL || time.Since(start) != 5*time.Second {
			t.Fatalf("got %v after %v, want SIGKILL after 5s", sig, time.Since(start))
		}
		p.latch.deliver(reaper.Exit{Pid: p.pid, Status: unix.WaitStatus(unix.SIGKILL)})
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		if st := svc.status(); st.State != StateInactive || st.LastExit != "signal: SIGKILL" {
			t.Fatalf("got %s, last exit %q; want inactive after SIGKILL", st.State, st.LastExit)
		}
		svc.do(t.Context(), command{op: opQuit})
	})
}

// TestStartWhileStopping: a start that comes while a stop is under way
// lets the stop finish (its caller gets its answer), then starts again.
func TestStartWhileStopping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := testUnit("svc", "sleep")
		sp := &fakeSpawner{procs: make(chan *fakeProc, 1)}
		svc := newService(u, sp, nil, discard, &runner{max: maxRunners})
		svc.env = func(*units.Unit) ([]string, error) { return nil, nil }
		svc.do(t.Context(), command{op: opStart})
		p := <-sp.procs
		stopped := make(chan error, 1)
		go func() { stopped <- svc.do(t.Context(), command{op: opStop}) }()
		<-p.sigs // SIGTERM: the stop is under way
		if err := svc.do(t.Context(), command{op: opStart}); err != nil {
			t.Fatal(err)
		}
		p.exit(0)
		if err := <-stopped; err != nil {
			t.Fatalf("stop: %v", err)
		}
		p2 := <-sp.procs
		if st := svc.status(); st.State != StateRunning || st.Pid != p2.pid {
			t.Fatalf("after the stop: %s pid %d, want running pid %d", st.State, st.Pid, p2.pid)
		}
		go func() {
			<-p2.sigs
			p2.exit(0)
		}()
		if err := svc.do(t.Context(), command{op: opQuit}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestWatchdogRenewal runs the watchdog on fake time: every WATCHDOG=1
// starts its period again, so pings closer than the period keep the
// service up however long it runs, and the first missed period fails it.
func TestWatchdogRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := testUnit("pinger", "sleep")
		u.Watchdog = 2 * time.Second
		sp := &fakeSpawner{procs: make(chan *fakeProc, 1)}
		svc := newService(u, sp, nil, discard, &runner{max: maxRunners})
		svc.env = func(*units.Unit) ([]string, error) { return nil, nil }
		svc.do(t.Context(), command{op: opStart})
		p := <-sp.procs
		ping := &sdnotify.Message{Fields: []sdnotify.Field{{Key: "WATCHDOG", Value: "1"}}}
		start := time.Now()
		for range 5 {
			time.Sleep(1500 * time.Millisecond)
			svc.do(t.Context(), command{op: opNotify, msg: ping})
		}
		// The last ping came at 7.5 s: up until 9.5 s, then failing.
		time.Sleep(1999 * time.Millisecond)
		synctest.Wait()
		if st := svc.status(); st.State != StateRunning {
			t.Fatalf("at %v: %s (%s), want running", time.Since(start), st.State, st.Error)
		}
		if sig := <-p.sigs; sig != unix.SIGTERM || time.Since(start) != 9500*time.Millisecond {
			t.Fatalf("got %v at %v, want SIGTERM at 9.5s", sig, time.Since(start))
		}
		if st := svc.status(); !strings.Contains(st.Error, "watchdog") {
			t.Fatalf("error %q, want the watchdog's", st.Error)
		}
		p.exit(0)
		svc.do(t.Context(), command{op: opQuit})
	})
}

// blockingSpawner counts the starts under way at once, each held until
// the test lets it go.
type blockingSpawner struct {
	fakeSpawner
	mu         sync.Mutex
	now, most  int
	release    chan struct{}
	registered chan struct{}
}

func (b *blockingSpawner) spawn(u *units.Unit, env []string, out outputFile) (proc, error) {
	b.mu.Lock()
	b.now++
	b.most = max(b.most, b.now)
	b.mu.Unlock()
	b.registered <- struct{}{}
	<-b.release
	b.mu.Lock()
	b.now--
	b.n++
	n := b.n
	b.mu.Unlock()
	return &fakeProc{pid: 100 + n, latch: newExitLatch(), sigs: make(chan unix.Signal, 4)}, nil
}

// TestRunnerBoundsGoroutines: fifty services started at once have their
// events handled by at most the runner's goroutines, and every one of
// them gets started.
func TestRunnerBoundsGoroutines(t *testing.T) {
	const n, most = 50, 4
	sp := &blockingSpawner{release: make(chan struct{}), registered: make(chan struct{}, n)}
	r := &runner{max: most}
	var svcs []*service
	for i := range n {
		svc := newService(testUnit(fmt.Sprintf("s%d", i), "sleep"), sp, nil, discard, r)
		svc.env = func(*units.Unit) ([]string, error) { return nil, nil }
		svcs = append(svcs, svc)
		if !svc.post(event{kind: evCommand, c: command{op: opStart}}) {
			t.Fatal("post refused")
		}
	}
	// As many starts as the runner has goroutines get under way, and no
	// more while they are held.
	for i := range most {
		select {
		case <-sp.registered:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d starts at once, want %d", i, most)
		}
	}
	select {
	case <-sp.registered:
		t.Fatalf("more than %d starts at once", most)
	case <-time.After(200 * time.Millisecond):
	}
	close(sp.release)
	for range n - most {
		<-sp.registered
	}
	for _, svc := range svcs {
		if _, err := svc.watch(t.Context(), func(st Status) bool { return st.State == StateRunning }); err != nil {
			t.Fatal(err)
		}
	}
	if sp.most != most {
		t.Errorf("%d starts at once, want %d", sp.most, most)
	}
}
