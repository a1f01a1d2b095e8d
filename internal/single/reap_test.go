package single_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOrphanStorm leaves thousands of orphans to vinit at once (a spawner
// starts them and exits without waiting) and checks that vinit reaps every
// one: a zombie stays vinit's child until reaped, so "vinit's only child is
// the main child" means no zombie is left.
func TestOrphanStorm(t *testing.T) {
	const n = 3000
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			report, quit := newPipe(t), newPipe(t)
			cmd := run{mode: m, argv: helperArgv(t, "orphans", strconv.Itoa(n)),
				extra: []*os.File{report.w, quit.r}}.start(t)
			report.w.Close()
			quit.r.Close()
			if got := report.line(t); got != "spawned" {
				t.Fatalf("helper: got %q, want spawned", got)
			}
			vinitPid := cmd.Process.Pid
			waitFor(t, "vinit to reap the orphans", func() bool { return len(children(vinitPid)) == 1 })
			zombies := 0
			for _, pid := range children(vinitPid) {
				if procState(pid) == 'Z' {
					zombies++
				}
			}
			if zombies != 0 {
				t.Errorf("got %d zombies, want 0", zombies)
			}
			quit.w.Close()
			if got := exitCode(t, cmd); got != 0 {
				t.Errorf("got exit code %d, want 0", got)
			}
		})
	}
}

// TestLeftoversTerminated checks what vinit does once the main child has
// exited: descendants that handle SIGTERM get it, one that ignores it is
// killed after the grace period, and a daemon that left the session
// (setsid) is found too. tini and dumb-init exit at once and leave them to
// the kernel (or to nobody, outside a PID namespace); vinit exits only when
// none is left.
func TestLeftoversTerminated(t *testing.T) {
	script := `
		(trap 'echo TERM >&3; exit 0' TERM; echo $(sh -c 'echo $PPID') >&3; while :; do sleep 1; done) &
		(trap '' TERM; exec sleep 1001) & echo $! >&3
		setsid sh -c 'echo $$ >&3; exec sleep 1002' &
		sleep 0.1; exit 7`
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			report := newPipe(t)
			cmd := run{mode: m, flags: []string{"-t", "300ms"}, argv: []string{"sh", "-c", script},
				extra: []*os.File{report.w}}.start(t)
			report.w.Close()
			var pids []int
			for range 3 {
				pid, err := strconv.Atoi(report.line(t))
				if err != nil {
					t.Fatal(err)
				}
				pids = append(pids, pid)
			}
			// Pin them by pidfd (subreaper mode: these are PIDs we can see).
			var fds []int
			if !m.pid1 {
				for _, pid := range pids {
					fd, err := unix.PidfdOpen(pid, 0)
					if err != nil {
						t.Fatalf("pidfd_open %d: %v", pid, err)
					}
					defer unix.Close(fd)
					fds = append(fds, fd)
				}
			}
			if got := exitCode(t, cmd); got != 7 {
				t.Errorf("got exit code %d, want 7", got)
			}
			if got := strings.TrimSpace(report.line(t)); got != "TERM" {
				t.Errorf("the subshell handling SIGTERM reported %q, want TERM", got)
			}
			for i, fd := range fds {
				if err := unix.PidfdSendSignal(fd, 0, nil, 0); err != unix.ESRCH {
					t.Errorf("descendant %d still exists after vinit exited (signal 0: %v)", pids[i], err)
				}
			}
		})
	}
}
