package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vservers/vserver/internal/strictyaml"
	"github.com/vservers/vserver/units"
)

// checkMain is `vinit check [DIR]`: it validates a units directory as vinit
// would load it, printing every problem as file:line:col: field: message on
// stderr (exit 1), or the number of units and their start order on stdout
// (exit 0). Usage errors exit 2.
func checkMain(args []string) int {
	return runCheck(args, os.Stdout, os.Stderr)
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vinit check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vinit check [DIR]\n\nValidate the unit files of DIR (default %s): report every error\nas file:line:col: field: message and exit 1, or print the start order.\n", units.DefaultDir)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	dir := units.DefaultDir
	switch fs.NArg() {
	case 0:
	case 1:
		dir = fs.Arg(0)
	default:
		fmt.Fprintf(stderr, "vinit check: want at most one directory, got %d arguments\n", fs.NArg())
		fs.Usage()
		return 2
	}

	set, err := units.LoadDir(dir)
	if err != nil {
		var list strictyaml.Errors
		if errors.As(err, &list) {
			fmt.Fprintln(stderr, list)
		} else {
			fmt.Fprintf(stderr, "vinit check: %v\n", err)
		}
		return 1
	}
	noun := "units"
	if set.Len() == 1 {
		noun = "unit"
	}
	fmt.Fprintf(stdout, "%d %s OK\n", set.Len(), noun)
	if set.Len() > 0 {
		fmt.Fprintf(stdout, "start order: %s\n", strings.Join(set.Order(), " "))
	}
	return 0
}
