package hostd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/internal/systemd"
	"github.com/vservers/vserver/internal/vserver"
)

// MonitorUnit is the transient scope a vserver's monitor moves into on a
// systemd host: vhostmon-NAME.scope in system.slice. It is not the
// guest's scope (vhost-NAME.scope): `machinectl terminate` kills the
// guest, and the monitor lives on to clean up after it.
func MonitorUnit(name string) string { return "vhostmon-" + name + ".scope" }

// RunMonitor is the monitor of vserver name as the daemon starts it (the
// `vhost daemon-monitor NAME` command): vserver.Monitor plus the host's
// bookkeeping. With useSystemd it first moves itself out of the daemon's
// cgroup into MonitorUnit(name), so stopping or restarting vhost.service
// does not kill it, and registers the guest with systemd-machined once its
// init runs. When the monitor is done it writes the ExitRecord the daemon
// decides restarts by. ready is called as vserver.Monitor calls it.
func RunMonitor(o vserver.Options, name string, useSystemd bool, ready func(error)) error {
	log := o.Log.With("vserver", name)
	// Before anything can ask us to stop: a SIGTERM from here on is a
	// request, and the record says so.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	defer signal.Stop(sigs)
	if useSystemd {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := systemd.StartScope(ctx, name, os.Getpid(), systemd.ScopeProps{
			Unit: MonitorUnit(name), Slice: "system.slice", NoDelegate: true,
			Description: "vhost monitor of vserver " + name,
		})
		cancel()
		if err != nil {
			err = fmt.Errorf("vserver %s: move the monitor out of the daemon's cgroup: %w", name, err)
			ready(err)
			return err
		}
	}
	registered := false
	out, err := vserver.Monitor(o, name, vserver.Console{Stdout: os.Stdout, Stderr: os.Stderr}, func(err error) {
		if err == nil && useSystemd {
			registered = register(o.Paths, name, log)
		}
		ready(err)
	})
	if registered {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if uerr := systemd.UnregisterMachine(ctx, name); uerr != nil {
			log.Warn("unregister from systemd-machined", "err", uerr)
		}
		cancel()
	}
	rec := ExitRecord{Outcome: out, Time: time.Now()}
	select {
	case <-sigs:
		rec.Requested = true
	default:
	}
	if err != nil {
		rec.Error = err.Error()
	}
	if werr := WriteExit(o.Paths, name, rec); werr != nil {
		log.Warn("record how the guest ended", "err", werr)
	}
	return err
}

// register registers the running guest with systemd-machined when its
// init is in the guest's own scope, vhost-NAME.scope: machined makes the
// leader's unit the machine's, and any other unit (the monitor's, the
// daemon's) must not be what `machinectl terminate` stops.
func register(p vserver.Paths, name string, log *slog.Logger) bool {
	st, err := vserver.ReadState(p, name)
	if err != nil {
		log.Warn("register with systemd-machined", "err", err)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unit, err := systemd.UnitOf(ctx, st.Undo.Pid)
	if err != nil || unit != systemd.ScopeUnit(name) {
		log.Info("not registered with systemd-machined: the guest's init is not in its own scope",
			"unit", unit, "want", systemd.ScopeUnit(name), "err", err)
		return false
	}
	var m systemd.Machine
	if ifc, err := net.InterfaceByName(vctx.HostIfName(name)); err == nil {
		m.IfIndices = []int{ifc.Index}
	}
	if err := systemd.RegisterMachine(ctx, name, st.Undo.Pid, m); err != nil {
		log.Warn("register with systemd-machined", "err", err)
		return false
	}
	log.Info("registered with systemd-machined", "leader", st.Undo.Pid, "unit", unit)
	return true
}
