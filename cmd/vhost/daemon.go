package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/hostd"
	"github.com/vservers/vserver/internal/systemd"
	"github.com/vservers/vserver/internal/vserver"
)

func init() {
	commands["daemon"] = command{
		usage: "daemon [run|start|stop [--keep-guests]|status] [--parallel N] [--stop-timeout D]",
		run:   daemonCmd,
	}
	commands["daemon-monitor"] = command{usage: "daemon-monitor NAME", hidden: true, run: monitorCmd}
	commands["list"] = command{usage: "list [--json]", run: listCmd}
}

// daemonFlags are the flags of `vhost daemon run` and `start`.
type daemonFlags struct {
	parallel    int
	stopTimeout time.Duration
	keepGuests  bool
}

func (f *daemonFlags) args() []string {
	return []string{"--parallel", fmt.Sprint(f.parallel), "--stop-timeout", f.stopTimeout.String()}
}

// daemonCmd is the host's vserver service: run it in the foreground (what
// systemd runs), start it in the background and wait until it is ready
// (what the SysV script runs), stop it, or tell whether it runs.
func daemonCmd(g *globals, args []string) error {
	verb := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		verb, args = args[0], args[1:]
	}
	var f daemonFlags
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.IntVar(&f.parallel, "parallel", 4, "vservers of one boot order booted at once")
	fs.DurationVar(&f.stopTimeout, "stop-timeout", 90*time.Second, "time to stop every vserver in")
	fs.BoolVar(&f.keepGuests, "keep-guests", false, "stop: leave the vservers running")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	switch verb {
	case "run":
		return daemonRun(g, f)
	case "start":
		return daemonStart(g, f)
	case "stop":
		return daemonStop(g, f)
	case "status":
		return daemonStatus(g)
	}
	return errUsage
}

// daemonLog logs to the journal, with fields, when stderr goes there (a
// systemd service), and as text to stderr elsewhere: the log file of
// `daemon start` and of a monitor.
func daemonLog() *slog.Logger {
	if systemd.StderrIsJournal() {
		return slog.New(systemd.NewLogHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// daemonRun is `vhost daemon`: boot, watch, and on SIGTERM or SIGINT stop
// every vserver in reverse boot order. SIGUSR2, or SIGTERM from systemd
// while it restarts the service, ends the daemon alone and leaves the
// guests running for the next one.
func daemonRun(g *globals, f daemonFlags) error {
	o, err := g.options()
	if err != nil {
		return err
	}
	log := daemonLog()
	o.Log = log
	lk, err := hostd.Lock(o.Paths)
	if err != nil {
		return err
	}
	defer lk.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGUSR2)
	d := hostd.New(hostd.Options{
		Vserver: o,
		Spawn: func(name string) error {
			return vserver.Spawn(o, name, []string{exe, "--root", g.root, "daemon-monitor", name})
		},
		Parallel:    f.parallel,
		StopTimeout: f.stopTimeout,
		Notify: func(state string) {
			if _, err := systemd.Notify(state); err != nil {
				log.Debug("notify the service manager", "err", err)
			}
		},
		Log: log,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if on, err := systemd.Watchdog(ctx, nil); err != nil {
		log.Warn("watchdog", "err", err)
	} else if on {
		log.Info("pinging the service manager's watchdog")
	}
	log.Info("vhost daemon starting", "root", g.root, "pid", os.Getpid())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var sig os.Signal
	select {
	case sig = <-sigs:
	case err := <-done:
		return err
	}
	cancel()
	<-done
	if sig == unix.SIGUSR2 || systemdRestarting(log) {
		d.Release()
		log.Info("vhost daemon exits, leaving the vservers running", "signal", sig)
		return nil
	}
	log.Info("vhost daemon stopping the vservers", "signal", sig, "timeout", f.stopTimeout)
	if err := d.Shutdown(); err != nil {
		return err
	}
	log.Info("vhost daemon stopped")
	return nil
}

// systemdRestarting reports whether systemd is restarting the service the
// daemon runs in (`systemctl restart vhost`, as against stop): then the
// guests stay up for the daemon systemd starts next.
func systemdRestarting(log *slog.Logger) bool {
	if os.Getenv("INVOCATION_ID") == "" || !systemd.Booted() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unit, err := systemd.UnitOf(ctx, os.Getpid())
	if err == nil {
		var job string
		if job, err = systemd.UnitJob(ctx, unit); err == nil {
			log.Info("systemd job of the service", "unit", unit, "job", job)
			return strings.Contains(job, "restart")
		}
	}
	log.Warn("can't tell a restart from a stop: stopping the vservers", "err", err)
	return false
}

// daemonStart starts the daemon in the background, detached, logging to
// ROOT/var/log/vhost/daemon.log, and returns once it says it is ready (its
// autostart vservers are up) or it failed. It hears "READY=1" on a
// notify socket of its own, as systemd would.
func daemonStart(g *globals, f daemonFlags) error {
	p := vserver.Paths{Root: g.root}
	if pid := hostd.DaemonPid(p); pid != 0 {
		fmt.Printf("vhost daemon runs already (pid %d)\n", pid)
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vhost-notify.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("listen for the daemon's readiness: %w", err)
	}
	defer conn.Close()
	logFile := p.LogFile("daemon")
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(exe, append([]string{"--root", g.root, "daemon", "run"}, f.args()...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	msgs := make(chan string)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return errors.New("the daemon's notify socket failed")
			}
			if status, ready := readyStatus(m); ready {
				fmt.Printf("vhost daemon started (pid %d): %s\n", cmd.Process.Pid, status)
				return nil
			}
		case err := <-exited:
			return fmt.Errorf("the daemon ended before it was ready (%v); see %s", err, logFile)
		}
	}
}

// readyStatus reads an sd_notify message: whether it says READY=1, and
// its STATUS.
func readyStatus(m string) (status string, ready bool) {
	for _, l := range strings.Split(m, "\n") {
		if l == "READY=1" {
			ready = true
		}
		if s, ok := strings.CutPrefix(l, "STATUS="); ok {
			status = s
		}
	}
	return status, ready
}

// daemonStop stops the daemon of the root, which stops the vservers
// first unless --keep-guests, and waits until it is gone.
func daemonStop(g *globals, f daemonFlags) error {
	p := vserver.Paths{Root: g.root}
	pid := hostd.DaemonPid(p)
	if pid == 0 {
		fmt.Println("vhost daemon is not running")
		return nil
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("stop the daemon (pid %d): %w", pid, err)
	}
	defer unix.Close(fd)
	sig := unix.SIGTERM
	if f.keepGuests {
		sig = unix.SIGUSR2
	}
	if hostd.DaemonPid(p) != pid {
		return nil // it ended meanwhile, and the pid may be another's
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("stop the daemon (pid %d): %w", pid, err)
	}
	wait := f.stopTimeout + 30*time.Second
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(wait.Milliseconds()))
	if err != nil || n == 0 {
		return fmt.Errorf("the daemon (pid %d) did not end within %s", pid, wait)
	}
	fmt.Printf("vhost daemon stopped (pid %d)\n", pid)
	return nil
}

// errNotRunning makes `vhost daemon status` exit 3, as LSB asks of
// `status` for a service that is not running.
var errNotRunning = errors.New("vhost daemon is not running")

func daemonStatus(g *globals) error {
	p := vserver.Paths{Root: g.root}
	pid := hostd.DaemonPid(p)
	if pid == 0 {
		fmt.Println(errNotRunning)
		os.Exit(3)
	}
	fmt.Printf("vhost daemon is running (pid %d)\n", pid)
	return printList(g, false)
}

// listCmd shows every vserver with what the daemon does with it: whether
// it boots with the host, in which order, its restart policy, and its
// state.
func listCmd(g *globals, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	return printList(g, *asJSON)
}

// listEntry is one line of vhost list: how the host boots a vserver.
type listEntry struct {
	Name      string         `json:"name"`
	Autostart *bool          `json:"autostart"`  // null when the config is broken
	BootOrder *int           `json:"boot_order"` // null when the config is broken
	Restart   string         `json:"restart,omitempty"`
	Status    vserver.Status `json:"status"`
	Problem   string         `json:"problem,omitempty"`
}

func printList(g *globals, asJSON bool) error {
	p := vserver.Paths{Root: g.root}
	infos, err := vserver.List(vserver.Options{Paths: p})
	if err != nil {
		return err
	}
	entries := make([]listEntry, 0, len(infos))
	for _, in := range infos {
		e := listEntry{Name: in.Name, Status: in.Status, Problem: in.Problem}
		if cfg, err := vserver.Load(p, in.Name); err == nil {
			e.Autostart, e.BootOrder, e.Restart = &cfg.Autostart, &cfg.BootOrder, cfg.Restart
			if e.Restart == "" {
				e.Restart = "never"
			}
		}
		entries = append(entries, e)
	}
	if asJSON {
		return printJSON(entries)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tAUTOSTART\tORDER\tRESTART\tSTATE\tPROBLEM")
	for _, e := range entries {
		auto, order, restart := "-", "-", "-"
		if e.Autostart != nil {
			auto, order, restart = "no", fmt.Sprint(*e.BootOrder), e.Restart
			if *e.Autostart {
				auto = "yes"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, auto, order, restart, e.Status, e.Problem)
	}
	return tw.Flush()
}
