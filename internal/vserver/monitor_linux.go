package vserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/images"
	"github.com/vservers/vserver/internal/cgroup"
	"github.com/vservers/vserver/internal/quota"
	"github.com/vservers/vserver/internal/systemd"
)

// Options are what every lifecycle call needs.
type Options struct {
	Paths Paths
	Vinit string // host path of the vinit binary
	Log   *slog.Logger
}

// ErrRunning says a vserver is running already.
var ErrRunning = errors.New("already running")

// ErrNotRunning says a vserver is not running.
var ErrNotRunning = errors.New("not running")

// Outcome is how a guest's init ended, as the monitor tells it.
type Outcome string

const (
	Poweroff Outcome = "poweroff"
	Reboot   Outcome = "reboot"
	Failed   Outcome = "failed"
)

// RebootExitCode is the exit status by which a vinit that could not call
// reboot(2) (no CAP_SYS_BOOT) asks for a reboot.
const RebootExitCode = 129

// outcome reads a wait status of the context's init. In a PID namespace the
// kernel ends an init that calls reboot(2) as if by a signal: SIGHUP for
// RESTART, SIGINT for POWER_OFF and HALT.
func outcome(ws syscall.WaitStatus) Outcome {
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGHUP:
		return Reboot
	case ws.Signaled() && ws.Signal() == syscall.SIGINT:
		return Poweroff
	case ws.Exited() && ws.ExitStatus() == 0:
		return Poweroff
	case ws.Exited() && ws.ExitStatus() == RebootExitCode:
		return Reboot
	}
	return Failed
}

func describe(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// lock takes the vserver's lock, which its monitor holds for as long as it
// lives; the kernel drops it when the monitor dies, however it dies.
func lock(p Paths, name string) (*os.File, error) {
	dir := p.RunDir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, fmt.Errorf("vserver %s: %w", name, ErrRunning)
		}
		return nil, fmt.Errorf("lock vserver %s: %w", name, err)
	}
	return f, nil
}

// Console is the guest init's standard files; nil ones are /dev/null.
type Console struct{ Stdin, Stdout, Stderr *os.File }

// Monitor runs vserver name: it creates its context, waits for its init,
// boots it again when the guest reboots, and on poweroff, failure or a
// stop request (SIGTERM or SIGINT to the monitor) removes every trace of it.
// ready is called once: with nil when the guest's init runs, or with the
// error that kept it from running.
func Monitor(o Options, name string, console Console, ready func(error)) (Outcome, error) {
	once := func(err error) {
		if ready != nil {
			ready(err)
			ready = nil
		}
	}
	out, _, err := monitor(o, name, console, nil, once)
	once(err)
	return out, err
}

// RunCommand runs argv in a fresh context of vserver name, with vinit's
// single-command mode as its PID 1 (no units), and returns argv's exit
// status as a shell reports it: the way to run one command in a vserver's
// context, as bwrap, crun run or systemd-nspawn -D DIR CMD do.
func RunCommand(o Options, name string, console Console, argv []string) (int, error) {
	_, ws, err := monitor(o, name, console, append([]string{"--"}, argv...), func(error) {})
	if err != nil {
		return 0, err
	}
	switch {
	case ws.Exited():
		return ws.ExitStatus(), nil
	case ws.Signaled():
		return 128 + int(ws.Signal()), nil
	}
	return 255, nil
}

func monitor(o Options, name string, console Console, initArgs []string, ready func(error)) (Outcome, syscall.WaitStatus, error) {
	cfg, err := Load(o.Paths, name)
	if err != nil {
		return Failed, 0, err
	}
	if err := CheckConflicts(o.Paths, cfg); err != nil {
		return Failed, 0, err
	}
	img, err := images.Open(o.Paths.Images(), o.Log).Get(cfg.Image)
	if err != nil {
		return Failed, 0, cfg.Errorf("image", "%v", err)
	}
	if cfg.Limits.Disk > 0 {
		// Refused before anything is made when this filesystem can't.
		parent := filepath.Dir(o.Paths.VserverDir(name))
		if err := os.MkdirAll(parent, 0o700); err != nil {
			return Failed, 0, err
		}
		if err := quota.Supported(parent); err != nil {
			return Failed, 0, cfg.Errorf("limits.disk", "can't be enforced: %v", err)
		}
	}
	lk, err := lock(o.Paths, name)
	if err != nil {
		return Failed, 0, err
	}
	defer lk.Close()
	booted := false
	defer func() {
		if !booted { // a start refused after the lock leaves no run directory
			removeState(o.Paths, name)
		}
	}()
	if old, err := ReadState(o.Paths, name); err == nil {
		if vctx.Alive(old.Undo) {
			return Failed, 0, fmt.Errorf("vserver %s: its init (pid %d) runs without a monitor; run vhost stop %s first", name, old.Undo.Pid, name)
		}
		o.Log.Info("cleaning up after a killed monitor", "vserver", name)
		if err := vctx.Cleanup(old.Undo); err != nil {
			return Failed, 0, fmt.Errorf("vserver %s: clean up the last run: %w", name, err)
		}
	}

	overlay, rootDir, err := prepareLayer(o.Paths, name, img.Rootfs, cfg)
	if err != nil {
		return Failed, 0, err
	}

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, unix.SIGTERM, unix.SIGINT)
	defer signal.Stop(sigc)

	mst, _ := vctx.ProcStartTime(os.Getpid())
	st := &State{
		Name: name, Image: cfg.Image, Addresses: cfg.Network.Addresses,
		Monitor: os.Getpid(), MonitorStart: mst,
	}
	stopping := false
	for {
		st.Status, st.Started, st.Boots = StatusStarting, time.Now(), st.Boots+1
		spec := cfg.spec()
		spec.Rootfs, spec.Overlay, spec.Init, spec.InitArgs = rootDir, overlay, o.Vinit, initArgs
		spec.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "container=vhost", "TERM=" + termOf()}
		spec.Stdin, spec.Stdout, spec.Stderr = console.Stdin, console.Stdout, console.Stderr
		st.Capabilities, st.Seccomp = spec.EffectiveCapabilities(), spec.Seccomp
		c, err := vctx.Start(spec, func(u vctx.Undo) error { st.Undo = u; return writeState(o.Paths, st) })
		if err != nil {
			removeState(o.Paths, name)
			return Failed, 0, err
		}
		booted = true
		st.Status = StatusRunning
		if err := writeState(o.Paths, st); err != nil {
			o.Log.Warn("write state", "vserver", name, "err", err)
		}
		if initArgs == nil {
			// "Up" means vinit hears its signals: one sent before it
			// caught them would be lost (a real-time one, machinectl's
			// poweroff, silently) or would end it.
			if err := waitCaught(c.Pid, 10*time.Second, unix.SIGTERM, unix.Signal(34+4)); err != nil {
				o.Log.Warn("the guest's init does not catch its signals yet", "vserver", name, "err", err)
			}
		}
		o.Log.Info("started", "vserver", name, "pid", c.Pid, "boot", st.Boots)
		registered := register(o, name, c, rootDir)
		ready(nil)

		exited := make(chan syscall.WaitStatus, 1)
		go func() { ws, _ := c.Wait(); exited <- ws }()
		var kill <-chan time.Time
		var ws syscall.WaitStatus
	wait:
		for {
			select {
			case <-sigc:
				if stopping {
					continue
				}
				stopping = true
				st.Status = StatusStopping
				writeState(o.Paths, st)
				o.Log.Info("stopping", "vserver", name, "timeout", cfg.StopTimeout)
				c.Signal(cfg.stopSignal)
				kill = time.After(cfg.StopTimeout)
			case <-kill:
				o.Log.Warn("guest did not stop in time: killing it", "vserver", name)
				if g, err := cgroup.Open(c.Undo.Cgroup); err == nil {
					g.Kill()
				}
				c.Signal(unix.SIGKILL)
			case ws = <-exited:
				break wait
			}
		}
		if registered {
			unregister(o, name)
		}
		out := outcome(ws)
		st.LastExit = describe(ws)
		o.Log.Info("guest ended", "vserver", name, "how", st.LastExit, "outcome", out)
		if err := vctx.CleanupExited(c.Undo); err != nil {
			o.Log.Error("clean up", "vserver", name, "err", err)
			return Failed, 0, err
		}
		if out == Reboot && !stopping && initArgs == nil {
			continue
		}
		if stopping && out == Failed {
			out = Poweroff // we asked it to end, and it did
		}
		return out, ws, removeState(o.Paths, name)
	}
}

// waitCaught waits until process pid has handlers for every one of sigs,
// as /proc/PID/status's SigCgt mask shows.
func waitCaught(pid int, timeout time.Duration, sigs ...unix.Signal) error {
	var want uint64
	for _, s := range sigs {
		want |= 1 << (uint(s) - 1)
	}
	file := "/proc/" + strconv.Itoa(pid) + "/status"
	for deadline := time.Now().Add(timeout); ; {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "SigCgt:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && m&want == want {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d: no handler for %v after %v", pid, sigs, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// register tells systemd-machined about the running guest, on a host that
// runs systemd, so machinectl lists it and can power it off, reboot or
// terminate it. A failure is logged, not fatal: the guest runs regardless.
func register(o Options, name string, c *vctx.Context, root string) bool {
	if !systemd.Booted() {
		return false
	}
	m := systemd.Machine{Root: root}
	if c.Undo.HostIf != "" {
		if ifi, err := net.InterfaceByName(c.Undo.HostIf); err == nil {
			m.IfIndices = []int{ifi.Index}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := systemd.RegisterMachine(ctx, name, c.Pid, m); err != nil {
		o.Log.Warn("register with systemd-machined", "vserver", name, "err", err)
		return false
	}
	return true
}

func unregister(o Options, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := systemd.UnregisterMachine(ctx, name); err != nil {
		o.Log.Debug("unregister from systemd-machined", "vserver", name, "err", err)
	}
}

// prepareLayer makes the vserver's copy-on-write layer over the image at
// lower, if it has none yet: every vserver runs on an overlay of its image,
// so one image on disk serves many vservers, and what a guest writes stays
// its own across boots.
//
// With a disk limit the whole vserver directory is one project, tagged
// before upper/ and work/ exist so that they and everything in them inherit
// it: overlayfs copies up through work/ and renames into upper/, and xfs
// refuses renames across projects.
func prepareLayer(p Paths, name, lower string, cfg *Config) (*vctx.Overlay, string, error) {
	dir := p.VserverDir(name)
	_, statErr := os.Stat(filepath.Join(dir, "upper"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	if cfg.Limits.Disk > 0 {
		id := uint32(cfg.Context)
		if statErr == nil {
			if got, err := quota.ProjectID(filepath.Join(dir, "upper")); err != nil || got != id {
				return nil, "", cfg.Errorf("limits.disk", "the vserver's files predate its disk limit (project %d, not %d): they would not count against it", got, id)
			}
		}
		// Set at every boot: a changed limit takes effect.
		if err := quota.SetLimit(dir, id, uint64(cfg.Limits.Disk)); err != nil {
			return nil, "", cfg.Errorf("limits.disk", "can't be enforced: %v", err)
		}
	}
	o := &vctx.Overlay{Lower: lower, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}
	root := filepath.Join(dir, "root")
	for _, d := range []string{o.Upper, o.Work, root} {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, "", err
		}
	}
	if err := ownLayer(o.Upper, cfg); err != nil {
		return nil, "", err
	}
	return o, root, nil
}

// ownLayer checks that the vserver's own files belong to its guest root:
// host root without a user namespace, the map's base with one. An empty
// layer is handed over; one whose files were written under another map
// is refused, as its guest root would own none of them. Nothing is chowned
// behind the user's back.
func ownLayer(upper string, cfg *Config) error {
	want := 0
	if m := cfg.IDMap(); m != nil {
		want = int(m.HostBase)
	}
	var st unix.Stat_t
	if err := unix.Lstat(upper, &st); err != nil {
		return err
	}
	if int(st.Uid) == want {
		return nil
	}
	ents, err := os.ReadDir(upper)
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return os.Chown(upper, want, want)
	}
	how := fmt.Sprintf("with a user namespace based at host uid %d", st.Uid)
	if st.Uid == 0 {
		how = "without a user namespace"
	}
	field := "user_namespace"
	if want == 0 {
		field = "image" // no user_namespace to point at
	}
	return cfg.Errorf(field, "the vserver's own files (%s) were written %s: its guest root, host uid %d, would own none of them; "+
		"move them away to start again from the image, or shift their owners to the new range yourself", upper, how, want)
}

func termOf() string {
	if t := os.Getenv("TERM"); t != "" {
		return t
	}
	return "linux"
}
