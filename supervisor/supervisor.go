package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/logfile"
	"github.com/vservers/vserver/internal/logfmt"
	"github.com/vservers/vserver/internal/sdnotify"
	"github.com/vservers/vserver/reaper"
	"github.com/vservers/vserver/units"
)

// DefaultEnv is the environment every service starts from, before its
// unit's env_files and env.
var DefaultEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}

// Config is what a Supervisor needs from its caller.
type Config struct {
	Reaper   *reaper.Reaper // forks every service; required
	Log      *logfmt.Logger // the supervisor's own messages; nil discards them
	Console  io.Writer      // where services' output goes, prefixed "name | "; nil discards it
	UnitsDir string         // what ReloadDir reads
	LogDir   string         // per-service log files NAME.log; "" for none
	RunDir   string         // sockets: notify.sock, ctl.sock; "" for none
	Env      []string       // the base environment; nil means DefaultEnv
	// Cgroup is a writable cgroup2 directory in which every service gets a
	// cgroup of its own, NAME.service, to find all its processes; "" finds
	// them by process group and environment marker instead (see MarkerEnv).
	Cgroup string
	// OnHalt is called when a service fails for good and its on_failure
	// action ends the context (poweroff, reboot, exit). It must not block.
	OnHalt func(Halt)
	// OnQuiet is called when the control socket has had no connection for
	// QuietAfter after serving some: a burst of requests is over. vinit
	// gives the memory they used back to the kernel then.
	OnQuiet func()
}

// QuietAfter is how long the control socket must stay without a
// connection before OnQuiet is called.
const QuietAfter = 500 * time.Millisecond

// Halt is a request to end the context.
type Halt struct {
	Action units.Action // units.ActionPoweroff, ActionReboot or ActionExit
	Code   int          // the exit status, with ActionExit
	Unit   string       // the service whose failure asked for it
	Reason string
}

// Supervisor runs the services of a units set.
type Supervisor struct {
	cfg     Config
	log     *logfmt.Logger
	sp      *forker
	console *logfile.Console // the services' lines to cfg.Console; nil without one

	// op serialises what changes which services run: Start, Stop, Reload,
	// the commands on one service and the restart-dependents action.
	op sync.Mutex

	mu       sync.Mutex // guards the fields below
	set      *units.Set
	services map[string]*service
	outputs  map[string]*output // by service name, kept across restarts and reloads
	started  bool
	stopped  bool

	gates      sync.WaitGroup
	gateCancel context.CancelFunc

	notify *sdnotify.Server // RunDir/notify.sock; nil without a RunDir
	// notifyAddr is $NOTIFY_SOCKET, set before the first service starts
	// and never changed, so the services' loops read it without a lock.
	notifyAddr string

	runner runner // handles the services' events

	conns struct { // the control socket's connections
		sync.Mutex
		open  int
		quiet *time.Timer // calls OnQuiet; nil until the first connection ends
	}
}

// New returns a supervisor that runs nothing yet.
func New(cfg Config) *Supervisor {
	if cfg.Log == nil {
		cfg.Log = logfmt.Discard()
	}
	if cfg.Env == nil {
		cfg.Env = DefaultEnv
	}
	var console *logfile.Console
	if cfg.Console != nil {
		console = logfile.NewConsole(cfg.Console)
	}
	return &Supervisor{
		console:  console,
		cfg:      cfg,
		log:      cfg.Log,
		sp:       newForker(cfg.Reaper, cfg.Log, cfg.Cgroup),
		services: make(map[string]*service),
		outputs:  make(map[string]*output),
		runner:   runner{max: maxRunners},
	}
}

// Start starts every service of set, each once what it requires is ready;
// services that don't depend on each other start in parallel. It returns at
// once; Status tells how far they got.
func (s *Supervisor) Start(set *units.Set) error {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	if s.started || s.stopped {
		s.mu.Unlock()
		return errors.New("supervisor: started already")
	}
	s.set, s.started = set, true
	s.mu.Unlock()
	var errs []error
	if s.cfg.RunDir != "" {
		if err := s.listenNotify(); err != nil {
			errs = append(errs, err)
		}
	}
	s.create(set, set.Names())
	s.startNames(set.Names())
	return errors.Join(errs...)
}

// create makes the services of names as set defines them, each keeping the
// output pipe of its predecessor of the same name.
func (s *Supervisor) create(set *units.Set, names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		o := s.outputs[n]
		if o == nil {
			o = s.newOutput(n)
			s.outputs[n] = o
		}
		svc := newService(set.Get(n), s.sp, o, s.log, &s.runner)
		svc.env = s.environ
		svc.fail = s.failed
		s.services[n] = svc
	}
}

// startNames starts the services of names, each once what it must follow
// is ready. The gates of services still waiting from before are made anew,
// to wait for the services as they are now. s.op is held.
func (s *Supervisor) startNames(names []string) {
	s.cancelGates()
	for _, svc := range s.lookup(names) {
		svc.do(context.Background(), command{op: opWait})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	s.gateCancel = cancel
	for _, n := range s.set.Order() {
		if svc := s.services[n]; svc != nil && svc.status().State == StateWaiting {
			s.gate(ctx, svc)
		}
	}
}

// lookup returns the services of names that exist.
func (s *Supervisor) lookup(names []string) map[string]*service {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]*service)
	for _, n := range names {
		if svc := s.services[n]; svc != nil {
			m[n] = svc
		}
	}
	return m
}

// cancelGates ends every start gate and waits for them.
func (s *Supervisor) cancelGates() {
	s.mu.Lock()
	if s.gateCancel != nil {
		s.gateCancel()
	}
	s.mu.Unlock()
	s.gates.Wait()
}

// gate starts svc once every unit it must follow is ready, or fails it when
// one it requires can't become ready; s.mu is held.
func (s *Supervisor) gate(ctx context.Context, svc *service) {
	var preds []*service
	for _, p := range s.set.Predecessors(svc.unit.Name) {
		if ps := s.services[p]; ps != nil {
			preds = append(preds, ps)
		}
	}
	if len(preds) == 0 {
		// Nothing to wait for, so no goroutine to wait in: at boot, one
		// per service, each parked until its start was done, left as many
		// goroutine records behind (the runtime keeps them for reuse).
		svc.post(event{kind: evCommand, c: command{op: opStart}})
		return
	}
	s.gates.Add(1)
	go func() {
		defer s.gates.Done()
		defer s.recover("start gate of " + svc.unit.Name)
		for _, p := range preds {
			ready, err := p.settled(ctx)
			if err != nil {
				return
			}
			if !ready && slices.Contains(svc.unit.Requires, p.unit.Name) {
				svc.do(ctx, command{op: opFail, err: fmt.Errorf("required %s is not ready", p.unit.Name)})
				return
			}
		}
		svc.do(ctx, command{op: opStart})
	}()
}

// stopNames sends c (opStop or opQuit) to the services of names, each after
// those of names that follow it in set, and waits until they have no
// process left or ctx is done. s.op is held.
func (s *Supervisor) stopNames(ctx context.Context, set *units.Set, names []string, c op) error {
	services := s.lookup(names)
	// followers[n]: the services that start after n, which stop before it.
	followers := make(map[string][]string)
	for n := range services {
		for _, p := range set.Predecessors(n) {
			followers[p] = append(followers[p], n)
		}
	}
	done := make(map[string]chan struct{})
	for n := range services {
		done[n] = make(chan struct{})
	}
	errc := make(chan error, len(services))
	for n, svc := range services {
		go func() {
			defer close(done[n])
			defer func() {
				if v := recover(); v != nil {
					s.log.Error("panic", "in", "stop of "+n, "panic", v)
					errc <- fmt.Errorf("stop %s: panic: %v", n, v)
				}
			}()
			for _, f := range followers[n] {
				select {
				case <-done[f]:
				case <-ctx.Done():
				}
			}
			err := svc.do(ctx, command{op: c})
			if err != nil {
				err = fmt.Errorf("stop %s: %w", n, err)
			}
			errc <- err
		}()
	}
	var errs []error
	for range services {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stop stops every service, each after those that follow it, and waits
// until none has a process left or ctx is done. The services' loops end;
// Status still reports their last state. The supervisor can't be started
// again; a second Stop does nothing.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.op.Lock()
	defer s.op.Unlock()
	s.cancelGates()
	s.mu.Lock()
	set, again := s.set, s.stopped
	s.stopped = true
	s.mu.Unlock()
	if again {
		return nil
	}
	err := s.stopNames(ctx, set, set.Names(), opQuit)
	s.sp.close()
	s.mu.Lock()
	if s.notify != nil {
		s.notify.Close()
		s.notify = nil
	}
	outputs := s.outputs
	s.outputs = make(map[string]*output)
	s.mu.Unlock()
	// The services are gone: their last lines are read and the log files
	// synced, unless a process they left still holds its pipe.
	cctx, cancel := context.WithTimeout(ctx, outputGrace)
	defer cancel()
	for _, o := range outputs {
		o.close(cctx, s.log)
	}
	return err
}

// Reload replaces the running set with set: units added are started,
// removed ones stopped, changed ones restarted with their new definition,
// and so is every unit that requires a changed or removed one. All others
// are left alone, their processes untouched.
func (s *Supervisor) Reload(ctx context.Context, set *units.Set) error {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	old, stopped := s.set, s.stopped
	s.mu.Unlock()
	if stopped {
		return errors.New("supervisor: reload after stop")
	}
	added, removed, changed := units.Diff(old, set)
	down := make(map[string]bool) // quit, in the old set
	for _, n := range slices.Concat(removed, changed) {
		down[n] = true
		for _, d := range old.Dependents(n) {
			down[d] = true
		}
	}
	up := slices.Clone(added) // start, in the new set
	for _, n := range changed {
		up = append(up, set.Dependents(n)...)
	}
	for n := range down {
		if set.Get(n) != nil {
			up = append(up, n)
		}
	}
	slices.Sort(up)
	up = slices.Compact(up)
	for _, n := range up {
		if old.Get(n) != nil {
			down[n] = true // runs its new definition
		}
	}
	quit := slices.Sorted(maps.Keys(down))
	s.log.Info("reload", "added", added, "removed", removed, "changed", changed, "restarted", quit)

	s.cancelGates()
	err := s.stopNames(ctx, old, quit, opQuit)
	s.mu.Lock()
	for _, n := range quit {
		delete(s.services, n)
	}
	for _, n := range removed {
		if o := s.outputs[n]; o != nil {
			go o.close(context.Background(), s.log)
			delete(s.outputs, n)
		}
	}
	// A service left alone goes on with its old definition, which is
	// Equal to the new one.
	s.set = set
	s.mu.Unlock()
	s.create(set, up)
	s.startNames(up)
	return err
}

// Settled waits until no service is waiting for what it must follow or
// starting: each is running, exited, failed, stopped or waiting to be
// restarted. It returns ctx.Err() if ctx ends first.
func (s *Supervisor) Settled(ctx context.Context) error {
	set := s.current()
	if set == nil {
		return nil
	}
	for _, svc := range s.lookup(set.Names()) {
		if _, err := svc.watch(ctx, func(st Status) bool {
			return st.State != StateWaiting && st.State != StateStarting
		}); err != nil {
			return err
		}
	}
	return nil
}

// Status returns a snapshot of every service, in start order.
func (s *Supervisor) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		return nil
	}
	var out []Status
	for _, n := range s.set.Order() {
		if svc := s.services[n]; svc != nil {
			out = append(out, svc.status())
		}
	}
	return out
}

// failed runs the failure action of a service that failed for good. It is
// called from the service's loop, so it must not wait for that loop.
func (s *Supervisor) failed(svc *service) {
	u := svc.unit
	switch u.OnFailure {
	case units.ActionRestartDependents:
		go func() {
			defer s.recover("restart-dependents of " + u.Name)
			s.op.Lock()
			defer s.op.Unlock()
			if s.check(u.Name) != nil || s.lookup([]string{u.Name})[u.Name] != svc {
				return // stopped, or replaced by a reload
			}
			s.log.Info("restarting with its dependents", "service", u.Name)
			if err := s.restart(context.Background(), u.Name); err != nil {
				s.log.Error("restart-dependents", "service", u.Name, "err", err)
			}
		}()
	case units.ActionPoweroff, units.ActionReboot, units.ActionExit:
		if s.cfg.OnHalt != nil {
			s.cfg.OnHalt(Halt{Action: u.OnFailure, Code: u.FailureExitCode, Unit: u.Name, Reason: svc.status().Error})
		}
	}
}

// recover logs a panic of a supervisor goroutine instead of letting it end
// vinit.
func (s *Supervisor) recover(what string) {
	if v := recover(); v != nil {
		s.log.Error("panic", "in", what, "panic", v)
	}
}

// StartService starts the service name (by hand: its start limit and
// backoff start over) once what it must follow is ready, and before it
// what it requires, directly or not, that does not run.
func (s *Supervisor) StartService(name string) error {
	s.op.Lock()
	defer s.op.Unlock()
	if err := s.check(name); err != nil {
		return err
	}
	set := s.current()
	names := []string{name}
	seen := map[string]bool{name: true}
	for i := 0; i < len(names); i++ {
		for _, r := range set.Get(names[i]).Requires {
			if seen[r] {
				continue
			}
			seen[r] = true
			if svc := s.lookup([]string{r})[r]; svc != nil && !svc.status().Ready && svc.status().Pid == 0 {
				names = append(names, r)
			}
		}
	}
	s.startNames(names)
	return nil
}

// StopService stops the service name and, before it, every service that
// requires it, and waits until they have no process left.
func (s *Supervisor) StopService(ctx context.Context, name string) error {
	s.op.Lock()
	defer s.op.Unlock()
	if err := s.check(name); err != nil {
		return err
	}
	s.cancelGates()
	set := s.current()
	err := s.stopNames(ctx, set, append(set.Dependents(name), name), opStop)
	s.startNames(nil) // gates of the others still waiting
	return err
}

// RestartService stops the service name and what requires it, then starts
// them again, each once what it must follow is ready.
func (s *Supervisor) RestartService(ctx context.Context, name string) error {
	s.op.Lock()
	defer s.op.Unlock()
	if err := s.check(name); err != nil {
		return err
	}
	return s.restart(ctx, name)
}

// restart is RestartService with s.op held.
func (s *Supervisor) restart(ctx context.Context, name string) error {
	s.cancelGates()
	set := s.current()
	names := append(set.Dependents(name), name)
	err := s.stopNames(ctx, set, names, opStop)
	s.startNames(names)
	return err
}

// Signal sends sig to the main process of the service name.
func (s *Supervisor) Signal(name string, sig unix.Signal) error {
	if err := s.check(name); err != nil {
		return err
	}
	svc := s.lookup([]string{name})[name]
	if svc == nil {
		return fmt.Errorf("signal %s: no such service", name)
	}
	return svc.do(context.Background(), command{op: opSignal, sig: sig})
}

// check says whether name is a service that commands may reach.
func (s *Supervisor) check(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopped:
		return errors.New("supervisor: stopped")
	case s.services[name] == nil:
		return fmt.Errorf("%s: %w", name, ErrNoService)
	}
	return nil
}

// ErrNoService is returned for a name that is no service.
var ErrNoService = errors.New("no such service")

func (s *Supervisor) current() *units.Set {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set
}
