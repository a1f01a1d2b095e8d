//go:build !linux

package single

import "errors"

// Run is implemented on Linux only.
func Run(cfg Config) (int, error) {
	return ExitFailure, errors.New("single-command mode needs Linux")
}

// ReexecWithoutPreemption is implemented on Linux only.
func ReexecWithoutPreemption() error { return nil }

// PreemptionOff is implemented on Linux only.
func PreemptionOff() bool { return false }
