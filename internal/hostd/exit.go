package hostd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vservers/vserver/internal/vserver"
)

// ExitRecord is how a vserver's last run ended, as its monitor wrote it
// before exiting.
type ExitRecord struct {
	Outcome vserver.Outcome `json:"outcome"`
	// Requested says the monitor was asked to stop (SIGTERM or SIGINT:
	// vhost stop, the daemon's shutdown), so the end is no failure to
	// restart after.
	Requested bool      `json:"requested"`
	Error     string    `json:"error,omitempty"`
	Time      time.Time `json:"time"`
}

// Dir is the daemon's runtime directory, ROOT/run/vhostd.
func Dir(p vserver.Paths) string { return filepath.Join(p.Root, "run/vhostd") }

func exitFile(p vserver.Paths, name string) string {
	return filepath.Join(Dir(p), "exit", name+".json")
}

// WriteExit records how vserver name's run ended, atomically.
func WriteExit(p vserver.Paths, name string, rec ExitRecord) error {
	f := exitFile(p, name)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp := f + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write exit record of %s: %w", name, err)
	}
	if err := os.Rename(tmp, f); err != nil {
		return fmt.Errorf("write exit record of %s: %w", name, err)
	}
	return nil
}

// TakeExit reads and removes the exit record of vserver name; nil when
// there is none (the monitor was killed, or it was not started by the
// daemon's monitor command).
func TakeExit(p vserver.Paths, name string) (*ExitRecord, error) {
	f := exitFile(p, name)
	b, err := os.ReadFile(f)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	os.Remove(f)
	var rec ExitRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("exit record of %s: %w", name, err)
	}
	return &rec, nil
}
