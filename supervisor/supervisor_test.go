package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/logfmt"
	"github.com/vservers/vserver/reaper"
	"github.com/vservers/vserver/units"
)

var (
	discard = logfmt.Discard()
	rp      *reaper.Reaper
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "notify":
		notifyHelper()
		os.Exit(0)
	case "ctl":
		os.Exit(ctlHelper())
	}
	var err error
	if rp, err = reaper.New(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go rp.Run(ctx)
	code := m.Run()
	cancel()
	os.Exit(code)
}

// testUnit is a unit with the defaults the parser fills in.
func testUnit(name string, argv ...string) *units.Unit {
	return &units.Unit{
		Name:        name,
		Kind:        units.Simple,
		Exec:        argv,
		Stdin:       "null",
		Restart:     units.RestartNever,
		Backoff:     units.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Factor: 2, Reset: 10 * time.Second},
		StopSignal:  unix.SIGTERM,
		StopTimeout: 10 * time.Second,
		Ready:       units.Ready{Interval: units.DefaultReadyInterval, Timeout: units.DefaultReadyTimeout},
		OnFailure:   units.ActionIgnore,
	}
}

// syncBuffer is a console the test can read while services write to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func start(t *testing.T, console *syncBuffer, us ...*units.Unit) *Supervisor {
	t.Helper()
	cfg := Config{}
	if console != nil {
		cfg.Console = console
	}
	s := newTestSupervisor(t, cfg)
	set, err := units.NewSet(us...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(set); err != nil {
		t.Fatal(err)
	}
	return s
}

// newTestSupervisor returns a supervisor over the test's reaper that is
// stopped when the test ends.
func newTestSupervisor(t *testing.T, cfg Config) *Supervisor {
	t.Helper()
	cfg.Reaper = rp
	cfg.Log = logfmt.New(os.Stderr, logfmt.LevelInfo)
	s := New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// waitState waits for name to reach a state that cond accepts.
func waitState(t *testing.T, s *Supervisor, name string, cond func(Status) bool) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s.mu.Lock()
	svc := s.services[name]
	s.mu.Unlock()
	st, err := svc.watch(ctx, cond)
	if err != nil {
		t.Fatalf("%s: still %s (%+v): %v", name, st.State, st, err)
	}
	return st
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never appeared", path)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func is(state State) func(Status) bool { return func(st Status) bool { return st.State == state } }

func TestCrashingServiceRestartsUntilStartLimit(t *testing.T) {
	runs := t.TempDir() + "/runs"
	u := testUnit("crash", "sh", "-c", "echo run >> "+runs+"; exit 3")
	u.Restart = units.RestartOnFailure
	u.StartLimit = units.StartLimit{Burst: 3, Interval: time.Hour}
	s := start(t, nil, u)
	st := waitState(t, s, "crash", is(StateFailed))
	b, _ := os.ReadFile(runs)
	if got := strings.Count(string(b), "run\n"); got != 3 {
		t.Errorf("ran %d times, want 3", got)
	}
	if st.Restarts != 3 || st.LastExit != "exit status 3" || !strings.Contains(st.Error, "start limit") {
		t.Errorf("got restarts %d, last exit %q, error %q; want 3, exit status 3, start limit", st.Restarts, st.LastExit, st.Error)
	}
}

// TestOutput: stdout and stderr reach the console prefixed with the name,
// and the log file with a timestamp, across restarts.
func TestOutput(t *testing.T) {
	var console syncBuffer
	logDir := t.TempDir()
	u := testUnit("hello", "sh", "-c", "echo out; echo err >&2; exit 1")
	u.Restart = units.RestartOnFailure
	u.StartLimit = units.StartLimit{Burst: 2, Interval: time.Hour}
	s := newTestSupervisor(t, Config{Console: &console, LogDir: logDir})
	if err := s.Start(mustSet(t, u)); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "hello", is(StateFailed))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for strings.Count(console.String(), "hello | out\n") < 2 || strings.Count(console.String(), "hello | err\n") < 2 {
		select {
		case <-ctx.Done():
			t.Fatalf("console %q, want both lines of both runs prefixed \"hello | \"", console.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	b, err := os.ReadFile(logDir + "/hello.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("log file has %d lines, want 4:\n%s", len(lines), b)
	}
	for _, l := range lines {
		stamp, text, _ := strings.Cut(l, " ")
		if _, err := time.Parse(time.RFC3339, stamp); err != nil || (text != "out" && text != "err") {
			t.Errorf("log line %q: want a timestamp, then out or err", l)
		}
	}
}

func TestEnvAndPath(t *testing.T) {
	out := t.TempDir() + "/env"
	envFile := t.TempDir() + "/env.conf"
	os.WriteFile(envFile, []byte("# comment\nA=from-file\nB=from-file\n"), 0o644)
	u := testUnit("env", "sh", "-c", "echo $PATH $A $B > "+out)
	u.EnvFiles = []string{envFile}
	u.Env = []string{"B=from-unit"}
	s := start(t, nil, u)
	waitState(t, s, "env", is(StateExited))
	b, _ := os.ReadFile(out)
	want := strings.TrimPrefix(DefaultEnv[0], "PATH=") + " from-file from-unit\n"
	if string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
}

func TestMissingCommandFails(t *testing.T) {
	s := start(t, nil, testUnit("nosuch", "no-such-command-here"))
	st := waitState(t, s, "nosuch", is(StateFailed))
	if !strings.Contains(st.Error, "no-such-command-here") {
		t.Errorf("error %q, want it to name the command", st.Error)
	}
}

// TestStopKillsWhatIgnoresTerm: a service that ignores SIGTERM, in its main
// process and in a child, is killed after its stop timeout, the child too.
func TestStopKillsWhatIgnoresTerm(t *testing.T) {
	ready := t.TempDir() + "/ready"
	u := testUnit("stubborn", "sh", "-c", "trap '' TERM; sleep 1000 & touch "+ready+"; while :; do sleep 0.05; done")
	u.StopTimeout = 300 * time.Millisecond
	s := start(t, nil, u)
	st := waitState(t, s, "stubborn", is(StateRunning))
	waitFile(t, ready)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	st2 := waitState(t, s, "stubborn", is(StateInactive))
	if st2.LastExit != "signal: SIGKILL" {
		t.Errorf("last exit %q, want signal: SIGKILL", st2.LastExit)
	}
	if err := unix.Kill(-st.Pid, 0); err != unix.ESRCH {
		t.Errorf("process group %d after stop: kill 0 = %v, want ESRCH", st.Pid, err)
	}
}

// TestLeftoversStoppedWhenMainExits: what a service leaves in its process
// group when its main process exits is stopped before it counts as ended.
func TestLeftoversStoppedWhenMainExits(t *testing.T) {
	pidFile := t.TempDir() + "/pid"
	u := testUnit("leaver", "sh", "-c", "sleep 1000 & echo $! > "+pidFile+"; exit 0")
	s := start(t, nil, u)
	st := waitState(t, s, "leaver", is(StateExited))
	if st.LastExit != "exit status 0" {
		t.Errorf("last exit %q, want exit status 0", st.LastExit)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := unix.Kill(pid, 0); err != unix.ESRCH {
		t.Errorf("leftover sleep %d after the service ended: kill 0 = %v, want ESRCH", pid, err)
	}
}

// TestStartOrder: B requires A and C requires B; each starts only once the
// one before is ready, which a oneshot is when it exited successfully.
func TestStartOrder(t *testing.T) {
	log := t.TempDir() + "/log"
	a := testUnit("a", "sh", "-c", "sleep 0.2; echo a >> "+log)
	b := testUnit("b", "sh", "-c", "sleep 0.1; echo b >> "+log)
	b.Requires = []string{"a"}
	c := testUnit("c", "sh", "-c", "echo c >> "+log)
	c.Requires = []string{"b"}
	for _, u := range []*units.Unit{a, b, c} {
		u.Kind = units.Oneshot
	}
	s := start(t, nil, c, b, a)
	waitState(t, s, "c", is(StateExited))
	got, _ := os.ReadFile(log)
	if string(got) != "a\nb\nc\n" {
		t.Errorf("start order %q, want a b c", got)
	}
}

// TestRequiredFailureBlocks: what requires a failed unit is never started.
func TestRequiredFailureBlocks(t *testing.T) {
	a := testUnit("a", "false")
	a.Kind = units.Oneshot
	b := testUnit("b", "sleep", "1000")
	b.Requires = []string{"a"}
	s := start(t, nil, a, b)
	st := waitState(t, s, "b", is(StateFailed))
	if st.Pid != 0 || !strings.Contains(st.Error, "a") {
		t.Errorf("got pid %d, error %q; want never started, naming a", st.Pid, st.Error)
	}
}

func writeFile(path string) error { return os.WriteFile(path, nil, 0o644) }

// TestStopOrder: C requires B requires A; Stop stops C, then B, then A,
// each only once the one before has no process left.
func TestStopOrder(t *testing.T) {
	log := t.TempDir() + "/log"
	mk := func(name string, requires ...string) *units.Unit {
		u := testUnit(name, "sh", "-c", "trap 'echo "+name+" >> "+log+"; exit 0' TERM; touch "+log+"."+name+"; while :; do sleep 0.01; done")
		u.Requires = requires
		return u
	}
	s := newTestSupervisor(t, Config{})
	if err := s.Start(mustSet(t, mk("a"), mk("b", "a"), mk("c", "b"))); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		waitFile(t, log+"."+n) // the trap is set
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(log); string(b) != "c\nb\na\n" {
		t.Errorf("stop order %q, want c b a", b)
	}
}

// TestUmask: a unit's umask is its processes' own; vinit's stays as it was,
// and so do those of the units without one.
func TestUmask(t *testing.T) {
	dir := t.TempDir()
	strict, loose := uint32(0o077), uint32(0o002)
	a := testUnit("a", "sh", "-c", "touch "+dir+"/a")
	a.Kind = units.Oneshot
	a.Umask = &strict
	b := testUnit("b", "sh", "-c", "touch "+dir+"/b")
	b.Kind = units.Oneshot
	b.Umask = &loose
	c := testUnit("c", "sh", "-c", "umask > "+dir+"/c")
	c.Kind = units.Oneshot
	d := testUnit("d", "sh", "-c", "touch "+dir+"/d") // through the pre-exec stage
	d.Kind = units.Oneshot
	d.Umask = &strict
	d.Rlimits = map[string]units.Rlimit{"core": {Soft: 0, Hard: 0}}
	mine := unix.Umask(0o022)
	defer unix.Umask(mine)
	s := start(t, nil, a, b, c, d)
	for _, n := range []string{"a", "b", "c", "d"} {
		if st := waitState(t, s, n, func(st Status) bool { return st.State == StateExited || st.State == StateFailed }); st.State != StateExited {
			t.Fatalf("%s: %s (%s), want exited", n, st.State, st.Error)
		}
	}
	for name, want := range map[string]os.FileMode{"a": 0o600, "b": 0o664, "d": 0o600} {
		fi, err := os.Stat(dir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
	if b, _ := os.ReadFile(dir + "/c"); strings.TrimSpace(string(b)) != "0022" {
		t.Errorf("umask of a unit without one: %q, want 0022", b)
	}
	if got := unix.Umask(0o022); got != 0o022 {
		t.Errorf("vinit's umask became %#o, want 022", got)
	}
}

// TestSettled: Settled returns once every service has left waiting and
// starting, however each ended up.
func TestSettled(t *testing.T) {
	ready := t.TempDir() + "/ready"
	a := testUnit("a", "sh", "-c", "sleep 0.2; touch "+ready+"; exec sleep 1000")
	a.Ready = units.Ready{Exec: []string{"test", "-e", ready}, Interval: 10 * time.Millisecond, Timeout: time.Minute}
	b := testUnit("b", "true")
	b.Kind = units.Oneshot
	b.Requires = []string{"a"}
	c := testUnit("c", "no-such-command-here")
	s := start(t, nil, a, b, c)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Settled(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]State{"a": StateRunning, "b": StateExited, "c": StateFailed}
	for _, st := range s.Status() {
		if st.State != want[st.Name] {
			t.Errorf("%s: %s once settled, want %s", st.Name, st.State, want[st.Name])
		}
	}
}

// TestIdleServicesCostNoGoroutine: once its services run and nothing
// happens, the supervisor has no goroutine per service: not for its state
// machine, not for reading its output. What a service costs at rest is
// its records, not a parked goroutine and its stack.
func TestIdleServicesCostNoGoroutine(t *testing.T) {
	const n = 100
	before := runtime.NumGoroutine()
	var us []*units.Unit
	for i := range n {
		us = append(us, testUnit(fmt.Sprintf("idle%d", i), "sleep", "1000"))
	}
	set, err := units.NewSet(us...)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSupervisor(t, Config{LogDir: t.TempDir()})
	if err := s.Start(set); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := s.Settled(ctx); err != nil {
		t.Fatal(err)
	}
	for _, st := range s.Status() {
		if st.State != StateRunning {
			t.Fatalf("%s is %s, want running", st.Name, st.State)
		}
	}
	// Goroutines that just finished an event may still be on their way
	// out; the count must come down to a few for the whole supervisor
	// (the output poller, the notify socket's reader), not n.
	deadline := time.Now().Add(10 * time.Second)
	for {
		extra := runtime.NumGoroutine() - before
		if extra <= 5 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines more than before %d idle services, want at most 5:\n%s", extra, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
