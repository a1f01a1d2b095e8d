package context

import (
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/cgroup"
	"github.com/vservers/vserver/internal/proc"
)

// Cleanup removes everything u records: it kills the context's init (when
// the PID still names it) and every process left in its cgroup, removes the
// cgroup and deletes the host end of the veth pair. It is idempotent: what
// is already gone is skipped.
func Cleanup(u Undo) error { return cleanup(u, true) }

// CleanupExited is Cleanup for a context whose init its caller has seen
// exit, on the path every guest's end takes: it leaves the veth pair to the
// kernel. With no process left in it, the guest's network namespace goes,
// and the kernel deletes the pair with it in the background; deleting the
// host end here would only wait, in the netlink call, for the RCU grace
// periods of a device's unregistration (about 36 ms on the build machine:
// most of a short vhost run). A veth of the same name still going when the
// vserver boots again is replaced then (see addVeth). A network namespace
// that something outside the context keeps alive (an nsenter -n, an ip
// netns attach) keeps the pair too, until vhost cleanup.
func CleanupExited(u Undo) error { return cleanup(u, false) }

func cleanup(u Undo, deleteVeth bool) error {
	var errs []error
	if Alive(u) {
		if err := killAndWait(u.Pid, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if u.Cgroup != "" {
		if g, err := cgroup.Open(u.Cgroup); err != nil {
			errs = append(errs, err)
		} else if len(g.Dirs()) > 0 {
			if err := g.Kill(); err != nil {
				errs = append(errs, err)
			}
			if err := g.RemoveWhenEmpty(10 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if deleteVeth && u.HostIf != "" {
		if l, err := netlink.LinkByName(u.HostIf); err == nil && l.Type() == "veth" {
			if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("delete veth %s: %w", u.HostIf, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Alive reports whether the init that u records is still running: the PID
// names the same process (not a recycled PID), and it has not exited (a
// zombie waiting for its parent to reap it has).
func Alive(u Undo) bool {
	if u.Pid <= 0 {
		return false
	}
	st, err := proc.ReadStat(u.Pid)
	return err == nil && st.StartTime == u.StartTime && st.State != 'Z' && st.State != 'X'
}

// killAndWait SIGKILLs pid and waits until it has exited. In a PID namespace
// the kernel then kills every other process of the namespace too.
func killAndWait(pid int, timeout time.Duration) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if err == unix.ESRCH {
			return nil
		}
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && err != unix.ESRCH {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	return WaitPidfd(fd, timeout)
}

// WaitPidfd waits until the process behind the pidfd has exited.
func WaitPidfd(fd int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms <= 0 {
			return errors.New("process did not exit in time")
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
	}
}

// ProcStartTime is the start time of pid in clock ticks since boot (field 22
// of /proc/PID/stat): with the PID it names one process for good.
func ProcStartTime(pid int) (uint64, error) {
	st, err := proc.ReadStat(pid)
	return st.StartTime, err
}
