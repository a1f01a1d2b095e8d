package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/internal/exeseal"
	"github.com/vservers/vserver/internal/vserver"
)

func init() {
	commands["exec"] = command{usage: "exec NAME [-t] -- CMD [ARGS...]", run: execCmd}
	commands["enter"] = command{usage: "enter NAME", run: enterCmd}
	commands["ctl"] = command{usage: "ctl NAME status [--json] | start|stop|restart NAME | signal NAME SIG | logs [-f] [-n N] NAME | reload", run: ctlCmd}
}

// ctlCmd talks to the guest's vinit over its control socket, from inside
// the context: vinit ctl ARGS run there, with vhost's terminal.
func ctlCmd(g *globals, args []string) error {
	if len(args) < 2 {
		return errUsage
	}
	return join(g, args[0], append([]string{vctx.InitPath, "ctl"}, args[1:]...), false)
}

// execCmd runs a command inside a running vserver and exits with its status.
func execCmd(g *globals, args []string) error {
	i := slices.Index(args, "--")
	if i < 1 || i > 2 || len(args) < i+2 {
		return errUsage
	}
	tty := false
	if i == 2 {
		if args[1] != "-t" {
			return errUsage
		}
		tty = true
	}
	return join(g, args[0], args[i+1:], tty)
}

// enterCmd opens a login shell in a running vserver, on a terminal of its own.
func enterCmd(g *globals, args []string) error {
	name, err := oneName(args)
	if err != nil {
		return err
	}
	return join(g, name, nil, true)
}

// join runs argv (nil: root's login shell) in the vserver, on a guest
// terminal when tty, and exits with its status.
func join(g *globals, name string, argv []string, tty bool) error {
	if err := vctx.ValidName(name); err != nil {
		return err
	}
	// The command may be a guest's link to /proc/self/exe: then what runs
	// in the guest must be a copy nobody can write, not the host's vhost.
	if err := exeseal.Reexec(); err != nil {
		return err
	}
	st, err := vserver.ReadState(vserver.Paths{Root: g.root}, name)
	if err != nil || !vctx.Alive(st.Undo) {
		return fmt.Errorf("vserver %s: %w", name, vserver.ErrNotRunning)
	}
	termName := os.Getenv("TERM")
	if termName == "" {
		termName = "linux"
	}
	spec := &vctx.ExecSpec{
		Argv:       argv,
		LoginShell: argv == nil,
		// What the context's init got, as the monitor recorded it.
		Capabilities: st.Capabilities,
		Seccomp:      st.Seccomp,
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=" + termName},
		Stdin:        os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}
	var p *os.Process
	var master *os.File
	if tty {
		p, master, err = vctx.ExecTTY(st.Undo, spec)
	} else {
		p, err = vctx.Exec(st.Undo, spec)
	}
	if err != nil {
		return err
	}
	finish := func() {}
	if master != nil {
		finish = relayTerminal(master)
	}
	ps, err := p.Wait()
	finish()
	if err != nil {
		return err
	}
	ws := ps.Sys().(syscall.WaitStatus)
	code := 0
	switch {
	case ws.Exited():
		code = ws.ExitStatus()
	case ws.Signaled():
		code = 128 + int(ws.Signal())
	}
	if code != 0 {
		os.Exit(code)
	}
	return nil
}

// relayTerminal copies between our terminal (raw, when it is one) and the
// guest terminal's master, and follows our window size. The returned func
// restores our terminal.
func relayTerminal(master *os.File) func() {
	restore := func() {}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		if old, err := term.MakeRaw(fd); err == nil {
			restore = func() { term.Restore(fd, old) }
		}
		resize := func() {
			if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
				unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
			}
		}
		resize()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, unix.SIGWINCH)
		go func() {
			for range winch {
				resize()
			}
		}()
	}
	go io.Copy(master, os.Stdin)
	done := make(chan struct{})
	go func() { io.Copy(os.Stdout, master); close(done) }()
	return func() {
		// The shell has exited: what it wrote last is still in the master.
		<-done
		restore()
	}
}
