package hostd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

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
// does not kill it (vserver.Monitor registers each boot's init with
// systemd-machined). When the monitor is done it writes the ExitRecord the
// daemon decides restarts by. ready is called as vserver.Monitor calls it.
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
	out, err := vserver.Monitor(o, name, vserver.Console{Stdout: os.Stdout, Stderr: os.Stderr}, ready)
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
