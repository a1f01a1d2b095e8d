package single

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/vservers/vserver/internal/logfmt"
	"github.com/vservers/vserver/internal/proc"
	"github.com/vservers/vserver/reaper"
	"golang.org/x/sys/unix"
)

// session is one run: the main child and how to reach it.
type session struct {
	log       *logfmt.Logger
	pid1      bool
	pid       int
	pidfd     int // the child's, or -1 (a kernel before 5.2)
	childOnly bool
	tty       *terminal
}

// Run starts cfg.Argv as the main child, forwards signals to it, reaps every
// orphan, and when the child has exited terminates and reaps what is left
// (see signalAll), then returns the child's exit code: its exit status,
// 128+N if signal N killed it, 0 for a code listed in cfg.RemapExit. The
// error is non-nil only when the child did not start; the code is then
// ExitNotFound, ExitCannotExecute or ExitFailure.
//
// Run must be called before the process has any child, and at most once:
// the process is expected to exit when it returns, and Run leaves its
// signal handlers in place (vinit must not die of a late signal).
func Run(cfg Config) (int, error) {
	log := cfg.Log
	if log == nil {
		log = logfmt.Discard()
	}
	if len(cfg.Argv) == 0 {
		return ExitFailure, errors.New("no command to run")
	}
	env := cfg.Env
	if env == nil {
		env = ChildEnv()
	}
	grace := cfg.Grace
	if grace == 0 {
		grace = DefaultGrace
	}

	// Nothing may change a disposition or the mask before the child is
	// started: it inherits both. Signals inherited as ignored are caught
	// only once the child has started, so the child inherits SIG_IGN.
	inheritedIgnored := ignoredSet()
	// Nothing here calls signal.Stop or r.Close: undoing a Notify costs a
	// round trip to the runtime's signal thread per signal (milliseconds
	// at exit), and the process exits when Run returns.
	r, err := reaper.New()
	if err != nil {
		return ExitFailure, err
	}
	sigc := make(chan os.Signal, 256)
	var now []os.Signal
	urg := PreemptionOff()
	for s := unix.Signal(1); s <= maxSignal; s++ {
		if catchable(s, urg) && !slices.Contains(inheritedIgnored, os.Signal(s)) {
			now = append(now, s)
		}
	}
	signal.Notify(sigc, now...)

	tty := probeTTY(sigc)
	chld := make(chan os.Signal, 1)
	if tty.mode == foreground || tty.mode == background {
		signal.Notify(chld, unix.SIGCHLD) // to follow the child's stops
	}

	path, err := lookPath(cfg.Argv[0])
	if err != nil {
		return ExitNotFound, err
	}
	// syscall.ForkExec rather than os.StartProcess: the latter forks once
	// more, the first time, to probe for pidfd support (measured in
	// docs/benchmarks.md), and the pidfd comes from clone itself here.
	pidfd := -1
	attr := tty.sysProcAttr()
	attr.PidFD = &pidfd
	pid, exitc, err := r.Start(func() (int, error) {
		return syscall.ForkExec(path, cfg.Argv, &syscall.ProcAttr{
			Env:   env,
			Files: []uintptr{0, 1, 2},
			Sys:   attr,
		})
	})
	if err != nil {
		code := ExitCannotExecute
		if errors.Is(err, fs.ErrNotExist) {
			code = ExitNotFound
		}
		return code, fmt.Errorf("start %s: %w", cfg.Argv[0], err)
	}
	log.Info("started", "pid", pid, "argv", cfg.Argv, "tty", tty.mode.String())

	if err := os.Chdir("/"); err != nil {
		log.Warn("cannot leave the working directory", "err", err)
	}
	if len(inheritedIgnored) > 0 {
		signal.Notify(sigc, inheritedIgnored...)
	}
	ignoreReserved()
	// One P is plenty for forwarding signals and reaping, and it saves
	// thread wake-ups between Ps on every signal. Set only now: each
	// signal.Notify above is a round trip to the runtime's signal thread,
	// and with one P every round trip also hands the P between threads
	// (about a millisecond more for the 58 signals; docs/benchmarks.md).
	// The child does not inherit it.
	runtime.GOMAXPROCS(1)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go keepRunning(log, "reaper", func() { r.Run(ctx) })

	s := &session{log: log, pid1: os.Getpid() == 1, pid: pid, pidfd: pidfd, childOnly: cfg.ChildOnly, tty: tty}
	var exit reaper.Exit
	for done := false; !done; {
		protect(log, "signal forwarding", func() {
			select {
			case sig := <-sigc:
				s.forward(sig.(syscall.Signal))
			case <-chld:
				if stopped(pid) {
					log.Debug("child stopped, stopping too")
					s.suspend()
				}
			case exit = <-exitc:
				done = true
			}
		})
	}
	log.Info("child exited", "pid", pid, "status", exit.String())
	protect(log, "terminal restore", func() { tty.restore(pid) })
	protect(log, "leftovers", func() { s.reapLeftovers(r, grace) })

	code := exit.Code()
	if slices.Contains(cfg.RemapExit, code) {
		code = 0
	}
	return code, nil
}

// forward passes sig on to the child, or its group. Job-control signals
// stop vinit too, and SIGCONT resumes the child (vinit resumed already).
func (s *session) forward(sig syscall.Signal) {
	s.log.Debug("forwarding", "signal", unix.SignalName(sig))
	switch sig {
	case unix.SIGCONT:
		s.resume()
		s.send(sig)
	case unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		s.send(sig)
		s.suspend()
	default:
		s.send(sig)
	}
}

func (s *session) send(sig syscall.Signal) {
	if !s.childOnly {
		// The group's ID is the child's PID (setsid or setpgid made it a
		// leader). If the child has moved to another group and the old
		// one is empty, fall back to the child itself.
		if err := unix.Kill(-s.pid, sig); err == nil {
			return
		}
	}
	if s.pidfd < 0 {
		unix.Kill(s.pid, sig)
		return
	}
	unix.PidfdSendSignal(s.pidfd, sig, nil, 0) // never a recycled PID
}

// suspend stops vinit, as a job-control signal would have stopped it had
// it not been caught. On a terminal the child's group is foreground: the
// terminal goes back to vinit's group first, so the shell that waits for
// vinit finds it stopped and takes the terminal. PID 1 can't be stopped.
func (s *session) suspend() {
	if s.pid1 {
		return
	}
	if s.tty.isForeground(s.pid) {
		s.tty.setForeground(s.tty.pgrp)
	}
	unix.Kill(os.Getpid(), unix.SIGSTOP)
}

// resume hands the terminal back to the child if the shell has given it
// to vinit (fg), before the child gets its SIGCONT.
func (s *session) resume() {
	if s.tty.mode != noTTY && s.tty.mode != ownTTY && s.tty.isForeground(s.tty.pgrp) {
		s.tty.setForeground(s.pid)
	}
}

// reapLeftovers terminates what is left: SIGTERM (and SIGCONT, for the
// stopped), up to grace to exit, then SIGKILL until no child is left.
func (s *session) reapLeftovers(r *reaper.Reaper, grace time.Duration) {
	if waitChildless(r, 0) {
		return
	}
	if grace > 0 {
		n := signalAll(s.pid1, unix.SIGTERM)
		signalAll(s.pid1, unix.SIGCONT)
		s.log.Info("terminating leftovers", "count", n, "grace", grace)
		if waitChildless(r, grace) {
			return
		}
	}
	for {
		n := signalAll(s.pid1, unix.SIGKILL)
		s.log.Info("killing leftovers", "count", n)
		if waitChildless(r, time.Second) {
			return
		}
	}
}

// waitChildless waits up to d for vinit to have no child left.
func waitChildless(r *reaper.Reaper, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return r.WaitChildless(ctx) == nil
}

// lookPath finds the command as execvp(3) would, in the environment the
// child gets (vinit's own).
func lookPath(name string) (string, error) {
	path, err := proc.LookPath(name, os.Environ())
	if err != nil {
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	return path, nil
}
