package main

import (
	"fmt"
	"os"
	"slices"
	"syscall"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/internal/exeseal"
	"github.com/vservers/vserver/internal/vserver"
)

func init() {
	commands["exec"] = command{usage: "exec NAME -- CMD [ARGS...]", run: execCmd}
}

// execCmd runs a command inside a running vserver and exits with its status.
func execCmd(g *globals, args []string) error {
	i := slices.Index(args, "--")
	if i != 1 || len(args) < 3 {
		return errUsage
	}
	name, argv := args[0], args[2:]
	// The command may be a guest's link to /proc/self/exe: then what runs
	// in the guest must be a copy nobody can write, not the host's vhost.
	if err := exeseal.Reexec(); err != nil {
		return err
	}
	if err := vctx.ValidName(name); err != nil {
		return err
	}
	st, err := vserver.ReadState(vserver.Paths{Root: g.root}, name)
	if err != nil || !vctx.Alive(st.Undo) {
		return fmt.Errorf("vserver %s: %w", name, vserver.ErrNotRunning)
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=" + os.Getenv("TERM")}
	p, err := vctx.Exec(st.Undo, &vctx.ExecSpec{Argv: argv, Env: env, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	if err := vctx.AddToCgroup(st.Undo, p.Pid); err != nil {
		p.Kill()
		p.Wait()
		return err
	}
	ps, err := p.Wait()
	if err != nil {
		return err
	}
	ws := ps.Sys().(syscall.WaitStatus)
	switch {
	case ws.Exited():
		os.Exit(ws.ExitStatus())
	case ws.Signaled():
		os.Exit(128 + int(ws.Signal()))
	}
	return nil
}
