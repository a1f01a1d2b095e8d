package supervisor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/logfmt"
	"github.com/vservers/vserver/internal/sdnotify"
	"github.com/vservers/vserver/reaper"
	"github.com/vservers/vserver/units"
)

// State is where a service is in its life.
type State string

const (
	StateInactive State = "inactive" // not started, or stopped
	StateWaiting  State = "waiting"  // waiting for what it requires to be ready
	StateStarting State = "starting" // started, not ready yet
	StateRunning  State = "running"  // started and ready
	StateStopping State = "stopping" // its processes are being stopped
	StateBackoff  State = "backoff"  // ended; a restart is due after a delay
	StateExited   State = "exited"   // ended, and its restart policy says so (a oneshot that is done)
	StateFailed   State = "failed"   // failed for good: not restarted again
)

// Status is a snapshot of one service.
type Status struct {
	Name       string    `json:"name"`
	State      State     `json:"state"`
	Pid        int       `json:"pid,omitempty"`         // the main process; 0 when there is none
	Since      time.Time `json:"since"`                 // when State was entered
	Started    time.Time `json:"started,omitzero"`      // when the current (or last) process started
	Restarts   int       `json:"restarts"`              // automatic restarts since it was last started by hand
	Ready      bool      `json:"ready"`                 // dependents may start
	LastExit   string    `json:"last_exit,omitempty"`   // how the last process ended; "" before the first end
	StatusText string    `json:"status_text,omitempty"` // the last STATUS= it sent over sd_notify
	Error      string    `json:"error,omitempty"`       // why it failed or could not start
}

// proc is a started service as the state machine sees it.
type proc interface {
	Pid() int
	// OnExit has the main process's exit handed to exited, once: when it
	// happens, or at once if it has. exited must not block.
	OnExit(exited func(reaper.Exit))
	// Signal sends sig to the main process and everything it started.
	Signal(sig unix.Signal) error
	// SignalMain sends sig to the main process alone.
	SignalMain(sig unix.Signal) error
	// Alive reports whether any process of the service is left.
	Alive() bool
	// Release frees the handle once the service has no process left.
	Release()
}

// outputFile gives a service's processes their stdout and stderr.
type outputFile interface{ File() (*os.File, error) }

// spawner starts a service's process and runs its readiness probe;
// forker is the real one.
type spawner interface {
	// spawn starts u's command with env as its whole environment and
	// out's file as its stdout and stderr.
	spawn(u *units.Unit, env []string, out outputFile) (proc, error)
	// probe makes one attempt at u's ready probe (tcp or exec), bounded
	// by ctx, and returns nil when it succeeded.
	probe(ctx context.Context, u *units.Unit, env []string) error
	// adopt makes pid, the daemon a forking service's parent left, the
	// service's main process. parent has exited; adopt releases it.
	adopt(parent proc, pid int) (proc, error)
}

type op int

const (
	opWait   op = iota // enter StateWaiting
	opStart            // start now (by hand or once what it requires is ready)
	opFail             // fail without starting (what it requires failed)
	opStop             // stop and stay stopped
	opSignal           // send a signal to the main process
	opQuit             // stop and end the loop (the unit was removed)
	opNotify           // a message from the service on the notify socket
	opProbed           // the readiness probe succeeded
)

type command struct {
	op    op
	sig   unix.Signal
	err   error
	msg   *sdnotify.Message
	gen   int        // with opProbed: the probe's generation
	reply chan error // buffered; nil when nobody waits
}

// lingerPoll is how often a service whose main process ended is checked
// for processes it left behind.
const lingerPoll = 20 * time.Millisecond

// service runs one unit: a state machine driven by events (commands, the
// main process's exit, timers), handled one at a time in the order they
// came. A goroutine exists only while there are events to handle: an idle
// service, the common case, costs no goroutine, and the one that handles
// its events starts with a small stack each time rather than keeping the
// one its deepest event grew. That goroutine owns every field below run;
// the published Status is guarded by mu.
type service struct {
	unit  *units.Unit
	sp    spawner
	env   func(*units.Unit) ([]string, error)
	out   outputFile
	log   *logfmt.Logger
	fail  func(s *service) // called when it fails for good
	ended chan struct{}    // closed once it has quit and has no process

	runner   *runner    // handles the events
	qmu      sync.Mutex // guards the three below
	queue    []event    // events not handled yet
	draining bool       // a goroutine is handling the queue, or is due to
	gone     bool       // ended: events are refused

	mu      sync.Mutex
	st      Status
	changed chan struct{} // closed and replaced on every change of st

	run
}

// run is the loop's own state.
type run struct {
	p         proc
	lastExit  *reaper.Exit
	stopping  bool // asked to stop: no restart after the end
	restartOK bool // start again once stopped (a start came during the stop)
	quit      bool
	waiters   []chan error
	killT     *timer
	lingerT   *timer
	restartT  *timer
	readyT    *timer // bounds the wait for readiness (ready.timeout)
	watchT    *timer // the watchdog: started again by every WATCHDOG=1
	probeGen  int    // tells a stale probe's result from the current one's
	probeStop context.CancelFunc
	// lastProbe is why the current probe's last attempt failed, for the
	// ready timeout's error; written by the probe's goroutine.
	lastProbe atomic.Pointer[string]
	failure   error // why a running service is being stopped as failed
	adopted   bool  // p is a forking service's daemon, not the process spawned
	bo        backoff
	lim       startLimit
}

func newService(u *units.Unit, sp spawner, out outputFile, log *logfmt.Logger, r *runner) *service {
	s := &service{
		runner:  r,
		unit:    u,
		sp:      sp,
		out:     out,
		log:     log.With("service", u.Name),
		ended:   make(chan struct{}),
		changed: make(chan struct{}),
		st:      Status{Name: u.Name, State: StateInactive, Since: time.Now()},
	}
	s.bo = backoff{cfg: u.Backoff, rand: rand.Float64}
	s.lim = startLimit{cfg: u.StartLimit}
	return s
}

// do queues c and waits for its reply, or for ctx.
func (s *service) do(ctx context.Context, c command) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.reply = make(chan error, 1)
	if !s.post(event{kind: evCommand, c: c}) {
		return s.removed()
	}
	select {
	case err := <-c.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *service) status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// update changes the published status and wakes its watchers.
func (s *service) update(f func(st *Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.st.State
	f(&s.st)
	if s.st.State != old {
		s.st.Since = time.Now()
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// watch waits until cond holds for the status, or ctx is done.
func (s *service) watch(ctx context.Context, cond func(Status) bool) (Status, error) {
	for {
		s.mu.Lock()
		st, next := s.st, s.changed
		s.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-next:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// settled waits until the service is ready, or can't become ready without
// being started again; it reports which.
func (s *service) settled(ctx context.Context) (bool, error) {
	st, err := s.watch(ctx, func(st Status) bool {
		switch {
		case st.Ready:
			return true
		case st.State == StateFailed, st.State == StateExited, st.State == StateInactive:
			return true
		}
		return false
	})
	return st.Ready, err
}

func (s *service) removed() error { return fmt.Errorf("service %s: removed", s.unit.Name) }

type eventKind int

const (
	evCommand eventKind = iota
	evExit              // the main process p ended
	evTimer             // the timer tm fired
)

type event struct {
	kind eventKind
	c    command
	p    proc        // with evExit
	e    reaper.Exit // with evExit
	tm   *timer      // with evTimer
}

// timer is a one-shot timer whose firing is an event of its service. A
// timer that was stopped or replaced may still fire: its event is then
// stale, and dropped, because the field that held it no longer does.
type timer struct{ t *time.Timer }

// after starts a timer that fires in d.
func (s *service) after(d time.Duration) *timer {
	tm := &timer{}
	tm.t = time.AfterFunc(d, func() { s.post(event{kind: evTimer, tm: tm}) })
	return tm
}

// stop stops *tm, if set, and clears it.
func stop(tm **timer) {
	if *tm != nil {
		(*tm).t.Stop()
		*tm = nil
	}
}

// post queues ev, and starts a goroutine to handle the queue if none is.
// It reports false, and drops ev, once the service has ended.
func (s *service) post(ev event) bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.gone {
		return false
	}
	s.queue = append(s.queue, ev)
	if !s.draining {
		s.draining = true
		s.runner.schedule(s)
	}
	return true
}

// drain handles up to budget queued events, in order, and reports whether
// some are left. It stops early when there are none, or when the service
// has quit and has no process left.
func (s *service) drain(budget int) (more bool) {
	for ; ; budget-- {
		s.qmu.Lock()
		if len(s.queue) == 0 {
			s.queue, s.draining = nil, false
			s.qmu.Unlock()
			return false
		}
		if budget == 0 {
			s.qmu.Unlock()
			return true
		}
		ev := s.queue[0]
		s.queue[0] = event{}
		s.queue = s.queue[1:]
		s.qmu.Unlock()
		if !s.handleEvent(&ev) {
			continue
		}
		s.qmu.Lock()
		rest := s.queue
		s.queue, s.draining, s.gone = nil, false, true
		s.qmu.Unlock()
		close(s.ended)
		for _, ev := range rest {
			if ev.kind == evCommand && ev.c.reply != nil {
				ev.c.reply <- s.removed()
			}
		}
		return false
	}
}

// handleEvent handles one event and reports whether the service is done:
// quit, with no process left. A panic is logged, and the service goes on:
// vinit must not die of it.
func (s *service) handleEvent(ev *event) (done bool) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in service loop", "panic", v)
			done = false
		}
	}()
	switch ev.kind {
	case evCommand:
		s.handle(ev.c)
	case evExit:
		if ev.p == s.p && s.lastExit == nil {
			s.exited(ev.e)
		}
	case evTimer:
		s.fired(ev.tm)
	}
	return s.quit && s.p == nil
}

// fired handles the firing of tm, unless it is stale.
func (s *service) fired(tm *timer) {
	switch tm {
	case nil:
	case s.killT:
		s.killT = nil
		s.log.Warn("stop timeout: killing", "timeout", s.unit.StopTimeout)
		s.p.Signal(unix.SIGKILL)
	case s.lingerT:
		s.lingerT = nil
		if !s.p.Alive() {
			s.ended1()
		} else {
			s.lingerT = s.after(lingerPoll)
		}
	case s.restartT:
		s.restartT = nil
		s.update(func(st *Status) { st.Restarts++ })
		s.spawn()
	case s.readyT:
		s.readyT = nil
		err := fmt.Errorf("not ready within %v", s.unit.Ready.Timeout)
		if last := s.lastProbe.Load(); last != nil {
			err = fmt.Errorf("%w; the last probe: %s", err, *last)
		}
		s.failRunning(err)
	case s.watchT:
		s.watchT = nil
		s.failRunning(fmt.Errorf("watchdog: no WATCHDOG=1 within %v", s.unit.Watchdog))
	}
}

// watchExit has the exit of p, the new main process, come as an event.
func (s *service) watchExit(p proc) {
	p.OnExit(func(e reaper.Exit) { s.post(event{kind: evExit, p: p, e: e}) })
}

func (s *service) handle(c command) {
	reply := func(err error) {
		if c.reply != nil {
			c.reply <- err
		}
	}
	switch c.op {
	case opWait:
		if s.p == nil {
			s.cancelRestart()
			s.update(func(st *Status) { st.State, st.Ready, st.Error = StateWaiting, false, "" })
		}
		reply(nil)
	case opStart:
		switch {
		case s.p == nil:
			s.cancelRestart()
			s.lim.clear()
			s.bo.reset()
			s.update(func(st *Status) { st.Restarts = 0 })
			s.spawn()
		case s.stopping && !s.quit:
			s.restartOK = true // start again once stopped
		}
		reply(nil)
	case opFail:
		if s.p == nil {
			s.cancelRestart()
			s.update(func(st *Status) { st.State, st.Ready, st.Error = StateFailed, false, c.err.Error() })
		}
		reply(nil)
	case opStop, opQuit:
		s.restartOK = false
		s.quit = s.quit || c.op == opQuit
		s.stop(c.reply)
	case opSignal:
		if s.p == nil || s.lastExit != nil {
			reply(fmt.Errorf("signal %s: not running", s.unit.Name))
			return
		}
		reply(s.p.SignalMain(c.sig))
	case opNotify:
		s.notified(c.msg)
		reply(nil)
	case opProbed:
		if c.gen == s.probeGen && s.p != nil && s.lastExit == nil && !s.stopping {
			s.setReady()
		}
		reply(nil)
	}
}

// notified handles a message the service sent on the notify socket.
func (s *service) notified(m *sdnotify.Message) {
	if s.p == nil || s.lastExit != nil {
		return
	}
	if text, ok := m.Status(); ok {
		s.update(func(st *Status) { st.StatusText = text })
	}
	if m.Ready() && s.unit.Kind == units.Notify && s.probeStop == nil && !s.status().Ready && !s.stopping {
		s.started()
	}
	if m.Watchdog() && s.watchT != nil {
		stop(&s.watchT)
		s.watchT = s.after(s.unit.Watchdog)
	}
	if m.WatchdogTrigger() {
		s.failRunning(errors.New("watchdog triggered by the service"))
	}
}

// started runs once the kind's own start rule is met (forked, execve done,
// READY=1): the service is ready, or its probe begins.
func (s *service) started() {
	if s.unit.Ready.TCP == "" && len(s.unit.Ready.Exec) == 0 {
		s.setReady()
		return
	}
	s.probeGen++
	s.lastProbe.Store(nil)
	ctx, cancel := context.WithCancel(context.Background())
	s.probeStop = cancel
	go s.probeLoop(ctx, s.probeGen)
}

// probeLoop retries the ready probe every ready.interval until it succeeds
// or ctx is cancelled (the ready timeout is the loop's).
func (s *service) probeLoop(ctx context.Context, gen int) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in ready probe", "panic", v)
		}
	}()
	env, _ := s.env(s.unit)
	for {
		actx, cancel := context.WithTimeout(ctx, s.unit.Ready.Interval)
		err := s.sp.probe(actx, s.unit, env)
		cancel()
		if err == nil {
			if ctx.Err() == nil {
				s.post(event{kind: evCommand, c: command{op: opProbed, gen: gen}})
			}
			return
		}
		s.log.Debug("not ready yet", "err", err)
		msg := err.Error()
		s.lastProbe.Store(&msg)
		t := time.NewTimer(s.unit.Ready.Interval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// setReady marks the service ready, so dependents may start.
func (s *service) setReady() {
	s.stopProbe()
	stop(&s.readyT)
	if s.unit.Watchdog > 0 {
		s.watchT = s.after(s.unit.Watchdog)
	}
	s.update(func(st *Status) { st.State, st.Ready = StateRunning, true })
}

func (s *service) stopProbe() {
	if s.probeStop != nil {
		s.probeStop()
		s.probeStop = nil
	}
}

// failRunning stops a running service that failed (not ready in time,
// watchdog); once it has ended, its restart policy decides as for a failed
// exit.
func (s *service) failRunning(err error) {
	if s.p == nil || s.stopping || s.failure != nil {
		return
	}
	s.log.Error("failing", "err", err)
	s.failure = err
	s.update(func(st *Status) { st.Error = err.Error() })
	s.clearRunTimers()
	if s.lastExit == nil && s.killT == nil {
		s.terminate(s.unit.StopSignal)
	}
}

// clearRunTimers stops what only makes sense while the process runs.
func (s *service) clearRunTimers() {
	s.stopProbe()
	stop(&s.readyT)
	stop(&s.watchT)
}

// spawn starts the service's process, or fails for good when its start
// limit is reached.
func (s *service) spawn() {
	if !s.lim.allow(time.Now()) {
		s.failed(fmt.Errorf("start limit reached: %d starts within %v", s.unit.StartLimit.Burst, s.unit.StartLimit.Interval))
		return
	}
	var p proc
	env, err := s.env(s.unit)
	if err == nil {
		p, err = s.sp.spawn(s.unit, env, s.out)
	}
	if err != nil {
		s.log.Error("start failed", "err", err)
		s.lastExit = nil
		s.update(func(st *Status) { st.Error = err.Error() })
		s.decide(false, time.Time{})
		return
	}
	s.p, s.lastExit, s.failure, s.adopted = p, nil, nil, false
	s.watchExit(p)
	s.log.Info("started", "pid", p.Pid())
	s.update(func(st *Status) {
		st.State, st.Pid, st.Started, st.Ready, st.Error, st.StatusText = StateStarting, p.Pid(), time.Now(), false, "", ""
	})
	switch s.unit.Kind {
	case units.Oneshot: // ready once it exited successfully
	case units.Notify, units.Forking: // READY=1; the parent's exit
		s.readyT = s.after(s.unit.Ready.Timeout)
	default: // simple, exec: execve has succeeded when spawn returns
		if s.unit.Ready.TCP != "" || len(s.unit.Ready.Exec) > 0 {
			s.readyT = s.after(s.unit.Ready.Timeout)
		}
		s.started()
	}
}

// stop begins stopping the service; reply gets nil once it has no process.
func (s *service) stop(reply chan error) {
	s.stopping = true
	s.cancelRestart()
	s.clearRunTimers()
	if reply != nil {
		s.waiters = append(s.waiters, reply)
	}
	if s.p == nil {
		s.stopped()
		return
	}
	if s.killT == nil {
		s.terminate(s.unit.StopSignal)
	}
}

// terminate sends sig to the service and arms the SIGKILL timer.
func (s *service) terminate(sig unix.Signal) {
	if err := s.p.Signal(sig); err != nil {
		s.log.Warn("stop", "err", err)
	}
	s.killT = s.after(s.unit.StopTimeout)
	s.update(func(st *Status) { st.State, st.Ready = StateStopping, false })
}

// exited handles the end of the main process: what it left behind is
// stopped too before the service counts as ended.
func (s *service) exited(e reaper.Exit) {
	if s.unit.Kind == units.Forking && !s.adopted && !s.stopping && s.failure == nil && e.Success() {
		err := s.adoptDaemon()
		if err == nil {
			return
		}
		s.failure = err
		s.update(func(st *Status) { st.Error = err.Error() })
	}
	s.lastExit = &e
	s.clearRunTimers()
	s.log.Info("exited", "pid", e.Pid, "status", e.String())
	s.update(func(st *Status) { st.Pid, st.LastExit = 0, e.String() })
	if !s.p.Alive() {
		s.ended1()
		return
	}
	if s.killT == nil {
		s.terminate(s.unit.StopSignal)
	}
	s.lingerT = s.after(lingerPoll)
}

// adoptDaemon makes the daemon named in the PID file of a forking service
// its main process, once the parent has exited successfully.
func (s *service) adoptDaemon() error {
	var pid int
	var err error
	// The parent should have written the file before it exited; give a
	// daemon that writes it itself a moment.
	for range 20 {
		var b []byte
		if b, err = os.ReadFile(s.unit.PIDFile); err == nil {
			if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				break
			}
			err = fmt.Errorf("PID file %s: no PID in %q", s.unit.PIDFile, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("read PID file: %w", err)
	}
	p, err := s.sp.adopt(s.p, pid)
	if err != nil {
		return err
	}
	s.p, s.adopted = p, true
	s.watchExit(p)
	s.log.Info("daemon adopted", "pid", pid)
	s.update(func(st *Status) { st.Pid = pid })
	s.started()
	return nil
}

// ended1 runs once the service has no process left.
func (s *service) ended1() {
	stop(&s.killT)
	stop(&s.lingerT)
	s.p.Release()
	s.p = nil
	if s.stopping {
		s.stopped()
		return
	}
	e := s.lastExit
	success := e.Status.Exited() && (e.Status.ExitStatus() == 0 || slices.Contains(s.unit.SuccessExitCodes, e.Status.ExitStatus()))
	if s.failure != nil {
		success = false
	}
	s.decide(success, s.status().Started)
}

// stopped finishes a stop: the service is inactive, or starts again.
func (s *service) stopped() {
	s.stopping = false
	s.update(func(st *Status) { st.State, st.Ready, st.Pid = StateInactive, false, 0 })
	for _, w := range s.waiters {
		w <- nil
	}
	s.waiters = nil
	if s.restartOK && !s.quit {
		s.restartOK = false
		s.lim.clear()
		s.bo.reset()
		s.update(func(st *Status) { st.Restarts = 0 })
		s.spawn()
	}
}

// decide what follows an end that nobody asked for: a restart after the
// backoff delay, or the end for good. started is when the process that
// ended had started (zero if it never did).
func (s *service) decide(success bool, started time.Time) {
	u := s.unit
	restart := u.Restart == units.RestartAlways || (u.Restart == units.RestartOnFailure && !success)
	if restart {
		if !started.IsZero() && u.Backoff.Reset > 0 && time.Since(started) >= u.Backoff.Reset {
			s.bo.reset()
		}
		d := s.bo.delay()
		s.log.Info("restarting", "delay", d)
		s.restartT = s.after(d)
		s.update(func(st *Status) { st.State, st.Ready = StateBackoff, false })
		return
	}
	if success {
		s.update(func(st *Status) {
			st.State = StateExited
			st.Ready = u.Kind == units.Oneshot
		})
		return
	}
	reason := s.status().Error
	if s.lastExit != nil && s.failure == nil {
		reason = s.lastExit.String()
	}
	s.failed(fmt.Errorf("%s", reason))
}

// failed puts the service in StateFailed and runs its failure action.
func (s *service) failed(err error) {
	s.log.Error("failed", "err", err, "on_failure", s.unit.OnFailure)
	s.update(func(st *Status) { st.State, st.Ready, st.Error = StateFailed, false, err.Error() })
	if s.fail != nil {
		s.fail(s)
	}
}

func (s *service) cancelRestart() {
	stop(&s.restartT)
}
