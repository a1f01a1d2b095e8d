package systemd

import (
	"context"
	"fmt"

	"github.com/godbus/dbus/v5"
)

// UnitJob returns the type of the job systemd is running or has queued for
// unit ("stop", "restart", "start", ...), or "" when there is none. A
// service that gets SIGTERM asks this to tell `systemctl stop` (job
// "stop") from `systemctl restart` (job "restart", until its stop half is
// done).
func UnitJob(ctx context.Context, unit string) (string, error) {
	c, err := connect(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	p, err := c.GetUnitPropertyContext(ctx, unit, "Job")
	if err != nil {
		return "", fmt.Errorf("read job of %s: %w", unit, err)
	}
	// Job is (u id, o path); id 0 means no job.
	var job struct {
		ID   uint32
		Path dbus.ObjectPath
	}
	if err := dbus.Store([]any{p.Value.Value()}, &job); err != nil {
		return "", fmt.Errorf("read job of %s: %w", unit, err)
	}
	if job.ID == 0 {
		return "", nil
	}
	bus, err := systemBus()
	if err != nil {
		return "", err
	}
	defer bus.Close()
	v, err := bus.Object("org.freedesktop.systemd1", job.Path).GetProperty("org.freedesktop.systemd1.Job.JobType")
	if err != nil {
		return "", fmt.Errorf("read job %s of %s: %w", job.Path, unit, err)
	}
	t, _ := v.Value().(string)
	return t, nil
}
