package vserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	vctx "github.com/vservers/vserver/context"
)

// Status is where a vserver is in its life.
type Status string

const (
	StatusStarting Status = "starting"
	StatusRunning  Status = "running"
	StatusStopping Status = "stopping"
	StatusStopped  Status = "stopped"
)

// State is a running vserver's record, ROOT/run/vhost/NAME/state.json.
type State struct {
	Name         string    `json:"name"`
	Status       Status    `json:"status"`
	Image        string    `json:"image"`
	Addresses    []string  `json:"addresses,omitempty"`
	Monitor      int       `json:"monitor_pid"`
	MonitorStart uint64    `json:"monitor_start_time"`
	Undo         vctx.Undo `json:"undo"`
	// Capabilities and Seccomp are what the context's processes got, for
	// vhost exec to give its commands the same.
	Capabilities []string  `json:"capabilities"`
	Seccomp      bool      `json:"seccomp"`
	Started      time.Time `json:"started"` // when the current boot began
	Boots        int       `json:"boots"`   // 1 plus the guest's reboots
	LastExit     string    `json:"last_exit,omitempty"`
}

const stateFile = "state.json"

// ReadState reads the state of vserver name; os.ErrNotExist when it is not
// running (and no killed monitor left a record).
func ReadState(p Paths, name string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(p.RunDir(name), stateFile))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state of %s: %w", name, err)
	}
	return &s, nil
}

// writeState replaces the state file atomically: a reader sees the old
// record or the new one, and a crash leaves one of them.
func writeState(p Paths, s *State) error {
	dir := p.RunDir(s.Name)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), append(b, '\n'))
}

// writeFileAtomic writes data to a temporary file beside name, syncs it and
// renames it over name, then syncs the directory.
func writeFileAtomic(name string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(f.Name(), name); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeState removes the run directory of a vserver that has left nothing
// else behind.
func removeState(p Paths, name string) error {
	dir := p.RunDir(name)
	var errs []error
	// The state file, the lock, and the temporary files of state writes
	// that a killed monitor left half done: nothing else lives here.
	leftovers, _ := filepath.Glob(filepath.Join(dir, "."+stateFile+".*"))
	for _, f := range append([]string{filepath.Join(dir, stateFile), filepath.Join(dir, "lock")}, leftovers...) {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
