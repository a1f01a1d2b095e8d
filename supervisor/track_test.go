package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testCgroup makes a cgroup2 directory below the test's own cgroup, removed
// (with the services' cgroups in it) when the test ends.
func testCgroup(t *testing.T) string {
	t.Helper()
	own, err := OwnCgroup()
	if err != nil {
		t.Fatalf("needs a cgroup2 mount (root, /sys/fs/cgroup or /sys/fs/cgroup/unified): %v", err)
	}
	dir := filepath.Join(own, "supervisor-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("needs a writable cgroup2 (root): %v", err)
	}
	t.Cleanup(func() {
		subs, _ := filepath.Glob(filepath.Join(dir, "*.service"))
		for _, d := range subs {
			if err := os.Remove(d); err != nil {
				t.Errorf("remove %s: %v", d, err)
			}
		}
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// TestStopFindsEscapedProcesses: a service that forks a child which leaves
// its process group with setsid is still stopped whole, by its cgroup or,
// without one, by its environment marker.
func TestStopFindsEscapedProcesses(t *testing.T) {
	tests := []struct {
		name   string
		cgroup func(t *testing.T) string
	}{
		{"cgroup", testCgroup},
		{"marker", func(*testing.T) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cg := tt.cgroup(t)
			pidFile := t.TempDir() + "/escaped"
			u := testUnit("escaper", "sh", "-c", "setsid sh -c 'echo $$ > "+pidFile+"; exec sleep 1000' & exec sleep 1000")
			set := mustSet(t, u)
			s := newTestSupervisor(t, Config{Cgroup: cg})
			if err := s.Start(set); err != nil {
				t.Fatal(err)
			}
			main := waitState(t, s, "escaper", is(StateRunning)).Pid
			waitFile(t, pidFile)
			var escaped int
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			for escaped == 0 && ctx.Err() == nil { // written, but maybe not flushed yet
				b, _ := os.ReadFile(pidFile)
				escaped, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			}
			if pg, _ := unix.Getpgid(escaped); pg == main {
				t.Fatalf("escaped process %d is in the service's process group %d: the test tests nothing", escaped, main)
			}
			if cg != "" {
				b, _ := os.ReadFile("/proc/" + strconv.Itoa(escaped) + "/cgroup")
				if !strings.Contains(string(b), "escaper.service") {
					t.Errorf("escaped process's cgroups %q, want escaper.service", b)
				}
			}
			if err := s.StopService(ctx, "escaper"); err != nil {
				t.Fatal(err)
			}
			// Gone, or a zombie the reaper has yet to collect.
			if b, err := os.ReadFile("/proc/" + strconv.Itoa(escaped) + "/stat"); err == nil && !strings.Contains(string(b), ") Z ") {
				t.Errorf("escaped process still runs after stop: %s", b)
			}
		})
	}
}
