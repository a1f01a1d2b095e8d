//go:build !linux

package systemd

import (
	"context"
	"errors"
)

var errNotLinux = errors.New("systemd integration needs Linux")

// StartScope needs Linux.
func StartScope(ctx context.Context, name string, pid int, props ScopeProps) (string, error) {
	return "", errNotLinux
}

// StopScope needs Linux.
func StopScope(ctx context.Context, name string) error { return errNotLinux }

// UnitOf needs Linux.
func UnitOf(ctx context.Context, pid int) (string, error) { return "", errNotLinux }

// UnitJob needs Linux.
func UnitJob(ctx context.Context, unit string) (string, error) { return "", errNotLinux }

// Machine is what machined is told about a guest.
type Machine struct {
	Root      string
	IfIndices []int
}

// RegisterMachine needs Linux.
func RegisterMachine(ctx context.Context, name string, leader int, m Machine) error {
	return errNotLinux
}

// UnregisterMachine needs Linux.
func UnregisterMachine(ctx context.Context, name string) error { return errNotLinux }

// TerminateMachine needs Linux.
func TerminateMachine(ctx context.Context, name string) error { return errNotLinux }
