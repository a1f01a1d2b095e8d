package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vservers/vserver/internal/hostd"
	"github.com/vservers/vserver/internal/systemd"
	"github.com/vservers/vserver/internal/vserver"
)

// options resolves what the lifecycle calls need from the global flags.
func (g *globals) options() (vserver.Options, error) {
	o := vserver.Options{
		Paths: vserver.Paths{Root: g.root},
		Log:   slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	v, err := findVinit()
	if err != nil {
		return o, err
	}
	o.Vinit = v
	return o, nil
}

// findVinit finds the vinit binary the guests get: $VHOST_VINIT, else
// vinit beside the vhost binary, else /usr/lib/vhost/vinit.
func findVinit() (string, error) {
	cands := []string{os.Getenv("VHOST_VINIT")}
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "vinit"))
	}
	cands = append(cands, "/usr/lib/vhost/vinit", "/usr/local/lib/vhost/vinit")
	for _, c := range cands {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return filepath.Abs(c)
		}
	}
	return "", errors.New("vinit not found: set VHOST_VINIT or install vinit beside vhost")
}

// oneName checks that args is exactly one vserver name.
func oneName(args []string) (string, error) {
	if len(args) != 1 {
		return "", errUsage
	}
	return args[0], nil
}

func init() {
	commands["start"] = command{usage: "start NAME", run: startCmd}
	commands["run"] = command{usage: "run NAME [-- CMD [ARGS...]]", run: runCmd}
	commands["monitor"] = command{usage: "monitor NAME", hidden: true, run: monitorCmd}
	commands["stop"] = command{usage: "stop NAME", run: stopCmd}
	commands["cleanup"] = command{usage: "cleanup NAME", run: cleanupCmd}
}

// startCmd boots a vserver in the background, under a monitor of its own.
func startCmd(g *globals, args []string) error {
	name, err := oneName(args)
	if err != nil {
		return err
	}
	o, err := g.options()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return vserver.Spawn(o, name, []string{exe, "--root", g.root, "monitor", name})
}

// runCmd boots a vserver in the foreground with the console attached;
// Ctrl-C stops it in order. With a command, it runs that command in a fresh
// context of the vserver instead of booting it, and exits with its status.
func runCmd(g *globals, args []string) error {
	var argv []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, argv = args[:i], args[i+1:]
		if len(argv) == 0 {
			return errUsage
		}
	}
	name, err := oneName(args)
	if err != nil {
		return err
	}
	o, err := g.options()
	if err != nil {
		return err
	}
	console := vserver.Console{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if argv != nil {
		// The command's output is the output: vhost says only what went wrong.
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		code, err := vserver.RunCommand(o, name, console, argv)
		if err != nil {
			return err
		}
		if code != 0 {
			os.Exit(code)
		}
		return nil
	}
	out, err := vserver.Monitor(o, name, console, nil)
	if err != nil {
		return err
	}
	if out == vserver.Failed {
		return fmt.Errorf("vserver %s: the guest failed", name)
	}
	return nil
}

// monitorCmd is what start and the daemon run, detached: the monitor of
// one vserver (under systemd in a scope of its own, so stopping the daemon
// does not take it along). It reports on vserver.ReadyFd whether the guest
// came up.
func monitorCmd(g *globals, args []string) error {
	name, err := oneName(args)
	if err != nil {
		return err
	}
	report := readyReporter()
	o, err := g.options()
	if err != nil {
		report(err)
		return err
	}
	o.Log = daemonLog()
	return hostd.RunMonitor(o, name, systemd.Booted(), report)
}

// readyReporter reports, once, on the inherited vserver.ReadyFd whether the
// guest came up: "ok", or the error.
func readyReporter() func(error) {
	ready := os.NewFile(vserver.ReadyFd, "ready")
	return func(err error) {
		if ready == nil {
			return
		}
		if err != nil {
			fmt.Fprintln(ready, err)
		} else {
			fmt.Fprintln(ready, "ok")
		}
		ready.Close()
		ready = nil
	}
}

func stopCmd(g *globals, args []string) error {
	name, err := oneName(args)
	if err != nil {
		return err
	}
	return vserver.Stop(vserver.Options{Paths: vserver.Paths{Root: g.root}}, name)
}

func cleanupCmd(g *globals, args []string) error {
	name, err := oneName(args)
	if err != nil {
		return err
	}
	return vserver.Cleanup(vserver.Options{Paths: vserver.Paths{Root: g.root}}, name)
}

func init() {
	commands["restart"] = command{usage: "restart NAME", run: restartCmd}
	commands["clone"] = command{usage: "clone SRC DST --address CIDR [--address CIDR...] [--context ID]", run: cloneCmd}
}

// restartCmd stops a running vserver, in order, and starts it again.
func restartCmd(g *globals, args []string) error {
	name, err := oneName(args)
	if err != nil {
		return err
	}
	if err := vserver.Stop(vserver.Options{Paths: vserver.Paths{Root: g.root}}, name); err != nil && !errors.Is(err, vserver.ErrNotRunning) {
		return err
	}
	return startCmd(g, args)
}

func cloneCmd(g *globals, args []string) error {
	fs := flag.NewFlagSet("clone", flag.ContinueOnError)
	var addrs multiFlag
	fs.Var(&addrs, "address", "a guest `address` of the clone, with its prefix length (repeatable)")
	ctxID := fs.Int("context", 0, "the clone's context `id`")
	if err := fs.Parse(reorder(args)); err != nil || fs.NArg() != 2 {
		return errUsage
	}
	return vserver.Clone(vserver.Paths{Root: g.root}, fs.Arg(0), fs.Arg(1), vserver.CloneOptions{Addresses: addrs, Context: *ctxID})
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// reorder moves flags before the positional arguments, so that
// `clone a b --address X` parses as the flag package wants.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			flags = append(flags, args[i])
			if !strings.Contains(args[i], "=") && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, args[i])
	}
	return append(flags, pos...)
}
