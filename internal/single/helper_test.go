package single_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwardable are the signals vinit forwards: every catchable one but those
// the Go runtime keeps (SIGPROF; 32-34) and SIGCHLD.
func forwardable() []unix.Signal {
	var out []unix.Signal
	for s := unix.Signal(1); s <= 64; s++ {
		switch s {
		case unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGPROF, 32, 33, 34:
			continue
		}
		out = append(out, s)
	}
	return out
}

// runHelper is the test binary playing a child of vinit. fd 3 is where it
// reports, fd 4 (when given) closes to tell it to exit.
func runHelper(name string) int {
	report := os.NewFile(3, "report")
	switch name {
	case "signals":
		// Report every signal; start a member of the process group that
		// blocks them all, so a signal sent to it stays pending where the
		// test can see it (/proc/PID/status ShdPnd).
		c := make(chan os.Signal, 128)
		for _, s := range forwardable() {
			signal.Notify(c, s)
		}
		member, err := startBlocked("/bin/sleep", "1000")
		if err != nil {
			fmt.Fprintln(report, "error", err)
			return 1
		}
		go func() {
			io.Copy(io.Discard, os.NewFile(4, "quit"))
			member.Kill()
			os.Exit(0)
		}()
		fmt.Fprintln(report, "ready", member.Pid)
		for s := range c {
			fmt.Fprintln(report, int(s.(syscall.Signal)))
		}
	case "orphans":
		// Start a spawner that leaves n orphans, wait for it, report.
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), helperEnv+"=spawner")
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(report, "error", err)
			return 1
		}
		fmt.Fprintln(report, "spawned")
		io.Copy(io.Discard, os.NewFile(4, "quit"))
	case "spawner":
		n, _ := strconv.Atoi(os.Args[1])
		for range n {
			p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
			if err != nil {
				return 1
			}
			p.Release()
		}
	case "tty":
		// Report our group and the terminal's foreground group, then wait
		// for the SIGINT a Ctrl-C on the terminal sends. Ctrl-Z stops us
		// (SIGTSTP is left at its default); on SIGCONT report who has the
		// terminal.
		c := make(chan os.Signal, 1)
		signal.Notify(c, unix.SIGINT, unix.SIGCONT)
		fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
		fmt.Fprintln(report, unix.Getpgrp(), fg, err)
		for s := range c {
			fg, _ := unix.IoctlGetInt(0, unix.TIOCGPGRP)
			fmt.Fprintln(report, unix.SignalName(s.(syscall.Signal)), fg)
			if s == unix.SIGINT {
				break
			}
		}
	case "rawtty":
		// Turn echo off and exit, leaving the terminal as a crashed
		// full-screen program would.
		tio, err := unix.IoctlGetTermios(0, unix.TCGETS)
		if err == nil {
			tio.Lflag &^= unix.ECHO
			err = unix.IoctlSetTermios(0, unix.TCSETS, tio)
		}
		fmt.Fprintln(report, "raw", err)
	case "jobshell":
		// Play an interactive shell: run argv (vinit) as a foreground job
		// in its own group; when it stops, report who has the terminal and
		// resume it in the foreground, as "fg" does; when it exits, report
		// who has the terminal and whether echo is on.
		cmd := exec.Command(os.Args[1], os.Args[2:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.ExtraFiles = []*os.File{report}
		cmd.SysProcAttr = &syscall.SysProcAttr{Foreground: true, Ctty: 0}
		signal.Ignore(unix.SIGTTOU) // to take the terminal back, as shells do
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(report, "error", err)
			return 1
		}
		job := cmd.Process.Pid
		for {
			var ws unix.WaitStatus
			if _, err := unix.Wait4(job, &ws, unix.WUNTRACED, nil); err == unix.EINTR {
				continue
			} else if err != nil {
				fmt.Fprintln(report, "error", err)
				return 1
			}
			fg, _ := unix.IoctlGetInt(0, unix.TIOCGPGRP)
			if ws.Stopped() {
				fmt.Fprintln(report, "stopped", job, "fg", fg)
				unix.IoctlSetPointerInt(0, unix.TIOCSPGRP, job)
				unix.Kill(-job, unix.SIGCONT)
				continue
			}
			tio, _ := unix.IoctlGetTermios(0, unix.TCGETS)
			fmt.Fprintln(report, "exited", job, "fg", fg, "echo", tio.Lflag&unix.ECHO != 0)
			return 0
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", name)
		return 2
	}
	return 0
}

// startBlocked starts argv with every signal blocked. The runtime's fork
// gives the child the mask of the forking thread, so block on a locked one.
func startBlocked(argv ...string) (*os.Process, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err != nil {
		return nil, err
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return os.StartProcess(argv[0], argv, &os.ProcAttr{})
}
