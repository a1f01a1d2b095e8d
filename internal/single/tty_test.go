package single_test

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal pair; the master is drained so
// nothing written to the terminal can block.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	go io.Copy(io.Discard, master)
	return master, slave
}

// ints parses the first n fields of a report line as numbers.
func ints(t *testing.T, line string, n int) []int {
	t.Helper()
	f := strings.Fields(line)
	if len(f) < n {
		t.Fatalf("report %q: want %d numbers", line, n)
	}
	out := make([]int, n)
	for i := range n {
		v, err := strconv.Atoi(f[i])
		if err != nil {
			t.Fatalf("report %q: %v", line, err)
		}
		out[i] = v
	}
	return out
}

// TestTerminalForeground runs vinit as the session leader of a terminal
// (as a container runtime with a tty does), and checks that the child runs
// in a group of its own that is the terminal's foreground group, so a
// Ctrl-C reaches it through the terminal. Here vinit follows tini
// (setpgid + tcsetpgrp): dumb-init's setsid + TIOCSCTTY can't work, since
// the terminal already is vinit's session's.
func TestTerminalForeground(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			master, slave := openPTY(t)
			report := newPipe(t)
			cmd := run{mode: m, argv: helperArgv(t, "tty"), extra: []*os.File{report.w},
				stdio: [3]*os.File{slave, slave, slave},
				sys:   &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}}.start(t)
			report.w.Close()
			vinitPgrp := cmd.Process.Pid
			if m.pid1 {
				vinitPgrp = 1
			}
			got := ints(t, report.line(t), 2)
			pgrp, fg := got[0], got[1]
			if pgrp != fg || pgrp == vinitPgrp {
				t.Fatalf("child's group %d, foreground group %d, vinit's %d: want the child's group in the foreground, apart from vinit's", pgrp, fg, vinitPgrp)
			}
			if _, err := master.Write([]byte{3}); err != nil { // Ctrl-C
				t.Fatal(err)
			}
			if got := report.line(t); !strings.HasPrefix(got, "SIGINT") {
				t.Fatalf("child reported %q after Ctrl-C, want SIGINT", got)
			}
			if got := exitCode(t, cmd); got != 0 {
				t.Errorf("got exit code %d, want 0", got)
			}
		})
	}
}

// jobshell starts the helper that plays an interactive shell on a new
// terminal, running vinit with argv as a foreground job.
func jobshell(t *testing.T, argv []string) (master *os.File, report *pipe) {
	t.Helper()
	master, slave := openPTY(t)
	report = newPipe(t)
	cmd := run{argv: nil, extra: []*os.File{report.w}, stdio: [3]*os.File{slave, slave, slave},
		sys: &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}}
	sh := cmd.startHelper(t, "jobshell", append([]string{vinit, "--"}, argv...)...)
	report.w.Close()
	t.Cleanup(func() {
		// On a failure, hang up the terminal first: that ends the
		// foreground job (the child), and so vinit and the shell.
		master.Close()
		exitCode(t, sh)
	})
	return master, report
}

// TestTerminalRestored runs vinit as a shell's foreground job and a child
// that turns echo off and exits: when vinit exits the terminal is back
// with vinit's group, echo on.
func TestTerminalRestored(t *testing.T) {
	_, report := jobshell(t, helperArgv(t, "rawtty"))
	if got := report.line(t); got != "raw <nil>" {
		t.Fatalf("child: %q", got)
	}
	f := strings.Fields(report.line(t))
	if len(f) != 6 || f[0] != "exited" {
		t.Fatalf("shell: %q, want exited ...", f)
	}
	if f[1] != f[3] {
		t.Errorf("after vinit exited the foreground group is %s, want vinit's %s", f[3], f[1])
	}
	if f[5] != "true" {
		t.Errorf("after vinit exited echo is %s, want true", f[5])
	}
}

// TestTerminalJobControl: Ctrl-Z stops the child, and vinit with it, so
// the shell regains the terminal; "fg" resumes both, the terminal going
// back to the child before it continues.
func TestTerminalJobControl(t *testing.T) {
	master, report := jobshell(t, helperArgv(t, "tty"))
	got := ints(t, report.line(t), 2)
	child := got[0]
	if got[1] != child {
		t.Fatalf("child's group %d is not the foreground group %d", child, got[1])
	}
	master.Write([]byte{0x1a}) // Ctrl-Z
	f := strings.Fields(report.line(t))
	if len(f) != 4 || f[0] != "stopped" || f[1] != f[3] {
		t.Fatalf("shell: %q, want vinit stopped with the terminal back in its group", f)
	}
	if got := report.line(t); got != fmt.Sprint("SIGCONT ", child) {
		t.Fatalf("child after fg: %q, want SIGCONT with the terminal in its group %d", got, child)
	}
	master.Write([]byte{3})
	if got := report.line(t); !strings.HasPrefix(got, "SIGINT") {
		t.Fatalf("child after Ctrl-C: %q, want SIGINT", got)
	}
	if f := strings.Fields(report.line(t)); len(f) < 1 || f[0] != "exited" {
		t.Fatalf("shell: %q, want exited", f)
	}
}
