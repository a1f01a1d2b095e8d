package supervisor

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/units"
)

func mustSet(t *testing.T, us ...*units.Unit) *units.Set {
	t.Helper()
	set, err := units.NewSet(us...)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func running(t *testing.T, s *Supervisor, names ...string) map[string]int {
	t.Helper()
	pids := make(map[string]int)
	for _, n := range names {
		pids[n] = waitState(t, s, n, is(StateRunning)).Pid
	}
	return pids
}

// TestReload: only what was added, removed, changed, or requires a changed
// unit is started, stopped or restarted; the rest keeps its process.
func TestReload(t *testing.T) {
	sleeper := func(name string, arg string) *units.Unit { return testUnit(name, "sleep", arg) }
	a, b, c, d := sleeper("a", "1000"), sleeper("b", "1000"), sleeper("c", "1000"), sleeper("d", "1000")
	b.Requires = []string{"a"}
	s := start(t, nil, a, b, c, d)
	before := running(t, s, "a", "b", "c", "d")

	a2, b2, c2, e := sleeper("a", "2000"), sleeper("b", "1000"), sleeper("c", "1000"), sleeper("e", "1000")
	b2.Requires = []string{"a"}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Reload(ctx, mustSet(t, a2, b2, c2, e)); err != nil {
		t.Fatal(err)
	}
	after := running(t, s, "a", "b", "c", "e")
	for _, tt := range []struct {
		name string
		same bool
	}{{"a", false}, {"b", false}, {"c", true}} {
		if got := after[tt.name] == before[tt.name]; got != tt.same {
			t.Errorf("%s: pid %d before, %d after; want same pid = %v", tt.name, before[tt.name], after[tt.name], tt.same)
		}
	}
	if err := unix.Kill(before["d"], 0); err != unix.ESRCH {
		t.Errorf("removed d (pid %d): kill 0 = %v, want ESRCH", before["d"], err)
	}
	var names []string
	for _, st := range s.Status() {
		names = append(names, st.Name)
	}
	if len(names) != 4 {
		t.Errorf("services after reload: %v, want a b c e", names)
	}
}

// TestRestartDependents: a service that fails for good, with on_failure
// restart-dependents, is started again together with what requires it, so
// that b, which failed because a was not ready, runs once a comes up.
func TestRestartDependents(t *testing.T) {
	gate := t.TempDir() + "/ok"
	a := testUnit("a", "sleep", "1000")
	a.Ready = units.Ready{Exec: []string{"test", "-e", gate}, Interval: 10 * time.Millisecond, Timeout: 100 * time.Millisecond}
	a.OnFailure = units.ActionRestartDependents
	b := testUnit("b", "sleep", "1000")
	b.Requires = []string{"a"}
	s := start(t, nil, a, b)
	waitState(t, s, "b", is(StateFailed))
	if err := writeFile(gate); err != nil {
		t.Fatal(err)
	}
	running(t, s, "a", "b")
}

// TestStopAndRestartService: stopping a service stops what requires it
// first; starting one starts what it requires; restarting one restarts
// what requires it too.
func TestStopAndRestartService(t *testing.T) {
	a, b, c := testUnit("a", "sleep", "1000"), testUnit("b", "sleep", "1000"), testUnit("c", "sleep", "1000")
	b.Requires = []string{"a"}
	s := start(t, nil, a, b, c)
	before := running(t, s, "a", "b", "c")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.StopService(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if st := statusOf(s, n); st.State != StateInactive {
			t.Errorf("%s is %s after stopping a, want inactive", n, st.State)
		}
	}
	// Starting b starts a, which it requires, first.
	if err := s.StartService("b"); err != nil {
		t.Fatal(err)
	}
	started := running(t, s, "a", "b")
	if err := s.RestartService(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	after := running(t, s, "a", "b", "c")
	if after["a"] == started["a"] || after["b"] == started["b"] {
		t.Errorf("pids after start %v, after restart %v: want a and b restarted", started, after)
	}
	if after["c"] != before["c"] || after["a"] == before["a"] || after["b"] == before["b"] {
		t.Errorf("pids before %v, after %v: want a and b new, c the same", before, after)
	}
	if err := s.StartService("nosuch"); err == nil {
		t.Error("starting an unknown service: got no error")
	}
}
