package single

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/vservers/vserver/internal/proc"

	"golang.org/x/sys/unix"
)

// ttyMode says how the child is placed relative to the terminal on stdin.
type ttyMode int

const (
	// noTTY: stdin is not a terminal, or one that belongs to another
	// session. The child gets a session of its own (setsid), as with
	// dumb-init, so no terminal signal of ours reaches it.
	noTTY ttyMode = iota
	// ownTTY: stdin is a terminal no session controls. The child gets its
	// own session with that terminal as its controlling one (setsid +
	// TIOCSCTTY, as dumb-init does).
	ownTTY
	// foreground: stdin is vinit's controlling terminal and vinit's group
	// is its foreground group (a shell job, or PID 1 of a container started
	// with a tty). A second session can't have this terminal, so the child
	// gets a process group of its own in vinit's session, made the
	// foreground group (setpgid + tcsetpgrp, as tini does): Ctrl-C and
	// Ctrl-Z reach the child as in a shell.
	foreground
	// background: stdin is vinit's controlling terminal but vinit runs in
	// the background. The child gets its own group, not the terminal.
	background
)

func (m ttyMode) String() string {
	return [...]string{"none", "own", "foreground", "background"}[m]
}

// terminal is stdin's terminal state at start, to restore on exit.
type terminal struct {
	mode    ttyMode
	fd      int
	pgrp    int           // vinit's own group
	termios *unix.Termios // the settings at start, when foreground
	sigc    chan<- os.Signal
}

// probeTTY classifies stdin without changing anything. sigc is the channel
// SIGTTOU is delivered on, restored after each terminal change.
func probeTTY(sigc chan<- os.Signal) *terminal {
	t := &terminal{mode: noTTY, fd: 0, pgrp: unix.Getpgrp(), sigc: sigc}
	termios, err := unix.IoctlGetTermios(t.fd, unix.TCGETS)
	if err != nil {
		return t // not a terminal
	}
	sid, err := unix.IoctlGetInt(t.fd, unix.TIOCGSID)
	if errors.Is(err, unix.ENOTTY) {
		t.mode = ownTTY
		return t
	}
	mysid, _ := unix.Getsid(0)
	if err != nil || sid != mysid {
		return t
	}
	fg, err := unix.IoctlGetInt(t.fd, unix.TIOCGPGRP)
	if err != nil || fg != t.pgrp {
		t.mode = background
		return t
	}
	t.mode = foreground
	t.termios = termios
	return t
}

// sysProcAttr is how the child is started for the terminal mode.
func (t *terminal) sysProcAttr() *syscall.SysProcAttr {
	switch t.mode {
	case ownTTY:
		return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: t.fd}
	case foreground:
		// The child runs setpgid and TIOCSPGRP between fork and exec, with
		// every signal blocked, so the SIGTTOU a background group gets for
		// TIOCSPGRP can't stop it.
		return &syscall.SysProcAttr{Foreground: true, Ctty: t.fd}
	case background:
		return &syscall.SysProcAttr{Setpgid: true}
	}
	return &syscall.SysProcAttr{Setsid: true}
}

// setForeground makes pgrp the terminal's foreground group. vinit is then
// in a background group, where TIOCSPGRP raises SIGTTOU unless it is
// ignored, so it is ignored for the call.
func (t *terminal) setForeground(pgrp int) error {
	signal.Ignore(unix.SIGTTOU)
	defer signal.Notify(t.sigc, unix.SIGTTOU)
	return unix.IoctlSetPointerInt(t.fd, unix.TIOCSPGRP, pgrp)
}

// isForeground reports whether pgrp is the terminal's foreground group.
func (t *terminal) isForeground(pgrp int) bool {
	fg, err := unix.IoctlGetInt(t.fd, unix.TIOCGPGRP)
	return err == nil && fg == pgrp
}

// restore gives the terminal back to vinit's group with the settings it had
// at start, undoing whatever the child left (raw mode, no echo). In the
// background it does so only if the terminal went to the child's group.
func (t *terminal) restore(child int) {
	switch {
	case t.mode == foreground:
	case t.mode == background && t.isForeground(child):
	default:
		return
	}
	signal.Ignore(unix.SIGTTOU) // vinit is about to exit: no need to catch it again
	unix.IoctlSetPointerInt(t.fd, unix.TIOCSPGRP, t.pgrp)
	if t.termios != nil {
		unix.IoctlSetTermios(t.fd, unix.TCSETS, t.termios)
	}
}

// stopped reports whether pid is stopped by a signal (state T in
// /proc/PID/stat; "t", a tracing stop, is not).
func stopped(pid int) bool {
	st, err := proc.ReadStat(pid)
	return err == nil && st.State == 'T'
}
