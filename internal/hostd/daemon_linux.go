package hostd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/internal/vserver"
)

// Options configure a Daemon.
type Options struct {
	Vserver vserver.Options
	// Spawn boots vserver name under a detached monitor and returns when
	// its guest runs (vserver.Spawn of `vhost daemon-monitor NAME`).
	Spawn func(name string) error
	// Parallel bounds how many vservers of one boot order boot at once;
	// default 4.
	Parallel int
	// StopTimeout bounds Shutdown as a whole; default 90s.
	StopTimeout time.Duration
	// Notify gets sd_notify(3) assignments ("READY=1\nSTATUS=..."); nil
	// drops them.
	Notify func(state string)
	// Rescan is how often the daemon looks for vservers that others
	// started, to watch them too; default 5s.
	Rescan time.Duration
	Log    *slog.Logger
}

// Daemon boots, watches and stops the vservers of one root.
type Daemon struct {
	o Options

	mu       sync.Mutex
	plan     Plan
	watched  map[string]bool // vservers whose monitor we watch
	booting  map[string]bool // being booted or waiting to be booted again
	restarts map[string]int  // restarts in a row, for the backoff
	stopping bool
	ctx      context.Context // Run's, for restarts
	wg       sync.WaitGroup  // watchers and restarts
}

// New returns a daemon; Run starts it.
func New(o Options) *Daemon {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 90 * time.Second
	}
	if o.Rescan <= 0 {
		o.Rescan = 5 * time.Second
	}
	if o.Notify == nil {
		o.Notify = func(string) {}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Daemon{o: o, watched: map[string]bool{}, booting: map[string]bool{}, restarts: map[string]int{}}
}

// Run boots the autostart vservers in boot order, adopting those already
// running, tells the service manager it is ready, then watches them,
// booting again those that end unexpectedly, until ctx is done. It leaves
// every guest running: Shutdown stops them.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
	plan, err := MakePlan(d.o.Vserver.Paths)
	if err != nil {
		return fmt.Errorf("read the vserver configs: %w", err)
	}
	d.mu.Lock()
	d.plan = plan
	d.mu.Unlock()
	for name, err := range plan.Broken {
		d.o.Log.Error("broken config: skipped", "vserver", name, "err", err)
	}
	d.adoptRunning()
	for _, g := range plan.Groups {
		if ctx.Err() != nil {
			break
		}
		d.bootGroup(ctx, g)
	}
	d.o.Notify("READY=1\nSTATUS=" + d.Summary())
	d.o.Log.Info("autostart done", "status", d.Summary())
	t := time.NewTicker(d.o.Rescan)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			d.adoptRunning()
		}
	}
}

// Summary is the one-line status: "2/3 vservers running", and the broken
// configs.
func (d *Daemon) Summary() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	up := 0
	for _, g := range d.plan.Groups {
		for _, e := range g {
			if d.watched[e.Name] {
				up++
			}
		}
	}
	s := fmt.Sprintf("%d/%d vservers running", up, d.plan.Len())
	if n := len(d.plan.Broken); n > 0 {
		s += fmt.Sprintf(", %d broken config", n)
		if n > 1 {
			s += "s"
		}
	}
	return s
}

func (d *Daemon) status() { d.o.Notify("STATUS=" + d.Summary()) }

// bootGroup boots the vservers of one boot order, at most Parallel at a
// time, and returns when each is up or failed.
func (d *Daemon) bootGroup(ctx context.Context, g []Entry) {
	sem := make(chan struct{}, d.o.Parallel)
	var wg sync.WaitGroup
	for _, e := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() == nil {
				d.boot(e.Name)
			}
		}()
	}
	wg.Wait()
}

// boot boots vserver name unless it runs already (then it is adopted),
// and watches it.
func (d *Daemon) boot(name string) {
	log := d.o.Log.With("vserver", name)
	d.mu.Lock()
	if d.watched[name] || d.booting[name] || d.stopping {
		d.mu.Unlock()
		return
	}
	d.booting[name] = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.booting, name)
		d.mu.Unlock()
	}()
	in := vserver.Describe(d.o.Vserver, name)
	switch {
	case in.Pid != 0 && in.Problem == "":
		if d.watch(name) {
			log.Info("already running: adopted", "pid", in.Pid)
		}
		return
	case in.Pid != 0:
		log.Error("not booted: it runs without its monitor", "pid", in.Pid)
		return
	case in.Problem != "" && !strings.HasPrefix(in.Problem, "monitor was killed"):
		log.Error("not booted", "err", in.Problem)
		return
	case in.Problem != "":
		log.Warn("cleaning up after a killed monitor")
		if err := vserver.Cleanup(d.o.Vserver, name); err != nil {
			log.Error("not booted: clean up", "err", err)
			return
		}
	}
	TakeExit(d.o.Vserver.Paths, name) // a stale record is no news
	log.Info("starting")
	if err := d.o.Spawn(name); err != nil {
		log.Error("start failed", "err", err)
		d.status()
		return
	}
	log.Info("started")
	d.watch(name)
}

// adoptRunning watches every running vserver with a live monitor that is
// not watched yet: those a daemon before us started, and those started by
// `vhost start`.
func (d *Daemon) adoptRunning() {
	ins, err := vserver.List(d.o.Vserver)
	if err != nil {
		d.o.Log.Warn("list vservers", "err", err)
		return
	}
	for _, in := range ins {
		d.mu.Lock()
		skip := d.watched[in.Name] || d.booting[in.Name] || d.stopping
		d.mu.Unlock()
		if skip || in.Pid == 0 || in.Problem != "" {
			continue
		}
		if d.watch(in.Name) {
			d.o.Log.Info("already running: adopted", "vserver", in.Name, "pid", in.Pid)
		}
	}
}

// watch watches the monitor of vserver name until it exits; false when
// there is none to watch.
func (d *Daemon) watch(name string) bool {
	st, err := vserver.ReadState(d.o.Vserver.Paths, name)
	if err != nil {
		return false
	}
	fd, err := unix.PidfdOpen(st.Monitor, 0)
	if err != nil {
		return false
	}
	// The pidfd names the monitor only if that PID is still the monitor
	// the state records (PIDs are reused).
	if !vctx.Alive(vctx.Undo{Pid: st.Monitor, StartTime: st.MonitorStart}) {
		unix.Close(fd)
		return false
	}
	d.mu.Lock()
	if d.watched[name] {
		d.mu.Unlock()
		unix.Close(fd)
		return false
	}
	d.watched[name] = true
	d.wg.Add(1)
	d.mu.Unlock()
	d.status()
	started := time.Now()
	go func() {
		defer d.wg.Done()
		waitExit(fd)
		d.ended(name, time.Since(started))
	}()
	return true
}

// waitExit waits until the process of pidfd fd exits, reaps it when it is
// our child (a monitor this daemon spawned), and closes fd.
func waitExit(fd int) {
	defer unix.Close(fd)
	for {
		_, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, -1)
		if err != unix.EINTR {
			break
		}
	}
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG, nil)
		if err != unix.EINTR {
			return // ECHILD: not ours, its parent reaps it
		}
	}
}

// ended handles the end of a watched monitor: it boots the vserver again
// when its restart policy says so.
func (d *Daemon) ended(name string, ran time.Duration) {
	log := d.o.Log.With("vserver", name)
	d.mu.Lock()
	delete(d.watched, name)
	stopping, ctx := d.stopping, d.ctx
	d.mu.Unlock()
	d.status()
	if stopping {
		return
	}
	rec, err := TakeExit(d.o.Vserver.Paths, name)
	if err != nil {
		log.Warn("read how the guest ended", "err", err)
	}
	if rec == nil {
		// Killed, or not started by us: nothing says how it ended.
		in := vserver.Describe(d.o.Vserver, name)
		log.Warn("monitor ended without saying how the guest did", "problem", in.Problem)
		if in.Pid == 0 && in.Problem != "" {
			rec = &ExitRecord{Outcome: vserver.Failed, Error: in.Problem}
		}
	}
	policy := ""
	if cfg, err := vserver.Load(d.o.Vserver.Paths, name); err == nil {
		policy = cfg.Restart
	}
	again := restartAfter(policy, rec)
	if rec != nil {
		log.Info("guest ended", "outcome", rec.Outcome, "requested", rec.Requested, "err", rec.Error,
			"restart", policy, "again", again)
	}
	if !again {
		return
	}
	d.mu.Lock()
	if ran > time.Minute {
		d.restarts[name] = 0
	}
	n := d.restarts[name]
	d.restarts[name]++
	d.wg.Add(1)
	d.mu.Unlock()
	delay := min(time.Second<<min(n, 5), 30*time.Second)
	log.Info("restarting", "delay", delay, "restarts", n+1)
	go func() {
		defer d.wg.Done()
		if ctx != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
		d.boot(name)
	}()
}

// Shutdown stops watching and stops every running vserver of the root,
// in reverse boot order (highest boot_order first, one order at a time,
// at most Parallel at once), within StopTimeout in all.
func (d *Daemon) Shutdown() error {
	d.mu.Lock()
	d.stopping = true
	d.mu.Unlock()
	ins, err := vserver.List(d.o.Vserver)
	if err != nil {
		return err
	}
	type victim struct {
		name  string
		order int
	}
	var vs []victim
	for _, in := range ins {
		if _, err := vserver.ReadState(d.o.Vserver.Paths, in.Name); err != nil {
			continue // not running, nothing left behind
		}
		order := 0
		if cfg, err := vserver.Load(d.o.Vserver.Paths, in.Name); err == nil {
			order = cfg.BootOrder
		}
		vs = append(vs, victim{in.Name, order})
	}
	slices.SortFunc(vs, func(a, b victim) int {
		return cmp.Or(cmp.Compare(b.order, a.order), strings.Compare(a.name, b.name))
	})
	d.o.Notify("STOPPING=1\nSTATUS=" + fmt.Sprintf("stopping %d vservers", len(vs)))
	deadline := time.After(d.o.StopTimeout)
	sem := make(chan struct{}, d.o.Parallel)
	var errs []error
	var mu sync.Mutex
	for i := 0; i < len(vs); {
		j := i
		for j < len(vs) && vs[j].order == vs[i].order {
			j++
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		for _, v := range vs[i:j] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				d.o.Log.Info("stopping", "vserver", v.name, "boot_order", v.order)
				err := vserver.Stop(d.o.Vserver, v.name)
				if err != nil && !errors.Is(err, vserver.ErrNotRunning) {
					d.o.Log.Error("stop failed", "vserver", v.name, "err", err)
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				TakeExit(d.o.Vserver.Paths, v.name)
				d.o.Log.Info("stopped", "vserver", v.name)
			}()
		}
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-deadline:
			return fmt.Errorf("stop vservers: not done within %s", d.o.StopTimeout)
		}
		i = j
	}
	return errors.Join(errs...)
}

// Release stops watching and leaves every guest running: for a daemon
// that restarts or is upgraded.
func (d *Daemon) Release() {
	d.mu.Lock()
	d.stopping = true
	d.mu.Unlock()
	d.o.Notify("STOPPING=1\nSTATUS=leaving the vservers running")
}
