package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/logfmt"
	"github.com/vservers/vserver/reaper"
	"github.com/vservers/vserver/supervisor"
	"github.com/vservers/vserver/units"
)

// Exit statuses of unit mode. As PID 1 of a PID namespace, vinit ends with
// reboot(2), and the kernel reports it to the parent as killed by SIGHUP
// (reboot) or SIGINT (poweroff, halt); these statuses are used when that is
// not possible (no CAP_SYS_BOOT) or vinit is not PID 1.
const (
	exitPoweroff = 0   // poweroff or halt
	exitReboot   = 129 // reboot: 128+SIGHUP, as the shell reports a SIGHUP death
	exitUsage    = 2   // bad flags
)

// Signals and what they mean to vinit, after systemd, nspawn and LXC.
var (
	sigHalt     = unix.Signal(34 + 3) // SIGRTMIN+3
	sigPoweroff = unix.Signal(34 + 4) // SIGRTMIN+4
	sigReboot   = unix.Signal(34 + 5) // SIGRTMIN+5
)

// gcPercent is vinit's GOGC once its boot has settled, unless its
// environment sets one. An init's heap is small and lives long, and it
// allocates little between bursts (reload, control requests): collecting at
// 25% growth instead of 100% (and from 1 MiB instead of 4 MiB) keeps it
// near what is live. With 100 running units and 200 `ctl status` requests,
// RssAnon stays near 4.7 MiB instead of 7.2. During the boot the heap grows
// towards what will be live, and collecting that often would be wasted
// work: with 1 000 units, an eighth of vinit's CPU time.
const gcPercent = 25

// Grace periods of the shutdown.
const (
	stopAllTimeout = 5 * time.Minute  // bounds the services' own stop timeouts together
	killGrace      = 10 * time.Second // after SIGTERM to every process left, before SIGKILL
)

func unitMain(args []string) int {
	fs := flag.NewFlagSet("vinit", flag.ContinueOnError)
	unitsDir := fs.String("units", "/etc/vinit/units", "the units `directory`")
	runDir := fs.String("run-dir", "/run/vinit", "the `directory` of vinit's sockets")
	logDir := fs.String("log-dir", "/var/log/vinit", "the `directory` of the services' log files")
	cgroupFlag := fs.String("cgroup", "auto", "a cgroup2 `directory` to make a cgroup per service in; auto: vinit's own cgroup when it is PID 1 and the cgroup is writable; none: track services by process group and environment marker")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "vinit: unexpected argument %q (a command goes after --)\n", fs.Arg(0))
		return exitUsage
	}

	// The reaper subscribes to SIGCHLD before any child exists.
	r, err := reaper.New()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vinit: %v\n", err)
		return 1
	}
	sigc := pid1Signals // subscribed since init (main.go)
	ctx := context.Background()
	go r.Run(ctx)

	console := consoleWriter()
	log := logfmt.New(console, logfmt.LevelInfo)
	log.Info("vinit starting", "pid", os.Getpid(), "units", *unitsDir)

	cg := serviceCgroup(log, *cgroupFlag)
	halts := make(chan supervisor.Halt, 1)
	sup := supervisor.New(supervisor.Config{
		Reaper:   r,
		Log:      log,
		Console:  console,
		UnitsDir: *unitsDir,
		LogDir:   *logDir,
		RunDir:   *runDir,
		Cgroup:   cg,
		// The control socket's requests (a status of every service, logs)
		// allocate more than anything else once the boot is over: give it
		// back once they stop, not when the runtime's scavenger gets to it.
		OnQuiet: debug.FreeOSMemory,
		OnHalt: func(h supervisor.Halt) {
			select {
			case halts <- h:
			default: // one is on its way already
			}
		},
	})
	// A bad units directory leaves a running, reaping init that says what
	// is wrong, never an exited PID 1.
	set, _ := supervisor.LoadUnits(log, *unitsDir)
	log.Info("units loaded", "count", set.Len())
	// An init allocates in bursts: the units' YAML, then the starts. Each
	// burst's garbage goes back to the kernel once it is over, rather than
	// when the runtime's scavenger gets to it.
	debug.FreeOSMemory()
	if err := sup.Start(set); err != nil {
		log.Error("start services", "err", err)
	}
	go func() {
		if sup.Settled(ctx) == nil {
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(gcPercent)
			}
			debug.FreeOSMemory()
		}
	}()
	if err := sup.ServeControl(ctx, filepath.Join(*runDir, "ctl.sock")); err != nil {
		log.Error("no control socket", "err", err)
	}

	for {
		select {
		case sig := <-sigc:
			switch sig {
			case unix.SIGHUP:
				log.Info("reload", "signal", "SIGHUP")
				go func() {
					defer func() {
						if v := recover(); v != nil {
							log.Error("panic in reload", "panic", v)
						}
					}()
					ctx, cancel := context.WithTimeout(context.Background(), stopAllTimeout)
					defer cancel()
					if err := sup.ReloadDir(ctx); err != nil {
						log.Error("reload", "err", err)
					}
				}()
			case unix.SIGINT, sigReboot:
				log.Info("reboot", "signal", units.SignalString(sig.(unix.Signal)))
				return shutdown(log, sup, r, units.ActionReboot, 0)
			default: // SIGTERM, SIGPWR, halt, poweroff
				log.Info("poweroff", "signal", units.SignalString(sig.(unix.Signal)))
				return shutdown(log, sup, r, units.ActionPoweroff, 0)
			}
		case h := <-halts:
			log.Error("service failed", "service", h.Unit, "reason", h.Reason, "on_failure", h.Action)
			return shutdown(log, sup, r, h.Action, h.Code)
		}
	}
}

// shutdown ends the context: services stopped in reverse dependency order,
// then every process left TERMed and KILLed, all reaped, the disks synced;
// then, as PID 1, reboot(2). It returns the exit status for when vinit is
// not PID 1 or reboot(2) failed.
func shutdown(log *logfmt.Logger, sup *supervisor.Supervisor, r *reaper.Reaper, how units.Action, code int) int {
	ctx, cancel := context.WithTimeout(context.Background(), stopAllTimeout)
	if err := sup.Stop(ctx); err != nil {
		log.Error("stop services", "err", err)
	}
	cancel()
	ctx, cancel = context.WithTimeout(context.Background(), 2*killGrace)
	if err := supervisor.KillRemaining(ctx, r, killGrace, log); err != nil {
		log.Error("kill remaining processes", "err", err)
	}
	cancel()
	unix.Sync()

	switch how {
	case units.ActionReboot:
		code = exitReboot
	case units.ActionExit:
		log.Info("exit", "status", code)
		return code
	default:
		code = exitPoweroff
	}
	if os.Getpid() == 1 {
		cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
		if how == units.ActionReboot {
			cmd = unix.LINUX_REBOOT_CMD_RESTART
		}
		// In a PID namespace this does not return: the kernel ends the
		// namespace and reports the signal to the parent.
		err := unix.Reboot(cmd)
		log.Error("reboot(2) failed, exiting instead", "err", err, "status", code)
	}
	log.Info(string(how), "status", code)
	return code
}

// serviceCgroup resolves the --cgroup flag.
func serviceCgroup(log *logfmt.Logger, flag string) string {
	switch flag {
	case "none":
		return ""
	case "auto":
		if os.Getpid() != 1 {
			return ""
		}
		dir, err := supervisor.OwnCgroup()
		if err == nil {
			err = unix.Access(dir, unix.W_OK)
		}
		if err != nil {
			log.Warn("no cgroup per service: tracking by process group and marker", "err", err)
			return ""
		}
		flag = dir
	}
	log.Info("a cgroup per service", "parent", flag)
	return flag
}

// consoleWriter is stderr when it is open for writing, else /dev/kmsg.
func consoleWriter() io.Writer {
	if fl, err := unix.FcntlInt(2, unix.F_GETFL, 0); err == nil && fl&unix.O_ACCMODE != unix.O_RDONLY {
		return os.Stderr
	}
	if f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
		return f
	}
	return io.Discard
}
