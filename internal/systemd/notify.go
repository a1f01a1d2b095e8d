package systemd

import (
	"context"
	"fmt"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notify sends state (sd_notify(3) assignments, newline separated) to the
// service manager. It reports false, and no error, when there is none to
// tell ($NOTIFY_SOCKET unset).
func Notify(state string) (bool, error) {
	ok, err := daemon.SdNotify(false, state)
	if err != nil {
		return false, fmt.Errorf("sd_notify %q: %w", state, err)
	}
	return ok, nil
}

// Ready tells the service manager the service is up, with a status line.
func Ready(status string) error {
	_, err := Notify(daemon.SdNotifyReady + "\nSTATUS=" + status)
	return err
}

// Status sets the one-line status `systemctl status` shows.
func Status(status string) error {
	_, err := Notify("STATUS=" + status)
	return err
}

// Stopping tells the service manager the service is shutting down.
func Stopping(status string) error {
	_, err := Notify(daemon.SdNotifyStopping + "\nSTATUS=" + status)
	return err
}

// Watchdog pings the service manager's watchdog at half the interval it
// asked for ($WATCHDOG_USEC) until ctx is done. healthy is asked before each
// ping; a false answer skips it, so the manager restarts a service that
// hangs. Watchdog returns at once, false, when no watchdog is set.
func Watchdog(ctx context.Context, healthy func() bool) (bool, error) {
	every, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return false, fmt.Errorf("read watchdog interval: %w", err)
	}
	if every == 0 {
		return false, nil
	}
	go func() {
		t := time.NewTicker(every / 2)
		defer t.Stop()
		for {
			if healthy == nil || healthy() {
				daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return true, nil
}
