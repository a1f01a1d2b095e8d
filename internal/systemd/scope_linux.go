package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/vservers/vserver/internal/cgroup"
)

// connect opens a connection to systemd: the system bus, or systemd's
// private socket when root and the bus is down.
func connect(ctx context.Context) (*sddbus.Conn, error) {
	c, err := sddbus.NewWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd: %w", err)
	}
	return c, nil
}

// wait waits for the result of a job systemd reports on ch.
func wait(ctx context.Context, what string, ch <-chan string) error {
	select {
	case r := <-ch:
		if r != "done" {
			return fmt.Errorf("%s: job %s", what, r)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

// StartScope creates the transient scope of vserver name (vhost-NAME.scope
// in machine.slice unless props say otherwise) with pid in it, Delegate=yes
// and the limits of props, and waits until systemd has started it. It
// returns the scope's cgroup directory, absolute (under cgroup.Cgroup2Dir).
func StartScope(ctx context.Context, name string, pid int, props ScopeProps) (string, error) {
	unit := props.unit(name)
	if !strings.HasSuffix(unit, ".scope") {
		return "", fmt.Errorf("start scope %s: not a .scope unit", unit)
	}
	c, err := connect(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	ch := make(chan string, 1)
	for {
		_, err := c.StartTransientUnitContext(ctx, unit, "fail", props.properties(name, pid), ch)
		if err == nil {
			break
		}
		if !isDBusError(err, "org.freedesktop.systemd1.UnitExists") {
			return "", fmt.Errorf("start scope %s: %w", unit, err)
		}
		// The scope of this vserver's last boot is still loaded: its
		// processes have just ended and systemd has not collected it
		// yet, or it ended failed and stays until reset. The caller holds
		// the vserver's lock, so it is ours: stop it (killing whatever of
		// the old guest might be left), reset it, and try again.
		if err := stopWith(ctx, c, unit); err != nil {
			return "", fmt.Errorf("start scope %s: the last boot's is still there: %w", unit, err)
		}
		c.ResetFailedUnitContext(ctx, unit) // fails when it is not failed: nothing to do
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("start scope %s: the last boot's is still there: %w", unit, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := wait(ctx, "start scope "+unit, ch); err != nil {
		return "", err
	}
	cg, err := controlGroup(ctx, c, unit)
	if err != nil || cg == "" {
		// The unit is gone already (its processes ended) or systemd is
		// old: the process itself says where it is.
		b, rerr := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
		if rerr != nil {
			return "", fmt.Errorf("start scope %s: find its cgroup: %w", unit, errors.Join(err, rerr))
		}
		cg = cgroupOf(string(b))
	}
	if cg == "" {
		return "", fmt.Errorf("start scope %s: no cgroup v2 path", unit)
	}
	return filepath.Join(cgroup.Cgroup2Dir(), cg), nil
}

// controlGroup reads a unit's ControlGroup property, e.g.
// "/machine.slice/vhost-x.scope".
func controlGroup(ctx context.Context, c *sddbus.Conn, unit string) (string, error) {
	p, err := c.GetUnitTypePropertyContext(ctx, unit, "Scope", "ControlGroup")
	if err != nil {
		return "", fmt.Errorf("read ControlGroup of %s: %w", unit, err)
	}
	s, _ := p.Value.Value().(string)
	return s, nil
}

// StopScope stops vserver name's scope (vhost-NAME.scope, or props' Unit:
// pass the props StartScope got), killing what still runs in it, and waits
// for it. A scope that does not exist (it ended when its last process
// did) is not an error.
func StopScope(ctx context.Context, name string) error {
	return stopUnit(ctx, ScopeUnit(name))
}

func stopUnit(ctx context.Context, unit string) error {
	c, err := connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return stopWith(ctx, c, unit)
}

// stopWith stops unit over c and waits for it; a unit that does not exist
// is not an error.
func stopWith(ctx context.Context, c *sddbus.Conn, unit string) error {
	ch := make(chan string, 1)
	if _, err := c.StopUnitContext(ctx, unit, "replace", ch); err != nil {
		if isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") {
			return nil
		}
		return fmt.Errorf("stop scope %s: %w", unit, err)
	}
	return wait(ctx, "stop scope "+unit, ch)
}

// isDBusError reports whether err is the D-Bus error called name.
func isDBusError(err error, name string) bool {
	var de dbus.Error
	return errors.As(err, &de) && de.Name == name
}

// UnitOf returns the name of the unit process pid belongs to, e.g.
// "vhost.service" or "vhost-web.scope".
func UnitOf(ctx context.Context, pid int) (string, error) {
	c, err := connect(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	u, err := c.GetUnitNameByPID(ctx, uint32(pid))
	if err != nil {
		return "", fmt.Errorf("unit of pid %d: %w", pid, err)
	}
	return u, nil
}

// systemBus opens a private connection to the system bus, for the calls
// go-systemd does not wrap.
func systemBus() (*dbus.Conn, error) {
	bus, err := dbus.SystemBusPrivate()
	if err != nil {
		return nil, fmt.Errorf("connect to the system bus: %w", err)
	}
	if err := bus.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		bus.Close()
		return nil, fmt.Errorf("connect to the system bus: %w", err)
	}
	if err := bus.Hello(); err != nil {
		bus.Close()
		return nil, fmt.Errorf("connect to the system bus: %w", err)
	}
	return bus, nil
}
