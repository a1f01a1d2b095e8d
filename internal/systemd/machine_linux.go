package systemd

import (
	"context"
	"errors"
	"fmt"

	"github.com/coreos/go-systemd/v22/machine1"
	"github.com/godbus/dbus/v5"
)

// Machine is what machined is told about a guest besides its name and
// leader.
type Machine struct {
	// Root is the guest's root directory on the host, absolute, or "".
	Root string
	// IfIndices are the host ends of the guest's network links, so
	// `machinectl status` can show its addresses.
	IfIndices []int
}

// machineName is what machined calls the machine of vserver name: the
// name itself, so `machinectl poweroff NAME` does what it says.
func machineName(name string) string { return name }

func connectMachined(ctx context.Context) (*machine1.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := machine1.New()
	if err != nil {
		return nil, fmt.Errorf("connect to systemd-machined: %w", err)
	}
	return c, nil
}

// RegisterMachine registers vserver name with systemd-machined as a
// container whose leader is the guest's init, pid leader (a host PID).
// machined makes the unit leader is in the machine's unit, so call it
// after the init is in its scope (StartScope): then `machinectl terminate`
// stops vhost-NAME.scope, `machinectl poweroff` sends SIGRTMIN+4 to the
// init and `machinectl reboot` SIGINT.
func RegisterMachine(ctx context.Context, name string, leader int, m Machine) error {
	c, err := connectMachined(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if len(m.IfIndices) > 0 {
		err = c.RegisterMachineWithNetwork(machineName(name), nil, "vhost", "container", leader, m.Root, m.IfIndices)
	} else {
		err = c.RegisterMachine(machineName(name), nil, "vhost", "container", leader, m.Root)
	}
	if err != nil {
		return fmt.Errorf("register machine %s: %w", name, err)
	}
	return nil
}

// UnregisterMachine tells machined to forget vserver name without touching
// its processes. A machine machined does not know is not an error.
func UnregisterMachine(ctx context.Context, name string) error {
	return machineCall(ctx, "UnregisterMachine", name)
}

// TerminateMachine has machined end vserver name: it stops the machine's
// unit, which kills every process in it. A machine machined does not know
// is not an error.
func TerminateMachine(ctx context.Context, name string) error {
	return machineCall(ctx, "TerminateMachine", name)
}

func machineCall(ctx context.Context, method, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bus, err := systemBus()
	if err != nil {
		return err
	}
	defer bus.Close()
	err = bus.Object("org.freedesktop.machine1", "/org/freedesktop/machine1").
		CallWithContext(ctx, "org.freedesktop.machine1.Manager."+method, 0, machineName(name)).Err
	var de dbus.Error
	if errors.As(err, &de) && de.Name == "org.freedesktop.machine1.NoSuchMachine" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, name, err)
	}
	return nil
}
