package reaper

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// start forks argv through r.Start, as the supervisor does.
func start(t *testing.T, r *Reaper, argv ...string) (int, <-chan Exit) {
	t.Helper()
	pid, ch, err := r.Start(func() (int, error) {
		cmd := exec.Command(argv[0], argv[1:]...)
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		pid := cmd.Process.Pid
		cmd.Process.Release()
		return pid, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pid, ch
}

func TestRoutesStatusToOwnerAndCountsOrphans(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go r.Run(ctx)

	// A child that exits at once must still reach its owner.
	for i := range 50 {
		pid, ch := start(t, r, "/bin/sh", "-c", "exit 3")
		select {
		case e := <-ch:
			if e.Pid != pid || e.Code() != 3 {
				t.Fatalf("round %d: got %v from pid %d, want exit status 3 from %d", i, e, e.Pid, pid)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: no exit delivered for pid %d", i, pid)
		}
	}
	if got := r.Stats().Orphans; got != 0 {
		t.Fatalf("orphans = %d after only registered children, want 0", got)
	}

	// A double fork leaves a grandchild that is reparented to us (we are a
	// subreaper): it must be reaped and counted as an orphan.
	_, ch := start(t, r, "/bin/sh", "-c", "(sleep 0.2 &) ; exit 0")
	if e := <-ch; !e.Success() {
		t.Fatalf("double-forking child: %v", e)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := r.WaitChildless(wctx); err != nil {
		t.Fatalf("children left: %v", err)
	}
	if got := r.Stats().Orphans; got != 1 {
		t.Fatalf("orphans = %d, want 1", got)
	}
}

// TestConcurrentStarts: children forked by several goroutines at once, each
// exiting at once, all reach their owners while the loop reaps.
func TestConcurrentStarts(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go r.Run(t.Context())
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errc := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				pid, ch, err := r.Start(func() (int, error) {
					cmd := exec.Command("/bin/sh", "-c", "exit 7")
					if err := cmd.Start(); err != nil {
						return 0, err
					}
					defer cmd.Process.Release()
					return cmd.Process.Pid, nil
				})
				if err != nil {
					errc <- err
					continue
				}
				if e := <-ch; e.Pid != pid || e.Code() != 7 {
					errc <- fmt.Errorf("got %v from pid %d, want exit status 7 from %d", e, e.Pid, pid)
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if got := r.Stats().Orphans; got != 0 {
		t.Errorf("orphans = %d, want 0", got)
	}
}

func TestExitCode(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go r.Run(t.Context())
	_, ch := start(t, r, "/bin/sh", "-c", "kill -TERM $$")
	e := <-ch
	if e.Code() != 128+15 || e.String() != "signal: SIGTERM" {
		t.Fatalf("got code %d %q, want 143 \"signal: SIGTERM\"", e.Code(), e.String())
	}
}

// TestStartFuncCallsOnce: the exit of a child started with StartFunc is
// handed to its callback exactly once, and that of a child registered with
// WatchFunc too, with nobody waiting on a channel.
func TestStartFuncCallsOnce(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go r.Run(t.Context())
	const n = 50
	var mu sync.Mutex
	got := map[int][]Exit{}
	record := func(e Exit) {
		mu.Lock()
		got[e.Pid] = append(got[e.Pid], e)
		mu.Unlock()
	}
	var want []int
	for i := range n {
		pid, err := r.StartFunc(func() (int, error) {
			cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf("exit %d", i%5))
			if err := cmd.Start(); err != nil {
				return 0, err
			}
			defer cmd.Process.Release()
			return cmd.Process.Pid, nil
		}, record)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, pid)
	}
	// A child forked behind the reaper's back, then watched (a forking
	// daemon's case), while it still runs.
	cmd := exec.Command("sleep", "0.2")
	r.forking.RLock() // as Start does: no reaping between fork and watch
	if err := cmd.Start(); err != nil {
		r.forking.RUnlock()
		t.Fatal(err)
	}
	r.WatchFunc(cmd.Process.Pid, record)
	r.forking.RUnlock()
	want = append(want, cmd.Process.Pid)
	cmd.Process.Release()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := r.WaitChildless(ctx); err != nil {
		t.Fatalf("children left: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, pid := range want {
		es := got[pid]
		wantCode := i % 5
		if i == n {
			wantCode = 0 // sleep
		}
		if len(es) != 1 || es[0].Code() != wantCode {
			t.Errorf("pid %d: got %v, want one exit with status %d", pid, es, wantCode)
		}
	}
	if o := r.Stats().Orphans; o != 0 {
		t.Errorf("orphans = %d, want 0", o)
	}
}
