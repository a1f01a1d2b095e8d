// Command vhost runs vservers: it builds their images, creates their
// contexts, starts vinit in them, and shows and stops them.
//
// Every path vhost uses lives under one root (--root, or $VHOST_ROOT;
// default /), so tests and experiments never touch the host's /etc or /var.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
)

// globals are the flags every subcommand shares.
type globals struct {
	root string // --root: prefix of every path vhost reads or writes
}

// command is one subcommand: its usage line and what it does. Each lives in
// a file of its own.
type command struct {
	usage  string
	hidden bool // internal use only
	run    func(g *globals, args []string) error
}

var commands = map[string]command{}

// errUsage makes main print the subcommand's usage and exit 2.
var errUsage = errors.New("usage")

func main() {
	g := &globals{}
	fs := flag.NewFlagSet("vhost", flag.ContinueOnError)
	fs.StringVar(&g.root, "root", envOr("VHOST_ROOT", "/"), "prefix of every path vhost uses")
	fs.Usage = usage
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() == 0 {
		usage()
		os.Exit(2)
	}
	name, args := fs.Arg(0), fs.Args()[1:]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "vhost: unknown command %q\n", name)
		usage()
		os.Exit(2)
	}
	if err := cmd.run(g, args); err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "usage: vhost %s\n", cmd.usage)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "vhost %s: %v\n", name, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: vhost [--root DIR] COMMAND [ARGS]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  vhost %s\n", commands[n].usage)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
