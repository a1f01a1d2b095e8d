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
	"slices"

	"golang.org/x/sys/unix"
)

func main() {
	// Guest root must not ptrace its init or read its memory: without
	// CAP_SYS_PTRACE (which a context lacks) a non-dumpable process is out
	// of reach. execve would reset this, so vinit sets it itself.
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return checkMain(args[1:])
		case "ctl":
			return ctlMain(args[1:])
		}
	}
	if i := slices.Index(args, "--"); i >= 0 {
		return singleMain(args[:i], args[i+1:])
	}
	return unitMain(args)
}
