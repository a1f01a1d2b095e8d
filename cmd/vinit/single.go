package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vservers/vserver/internal/logfmt"
	"github.com/vservers/vserver/internal/single"
)

// singleMain is `vinit [flags] -- CMD [ARGS...]`, the drop-in for tini,
// dumb-init and catatonit. flags are the words before "--".
func singleMain(flags, argv []string) int {
	// First of all: the runtime must not send SIGURG of its own, or vinit
	// could not forward a SIGURG sent to it. Returns only if exec failed.
	reexecErr := single.ReexecWithoutPreemption()

	fs := flag.NewFlagSet("vinit", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: vinit [flags] -- CMD [ARGS...]\n\nflags:\n")
		fs.PrintDefaults()
	}
	var cfg single.Config
	var verbose verbosity
	childOnly := fs.Bool("c", false, "forward signals to the child alone, not to its process group (dumb-init -c)")
	fs.BoolVar(childOnly, "child-only", false, "same as -c")
	group := fs.Bool("g", true, "forward signals to the child's process group: the default (tini -g)")
	remap := func(s string) error {
		code, err := strconv.Atoi(s)
		if err != nil || code < 0 || code > 255 {
			return fmt.Errorf("exit code %q: want 0..255", s)
		}
		cfg.RemapExit = append(cfg.RemapExit, code)
		return nil
	}
	fs.Func("e", "report exit code `CODE` of the child as 0; repeatable (tini -e)", remap)
	fs.Func("remap-exit", "same as -e `CODE`", remap)
	fs.DurationVar(&cfg.Grace, "t", single.DefaultGrace, "after the child exits, time between SIGTERM and SIGKILL for what is left; 0 kills at once")
	fs.DurationVar(&cfg.Grace, "grace", single.DefaultGrace, "same as -t")
	fs.Bool("s", false, "accepted for tini compatibility: vinit is always a subreaper when not PID 1")
	fs.Var(&verbose, "v", "log vinit's own actions to stderr; -v -v for debug")
	if err := fs.Parse(flags); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "vinit: unexpected %q before --\n", strings.Join(fs.Args(), " "))
		return 2
	}
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "vinit: no command after --")
		return 2
	}
	cfg.Argv = argv
	cfg.ChildOnly = *childOnly || !*group
	if cfg.Grace == 0 {
		cfg.Grace = -1 // the flag's 0 means none; Config's 0 means the default
	}
	// Without -v only errors: vinit's output must not mix into the child's.
	level := logfmt.LevelError
	switch {
	case verbose >= 2:
		level = logfmt.LevelDebug
	case verbose == 1:
		level = logfmt.LevelInfo
	}
	cfg.Log = logfmt.New(os.Stderr, level).With("vinit", os.Getpid())
	if reexecErr != nil {
		cfg.Log.Warn("SIGURG will not be forwarded", "err", reexecErr)
	}

	code, err := single.Run(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vinit: %v\n", err)
	}
	return code
}

// verbosity counts -v flags.
type verbosity int

func (v *verbosity) String() string   { return strconv.Itoa(int(*v)) }
func (v *verbosity) Set(string) error { *v++; return nil }
func (v *verbosity) IsBoolFlag() bool { return true }
