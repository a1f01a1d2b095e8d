package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/internal/vserver"
)

func init() {
	commands["status"] = command{usage: "status [--json] [NAME]", run: statusCmd}
	commands["ps"] = command{usage: "ps [--json] NAME", run: psCmd}
	commands["top"] = command{usage: "top [--interval D] [-n N] [--json]", run: topCmd}
}

func statusCmd(g *globals, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil || fs.NArg() > 1 {
		return errUsage
	}
	o := vserver.Options{Paths: vserver.Paths{Root: g.root}}
	var infos []vserver.Info
	if fs.NArg() == 1 {
		if err := vctx.ValidName(fs.Arg(0)); err != nil {
			return err
		}
		infos = []vserver.Info{vserver.Describe(o, fs.Arg(0))}
	} else {
		var err error
		if infos, err = vserver.List(o); err != nil {
			return err
		}
	}
	if *asJSON {
		return printJSON(infos)
	}
	return printStatus(os.Stdout, infos)
}

// printStatus prints vserver-stat's columns (CTX PROC VSZ RSS userTIME
// sysTIME UPTIME NAME), then the state, addresses and image, and the
// problems below the table.
func printStatus(w io.Writer, infos []vserver.Info) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CTX\tPROC\tVSZ\tRSS\tuserTIME\tsysTIME\tUPTIME\tNAME\tSTATUS\tDISK\tADDRESSES\tIMAGE")
	for _, in := range infos {
		ctx := "-"
		if in.Context != 0 {
			ctx = fmt.Sprint(in.Context)
		}
		procs, vsz, rss, user, sys, up := "-", "-", "-", "-", "-", "-"
		if in.Pid != 0 {
			procs = fmt.Sprint(in.Procs)
			vsz, rss = humanBytes(in.VSZ), humanBytes(in.RSS)
			user, sys = cpuTime(in.Usage.CPUUser), cpuTime(in.Usage.CPUSystem)
			up = time.Duration(in.Uptime).String()
		}
		disk := humanBytes(in.Disk)
		if in.DiskLimit > 0 {
			disk += "/" + humanBytes(in.DiskLimit)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ctx, procs, vsz, rss, user, sys, up,
			in.Name, in.Status, disk, orDash(strings.Join(in.Addresses, ",")), orDash(in.Image))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, in := range infos {
		if in.Problem != "" {
			fmt.Fprintf(w, "%s: %s\n", in.Name, in.Problem)
		}
	}
	return nil
}

// cpuTime prints CPU nanoseconds as vserver-stat does: m:ss.cc.
func cpuTime(ns uint64) string {
	d := time.Duration(ns)
	return fmt.Sprintf("%d:%02d.%02d", int(d.Minutes()), int(d.Seconds())%60, int(d.Milliseconds()/10)%100)
}

// topCmd redraws the status table every interval until interrupted.
func topCmd(g *globals, args []string) error {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	interval := fs.Duration("interval", 2*time.Second, "time between updates")
	n := fs.Int("n", 0, "stop after `N` updates (0: run until interrupted)")
	asJSON := fs.Bool("json", false, "print one JSON array per update")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return errUsage
	}
	o := vserver.Options{Paths: vserver.Paths{Root: g.root}}
	for i := 0; *n == 0 || i < *n; i++ {
		if i > 0 {
			time.Sleep(*interval)
		}
		infos, err := vserver.List(o)
		if err != nil {
			return err
		}
		if *asJSON {
			if err := json.NewEncoder(os.Stdout).Encode(infos); err != nil {
				return err
			}
			continue
		}
		if term.IsTerminal(int(os.Stdout.Fd())) {
			fmt.Print("\x1b[H\x1b[2J") // home, clear
		}
		fmt.Printf("vhost top - %s, every %v\n\n", time.Now().Format("15:04:05"), *interval)
		if err := printStatus(os.Stdout, infos); err != nil {
			return err
		}
	}
	return nil
}

func psCmd(g *globals, args []string) error {
	fs := flag.NewFlagSet("ps", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return errUsage
	}
	name := fs.Arg(0)
	if err := vctx.ValidName(name); err != nil {
		return err
	}
	st, err := vserver.ReadState(vserver.Paths{Root: g.root}, name)
	if err != nil {
		return fmt.Errorf("vserver %s: %w", name, vserver.ErrNotRunning)
	}
	procs, err := vctx.Procs(st.Undo)
	if err != nil {
		return fmt.Errorf("vserver %s: %w", name, err)
	}
	if *asJSON {
		return printJSON(procs)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tGUEST PID\tPPID\tUID\tSTAT\tVSZ\tRSS\tCOMMAND")
	for _, p := range procs {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", p.Pid, p.GuestPid, p.PPid, p.UID, p.State, humanBytes(p.VSZ), humanBytes(p.RSS), p.Cmdline)
	}
	return tw.Flush()
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
