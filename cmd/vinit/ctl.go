package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/minijson"
	"github.com/vservers/vserver/supervisor"
)

const ctlUsage = `usage: vinit ctl [--socket PATH] COMMAND
  status [--json]          every service: state, pid, uptime, restarts, last exit
  start NAME               start a service (its start limit begins anew)
  stop NAME                stop a service and what requires it
  restart NAME             stop, then start, a service and what requires it
  signal NAME SIGNAL       send a signal (TERM, SIGHUP, 9) to a service's main process
  logs [-f] [-n N] NAME    the last N lines of a service's log (10), -f to follow
  reload                   read the units directory again and apply what changed
`

func ctlMain(args []string) int {
	fs := flag.NewFlagSet("vinit ctl", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, ctlUsage) }
	socket := fs.String("socket", "/run/vinit/ctl.sock", "the control socket `path`")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM)
	defer stop()
	err := ctl(ctx, *socket, fs.Args(), os.Stdout)
	if err == errUsage {
		fs.Usage()
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vinit ctl: %v\n", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

// ctl runs one command against the socket, printing to out.
func ctl(ctx context.Context, socket string, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	cmd, args := args[0], args[1:]
	req := supervisor.Request{Cmd: cmd}
	switch cmd {
	case "status":
		fs := flag.NewFlagSet("status", flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "print JSON")
		if fs.Parse(args) != nil || fs.NArg() > 0 {
			return errUsage
		}
		var services []supervisor.Status
		if err := supervisor.Call(ctx, socket, req, func(r supervisor.Response) error {
			services = r.Services
			return nil
		}); err != nil {
			return err
		}
		if *asJSON {
			return printStatusJSON(out, services)
		}
		printStatus(out, services, time.Now())
		return nil
	case "start", "stop", "restart":
		if len(args) != 1 {
			return errUsage
		}
		req.Name = args[0]
	case "signal":
		if len(args) != 2 {
			return errUsage
		}
		req.Name, req.Signal = args[0], args[1]
	case "reload":
		if len(args) != 0 {
			return errUsage
		}
	case "logs":
		fs := flag.NewFlagSet("logs", flag.ContinueOnError)
		fs.BoolVar(&req.Follow, "f", false, "follow")
		fs.IntVar(&req.Lines, "n", 10, "lines")
		if fs.Parse(args) != nil || fs.NArg() != 1 {
			return errUsage
		}
		req.Name = fs.Arg(0)
		err := supervisor.Call(ctx, socket, req, func(r supervisor.Response) error {
			_, err := fmt.Fprintln(out, r.Line)
			return err
		})
		if req.Follow && ctx.Err() != nil {
			return nil // interrupted: the normal end of -f
		}
		return err
	default:
		return errUsage
	}
	return supervisor.Call(ctx, socket, req, func(supervisor.Response) error { return nil })
}

// printStatusJSON writes services as an indented JSON array (as
// json.Encoder with SetIndent("", "  ") writes it), [] for none.
func printStatusJSON(out io.Writer, services []supervisor.Status) error {
	if services == nil {
		services = []supervisor.Status{}
	}
	b, err := supervisor.MarshalStatus(services)
	if err != nil {
		return err
	}
	_, err = out.Write(append(minijson.Indent(nil, b, "", "  "), '\n'))
	return err
}

// printStatus writes the table of services.
func printStatus(out io.Writer, services []supervisor.Status, now time.Time) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tPID\tUPTIME\tRESTARTS\tLAST EXIT\tREADY\tSTATUS")
	for _, st := range services {
		pid, uptime := "-", "-"
		if st.Pid != 0 {
			pid = strconv.Itoa(st.Pid)
			uptime = now.Sub(st.Started).Truncate(time.Second).String()
		}
		ready := "no"
		if st.Ready {
			ready = "yes"
		}
		text := st.StatusText
		if st.Error != "" {
			text = strings.TrimSpace(st.Error + "  " + text)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", st.Name, st.State, pid, uptime, st.Restarts, dash(st.LastExit), ready, dash(text))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
