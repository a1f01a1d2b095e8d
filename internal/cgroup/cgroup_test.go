package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it creates real cgroups (CI runs as root)")
	}
}

// startInGroup starts sh -c script, moves it into g before it runs the
// script, and returns it.
func startInGroup(t *testing.T, g *Group, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "read _; "+script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Kill(); cmd.Wait() })
	if err := g.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte("go\n"))
	return cmd
}

func TestCreateAddLimitUsageKillRemove(t *testing.T) {
	requireRoot(t)
	path := fmt.Sprintf("vhost-cgtest-%d/usage", os.Getpid()) // a parent no other test shares
	g, err := Create(path, Limits{Pids: 20, MemoryBytes: 64 << 20, CPUWeight: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Kill(); g.RemoveWhenEmpty(5 * time.Second) })
	if _, err := Create(path, Limits{}); err == nil {
		t.Fatal("creating an existing group succeeded")
	}

	// The shell fills a 4 MB variable inside the group and keeps it.
	cmd := startInGroup(t, g, `x=$(head -c 4000000 /dev/zero | tr '\0' a); sleep 60`)
	// Its final state: the 4 MB held and the sleep started (2 tasks could
	// also be the shell and a member of the pipeline, for a moment).
	waitFor(t, func() bool {
		u, _ := g.Usage()
		pids, _ := g.Pids()
		sleeping := false
		for _, p := range pids {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
			sleeping = sleeping || string(b) == "sleep\n"
		}
		return u.MemoryBytes > 4000000 && len(pids) == 2 && sleeping
	})
	pids, err := g.Pids()
	if err != nil || len(pids) != 2 || !slices.Contains(pids, cmd.Process.Pid) {
		t.Fatalf("Pids() = %v, %v; want the shell %d and its sleep", pids, err, cmd.Process.Pid)
	}
	u, err := g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.Pids != 2 {
		t.Fatalf("usage = %+v, want 2 pids", u)
	}
	for _, d := range g.Dirs() {
		if f := filepath.Join(d, "pids.max"); exists(f) {
			if b, _ := os.ReadFile(f); string(b) != "20\n" {
				t.Errorf("%s = %q, want 20", f, b)
			}
		}
	}

	// Cgroups below the group (vinit's, one per service) go with it.
	for _, d := range g.Dirs() {
		if err := os.MkdirAll(filepath.Join(d, "web.service/inner"), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// The group can't go while it has a process.
	if err := g.Remove(); err == nil {
		t.Fatal("removing a populated group succeeded")
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if err := g.RemoveWhenEmpty(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, d := range g.Dirs() {
		if exists(d) || exists(filepath.Dir(d)) {
			t.Errorf("%s or its parent is left after Remove", d)
		}
	}
}

func TestPidsLimitStopsForks(t *testing.T) {
	requireRoot(t)
	g, err := Create(fmt.Sprintf("vhost-cgtest-%d/pids", os.Getpid()), Limits{Pids: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Kill(); g.RemoveWhenEmpty(5 * time.Second) })
	// The shell tries to start 10 sleepers; with the shell, only 5 tasks fit.
	startInGroup(t, g, `for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done 2>/dev/null; exec sleep 30`)
	time.Sleep(500 * time.Millisecond) // let the shell try all ten forks
	pids, err := g.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) > 5 {
		t.Fatalf("%d tasks in a group with pids.max=5", len(pids))
	}
	// The kernel counts the forks it refused at the limit.
	var refused int64
	for _, d := range g.Dirs() {
		if st, err := readKeyed(filepath.Join(d, "pids.events")); err == nil {
			refused += st["max"]
		}
	}
	if refused == 0 {
		t.Fatal("pids.events counts no refused fork, want at least one")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met within 5s")
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
