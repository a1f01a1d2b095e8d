package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// TestEnterThreadForksIntoTheGroup: a child forked from a thread that has
// entered the group is born in it in every hierarchy (v1 by the thread's
// move, cgroup2 by CLONE_INTO_CGROUP), the thread goes back home, and the
// group is empty once the child has exited.
func TestEnterThreadForksIntoTheGroup(t *testing.T) {
	requireRoot(t)
	g, err := Create(fmt.Sprintf("vhost-cgtest-%d/enter", os.Getpid()), Limits{Pids: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Kill(); g.RemoveWhenEmpty(5 * time.Second) })
	home, err := where("/proc/thread-self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/cat", "/proc/self/cgroup")
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if d := g.UnifiedDir(); d != "" {
		fd, err := unix.Open(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	type result struct {
		out        []byte
		err        error
		after      []string
		afterError error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		leave, err := g.EnterThread()
		if err != nil {
			done <- result{err: err}
			return
		}
		out, err := cmd.Output()
		if lerr := leave(); lerr != nil {
			done <- result{err: lerr}
			return
		}
		after, aerr := where("/proc/thread-self/cgroup")
		runtime.UnlockOSThread()
		done <- result{out: out, err: err, after: after, afterError: aerr}
	}()
	r := <-done
	if r.err != nil || r.afterError != nil {
		t.Fatal(r.err, r.afterError)
	}
	child, err := parseWhere(r.out)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(child)
	want := slices.Clone(g.Dirs())
	slices.Sort(want)
	if !slices.Equal(child, want) {
		t.Errorf("the child was born in %v, want %v", child, want)
	}
	if !slices.Equal(r.after, home) {
		t.Errorf("the thread is in %v after leave, want %v (where it was)", r.after, home)
	}
	if err := g.RemoveWhenEmpty(5 * time.Second); err != nil {
		t.Errorf("the group is not empty after the child's exit: %v", err)
	}
}

// TestKillAndRemoveAGroupAlreadyGone: a group emptied and removed by
// someone else after it was opened (systemd removes a scope's cgroup once
// it is empty) is killed and removed without an error: there is nothing
// left to do.
func TestKillAndRemoveAGroupAlreadyGone(t *testing.T) {
	requireRoot(t)
	path := fmt.Sprintf("vhost-cgtest-%d/gone", os.Getpid())
	g, err := Create(path, Limits{Pids: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.RemoveWhenEmpty(5 * time.Second) })
	opened, err := Open(path)
	if err != nil || len(opened.Dirs()) == 0 {
		t.Fatalf("open: %v, dirs %v", err, opened.Dirs())
	}
	for _, d := range opened.Dirs() {
		if err := os.Remove(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := opened.Kill(); err != nil {
		t.Errorf("kill of a removed group: %v", err)
	}
	if err := opened.RemoveWhenEmpty(time.Second); err != nil {
		t.Errorf("remove of a removed group: %v", err)
	}
}
