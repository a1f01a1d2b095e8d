package hostd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/vserver"
)

// ErrDaemonRunning says another daemon serves the root.
var ErrDaemonRunning = errors.New("a vhost daemon runs already")

func pidFile(p vserver.Paths) string { return filepath.Join(Dir(p), "pid") }

// Lock makes this process the daemon of root p: it takes the lock on
// ROOT/run/vhostd/pid, held until the returned file is closed or the
// process dies, and writes its PID there.
func Lock(p vserver.Paths) (*os.File, error) {
	if err := os.MkdirAll(Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(pidFile(p), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, ErrDaemonRunning
		}
		return nil, fmt.Errorf("lock %s: %w", pidFile(p), err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", pidFile(p), err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", pidFile(p), err)
	}
	return f, nil
}

// DaemonPid returns the PID of the daemon of root p, or 0 when none runs
// (nobody holds the lock).
func DaemonPid(p vserver.Paths) int {
	f, err := os.Open(pidFile(p))
	if err != nil {
		return 0
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return 0
	}
	b, _ := os.ReadFile(pidFile(p))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
