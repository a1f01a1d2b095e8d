package vserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/images"
	"github.com/vservers/vserver/internal/cgroup"
	"github.com/vservers/vserver/internal/quota"
)

// ReadyFd is the fd on which a detached monitor reports whether its guest
// came up: "ok\n", or the error, then EOF.
const ReadyFd = 3

// Spawn starts a detached monitor for vserver name by running argv (the
// vhost binary's `monitor` command), with the console going to the
// vserver's log file, and waits until the guest runs or the monitor fails.
func Spawn(o Options, name string, argv []string) error {
	if err := vctx.ValidName(name); err != nil {
		return err
	}
	cfg, err := Load(o.Paths, name)
	if err != nil {
		return err
	}
	if err := CheckConflicts(o.Paths, cfg); err != nil {
		return err
	}
	if st, err := ReadState(o.Paths, name); err == nil {
		if monitorAlive(o.Paths, st) || vctx.Alive(st.Undo) {
			return fmt.Errorf("vserver %s: %w (pid %d)", name, ErrRunning, st.Undo.Pid)
		}
	}
	logFile := o.Paths.LogFile(name)
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer logf.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, logf, logf
	cmd.ExtraFiles = []*os.File{w} // ReadyFd
	// A session of its own: the monitor outlives this command and the
	// terminal it ran on.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start monitor: %w", err)
	}
	msg, _ := io.ReadAll(r)
	s := strings.TrimSpace(string(msg))
	if s == "ok" {
		cmd.Process.Release()
		return nil
	}
	// A refused start returns once the monitor has finished undoing it,
	// so nothing of it runs or writes on after the command.
	cmd.Wait()
	if s != "" {
		return errors.New(s)
	}
	return fmt.Errorf("monitor of %s ended before the guest ran; see %s", name, logFile)
}

// monitorAlive reports whether the monitor st records still runs: its PID
// names the same process and the vserver's lock is held. The kernel drops a
// flock when its holder exits, so this is right even for a monitor that was
// killed and is not yet reaped.
func monitorAlive(p Paths, st *State) bool {
	if !vctx.Alive(vctx.Undo{Pid: st.Monitor, StartTime: st.MonitorStart}) {
		return false
	}
	f, err := os.Open(filepath.Join(p.RunDir(st.Name), "lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return err == unix.EWOULDBLOCK
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

// lockAfterMonitor takes the lock of a vserver whose monitor has died. A
// child the monitor was forking when it died holds a copy of the lock's
// descriptor, like every other, until its execve closes it: on a loaded
// host that takes a moment, so a refusal is retried for a while.
func lockAfterMonitor(p Paths, name string) (*os.File, error) {
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		lk, err := lock(p, name)
		if !errors.Is(err, ErrRunning) || time.Now().After(deadline) {
			return lk, err
		}
	}
}

// Stop stops vserver name: it asks the monitor to stop the guest (SIGTERM
// to init, the config's stop timeout, then SIGKILL to the whole context)
// and waits for it to finish. When the monitor was killed, Stop does its
// work itself from the state file.
func Stop(o Options, name string) error {
	st, err := ReadState(o.Paths, name)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("vserver %s: %w", name, ErrNotRunning)
	}
	if err != nil {
		return err
	}
	timeout, sig := 30*time.Second, unix.SIGTERM
	if cfg, err := Load(o.Paths, name); err == nil {
		timeout, sig = cfg.StopTimeout, cfg.stopSignal
	}
	if monitorAlive(o.Paths, st) {
		fd, err := unix.PidfdOpen(st.Monitor, 0)
		if err == nil {
			defer unix.Close(fd)
			if monitorAlive(o.Paths, st) {
				unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0)
				if err := vctx.WaitPidfd(fd, timeout+15*time.Second); err != nil {
					return fmt.Errorf("vserver %s: the monitor did not finish: %w", name, err)
				}
			}
		}
		if _, err := ReadState(o.Paths, name); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		// The monitor died without finishing: do it here.
	}
	return finish(o, name, st, timeout, sig)
}

// Cleanup removes what a vserver whose monitor was killed left behind,
// killing its guest at once if it still runs.
func Cleanup(o Options, name string) error {
	st, err := ReadState(o.Paths, name)
	if errors.Is(err, os.ErrNotExist) {
		return removeState(o.Paths, name)
	}
	if err != nil {
		return err
	}
	if monitorAlive(o.Paths, st) {
		return fmt.Errorf("vserver %s: its monitor (pid %d) is alive: use vhost stop", name, st.Monitor)
	}
	return finish(o, name, st, 0, 0)
}

// finish stops a guest that has no monitor: sig, up to timeout, then
// everything the undo record names is removed.
func finish(o Options, name string, st *State, timeout time.Duration, sig unix.Signal) error {
	lk, err := lockAfterMonitor(o.Paths, name)
	if err != nil {
		return err
	}
	defer lk.Close()
	if timeout > 0 && vctx.Alive(st.Undo) {
		if fd, err := unix.PidfdOpen(st.Undo.Pid, 0); err == nil {
			if vctx.Alive(st.Undo) {
				unix.PidfdSendSignal(fd, sig, nil, 0)
				vctx.WaitPidfd(fd, timeout)
			}
			unix.Close(fd)
		}
	}
	if err := vctx.Cleanup(st.Undo); err != nil {
		return fmt.Errorf("vserver %s: %w", name, err)
	}
	return removeState(o.Paths, name)
}

// Info is one vserver as `vhost status` shows it.
type Info struct {
	Name      string       `json:"name"`
	Context   int          `json:"context,omitempty"`
	Status    Status       `json:"status"`
	Image     string       `json:"image"`
	Addresses []string     `json:"addresses"`
	Autostart bool         `json:"autostart"`
	Pid       int          `json:"pid,omitempty"` // host PID of init
	Uptime    Duration     `json:"uptime,omitempty"`
	Boots     int          `json:"boots,omitempty"`
	Procs     int          `json:"procs,omitempty"` // processes in its PID namespace
	Usage     cgroup.Usage `json:"usage"`           // of its cgroup; Usage.Pids counts tasks (threads)
	Disk      int64        `json:"disk"`            // bytes the vserver wrote over its image
	DiskLimit int64        `json:"disk_limit,omitempty"`
	VSZ       int64        `json:"vsz,omitempty"` // summed over the context's processes, bytes
	RSS       int64        `json:"rss,omitempty"`
	Problem   string       `json:"problem,omitempty"` // a broken config, a killed monitor
}

// Duration prints as Go does, and marshals as seconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.0f", time.Duration(d).Seconds())), nil
}

// List describes every configured or running vserver, by name.
func List(o Options) ([]Info, error) {
	names := map[string]bool{}
	if ents, err := os.ReadDir(o.Paths.ConfigDir()); err == nil {
		for _, e := range ents {
			if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
				names[n] = true
			}
		}
	}
	if ents, err := os.ReadDir(filepath.Dir(o.Paths.RunDir("x"))); err == nil {
		for _, e := range ents {
			names[e.Name()] = true
		}
	}
	var out []Info
	for n := range names {
		out = append(out, Describe(o, n))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Describe tells what vserver name is doing.
func Describe(o Options, name string) Info {
	in := Info{Name: name, Status: StatusStopped}
	upper := filepath.Join(o.Paths.VserverDir(name), "upper")
	if cfg, err := Load(o.Paths, name); err != nil {
		in.Problem = firstLine(err.Error())
	} else {
		in.Image, in.Addresses, in.Autostart, in.Context = cfg.Image, cfg.Network.Addresses, cfg.Autostart, cfg.Context
		if cfg.Limits.Disk > 0 {
			if u, err := quota.Get(o.Paths.VserverDir(name), uint32(cfg.Context)); err == nil {
				in.Disk, in.DiskLimit = int64(u.Bytes), int64(u.LimitBytes)
			}
		}
	}
	if in.DiskLimit == 0 {
		if u, err := images.DiskUsage(upper); err == nil {
			in.Disk = u.Bytes
		}
	}
	st, err := ReadState(o.Paths, name)
	if err != nil {
		return in
	}
	in.Status, in.Image, in.Addresses, in.Boots = st.Status, st.Image, st.Addresses, st.Boots
	switch {
	case !vctx.Alive(st.Undo):
		in.Status = StatusStopped
		if !monitorAlive(o.Paths, st) {
			in.Problem = "monitor was killed; leftovers remain: vhost cleanup " + name
		}
		return in
	case !monitorAlive(o.Paths, st):
		in.Problem = "running without its monitor"
	}
	in.Pid = st.Undo.Pid
	in.Uptime = Duration(time.Since(st.Started).Round(time.Second))
	if g, err := cgroup.Open(st.Undo.Cgroup); err == nil {
		in.Usage, _ = g.Usage()
	}
	if procs, err := vctx.Procs(st.Undo); err == nil {
		in.Procs = len(procs)
		for _, p := range procs {
			in.VSZ += p.VSZ
			in.RSS += p.RSS
		}
	}
	return in
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Scan()
	return sc.Text()
}

// ImageInUse reports whether a running vserver uses image: removing it would
// pull the root from under a guest.
func ImageInUse(p Paths, image string) bool {
	ents, err := os.ReadDir(filepath.Dir(p.RunDir("x")))
	if err != nil {
		return false
	}
	for _, e := range ents {
		if st, err := ReadState(p, e.Name()); err == nil && st.Image == image && vctx.Alive(st.Undo) {
			return true
		}
	}
	return false
}
