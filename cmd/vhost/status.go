package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/internal/vserver"
)

func init() {
	commands["status"] = command{usage: "status [--json] [NAME]", run: statusCmd}
	commands["ps"] = command{usage: "ps [--json] NAME", run: psCmd}
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
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tPID\tPROC\tMEMORY\tCPU\tUPTIME\tADDRESSES\tIMAGE")
	for _, in := range infos {
		pid, procs, mem, cpu, up := "-", "-", "-", "-", "-"
		if in.Pid != 0 {
			pid = fmt.Sprint(in.Pid)
			procs = fmt.Sprint(in.Usage.Pids)
			mem = humanBytes(in.Usage.MemoryBytes)
			cpu = (time.Duration(in.Usage.CPUUser + in.Usage.CPUSystem)).Round(10 * time.Millisecond).String()
			up = time.Duration(in.Uptime).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.Name, in.Status, pid, procs, mem, cpu, up,
			orDash(strings.Join(in.Addresses, ",")), orDash(in.Image))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, in := range infos {
		if in.Problem != "" {
			fmt.Printf("%s: %s\n", in.Name, in.Problem)
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
	fmt.Fprintln(tw, "PID\tGUEST PID\tPPID\tUID\tSTAT\tRSS\tCOMMAND")
	for _, p := range procs {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%s\t%s\n", p.Pid, p.GuestPid, p.PPid, p.UID, p.State, humanBytes(p.RSS), p.Cmdline)
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
