package supervisor

import (
	"context"
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/logfmt"
	procfs "github.com/vservers/vserver/internal/proc"
	"github.com/vservers/vserver/reaper"
)

// KillRemaining ends every process below this one, whoever started it: it
// sends SIGTERM, waits up to grace for them to go, sends SIGKILL to those
// left, and returns once r has reaped them all or ctx is done. As PID 1 of a
// PID namespace it signals with kill(-1), which reaches every process of the
// namespace but itself; otherwise (a child subreaper) it signals the
// descendants it finds in /proc, never anything else on the machine.
func KillRemaining(ctx context.Context, r *reaper.Reaper, grace time.Duration, log *logfmt.Logger) error {
	killAll(unix.SIGTERM, log)
	gctx, cancel := context.WithTimeout(ctx, grace)
	err := r.WaitChildless(gctx)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	log.Warn("processes left after the grace period: killing", "grace", grace)
	killAll(unix.SIGKILL, log)
	return r.WaitChildless(ctx)
}

func killAll(sig unix.Signal, log *logfmt.Logger) {
	if os.Getpid() == 1 {
		if err := unix.Kill(-1, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			log.Error("kill every process", "signal", unix.SignalName(sig), "err", err)
		}
		return
	}
	for _, pid := range descendants(os.Getpid()) {
		killPid(pid, sig)
	}
}

// descendants lists the processes below pid, read from /proc/*/stat.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := make(map[int][]int)
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := ppid(p); ok {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// ppid reads the parent of pid from /proc/PID/stat.
func ppid(pid int) (int, bool) {
	st, err := procfs.ReadStat(pid)
	return st.PPid, err == nil
}
