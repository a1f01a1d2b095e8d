// Command vinit is the init of a vserver: PID 1 of its context, reaping
// orphans and supervising the guest's services from YAML units. It also runs
// outside a context: as a child subreaper over a units directory, or as a
// drop-in for tini (`vinit -- CMD`).
//
//	vinit [--units DIR] [--run-dir DIR] [--log-dir DIR]   unit mode (the default)
//	vinit [flags] -- CMD [ARGS...]                        single-command mode
//	vinit check [DIR]                                     validate a units directory
//	vinit ctl [--socket PATH] COMMAND ...                 talk to a running vinit
package main

import (
	"os"
	"os/signal"
	"slices"

	"golang.org/x/sys/unix"
)

// pid1Signals are the signals that mean something to vinit as an init
// (see unit.go). Without a handler, Go's default for most of them is to
// exit, and as PID 1 that would end the whole context: so they are caught
// from init, before main runs, and unit mode reads them from here.
var pid1Signals = make(chan os.Signal, 16)

func init() {
	// Single-command mode must hand its child the dispositions vinit
	// inherited, and a Notify would turn an ignored SIGHUP into a caught
	// one: only unit mode subscribes this early.
	if mode(os.Args[1:]) == "unit" {
		signal.Notify(pid1Signals, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGPWR, sigHalt, sigPoweroff, sigReboot)
	}
}

// mode names what the arguments ask of vinit: check, ctl, single or unit.
func mode(args []string) string {
	if len(args) > 0 && (args[0] == "check" || args[0] == "ctl") {
		return args[0]
	}
	if slices.Contains(args, "--") {
		return "single"
	}
	return "unit"
}

func main() {
	// Guest root must not ptrace its init or read its memory: without
	// CAP_SYS_PTRACE (which a context lacks) a non-dumpable process is out
	// of reach. execve would reset this, so vinit sets it itself.
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	switch mode(args) {
	case "check":
		return checkMain(args[1:])
	case "ctl":
		return ctlMain(args[1:])
	case "single":
		i := slices.Index(args, "--")
		return singleMain(args[:i], args[i+1:])
	}
	return unitMain(args)
}
