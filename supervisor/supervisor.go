package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

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
	Reaper  *reaper.Reaper // forks every service; required
	Log     *slog.Logger   // the supervisor's own messages; nil discards them
	Console io.Writer      // where services' output goes, prefixed "name | "; nil discards it
	LogDir  string         // per-service log files (not written yet)
	RunDir  string         // sockets: notify.sock, ctl.sock; "" for none
	Env     []string       // the base environment; nil means DefaultEnv
	// OnHalt is called when a service fails for good and its on_failure
	// action ends the context (poweroff, reboot, exit). It must not block.
	OnHalt func(Halt)
}

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
	log     *slog.Logger
	console *console
	sp      spawner

	mu       sync.Mutex
	set      *units.Set
	services map[string]*service
	outputs  map[string]*output
	gates    sync.WaitGroup
	cancel   context.CancelFunc // ends the start gates
	notify   *sdnotify.Server   // RunDir/notify.sock; nil without a RunDir
	// notifyAddr is $NOTIFY_SOCKET, set before the first service starts
	// and never changed, so the services' loops read it without a lock.
	notifyAddr string
}

// New returns a supervisor that runs nothing yet.
func New(cfg Config) *Supervisor {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Console == nil {
		cfg.Console = io.Discard
	}
	if cfg.Env == nil {
		cfg.Env = DefaultEnv
	}
	return &Supervisor{
		cfg:      cfg,
		log:      cfg.Log,
		console:  &console{w: cfg.Console},
		sp:       &forker{reaper: cfg.Reaper},
		services: make(map[string]*service),
		outputs:  make(map[string]*output),
	}
}

// Start starts every service of set, each once what it requires is ready;
// services that don't depend on each other start in parallel. It returns at
// once; Status tells how far they got.
func (s *Supervisor) Start(set *units.Set) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set != nil {
		return errors.New("supervisor: already started")
	}
	s.set = set
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	var errs []error
	if s.cfg.RunDir != "" {
		if err := s.listenNotify(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range set.Order() {
		if _, err := s.add(set.Get(name)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range set.Order() {
		if svc := s.services[name]; svc != nil {
			svc.do(ctx, command{op: opWait})
		}
	}
	for _, name := range set.Order() {
		if svc := s.services[name]; svc != nil {
			s.gate(ctx, svc)
		}
	}
	return errors.Join(errs...)
}

// add creates the service of u and starts its loop; s.mu is held.
func (s *Supervisor) add(u *units.Unit) (*service, error) {
	o, err := newOutput(u.Name, s.console)
	if err != nil {
		return nil, err
	}
	svc := newService(u, s.sp, o.w, s.log)
	svc.env = s.environ
	svc.fail = s.failed
	s.services[u.Name] = svc
	s.outputs[u.Name] = o
	go svc.loop()
	return svc, nil
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
	s.gates.Add(1)
	go func() {
		defer s.gates.Done()
		defer s.recover("start gate of " + svc.unit.Name)
		for _, p := range preds {
			ready, err := p.settled(ctx)
			if err != nil {
				return
			}
			if !ready && requires(svc.unit, p.unit.Name) {
				svc.do(ctx, command{op: opFail, err: fmt.Errorf("required %s is not ready", p.unit.Name)})
				return
			}
		}
		svc.do(ctx, command{op: opStart})
	}()
}

func requires(u *units.Unit, name string) bool {
	for _, r := range u.Requires {
		if r == name {
			return true
		}
	}
	return false
}

// Stop stops every service, each after those that follow it, and waits
// until none has a process left or ctx is done.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()
	s.gates.Wait()

	s.mu.Lock()
	set, services := s.set, s.services
	s.mu.Unlock()
	if set == nil {
		return nil
	}
	// followers[n]: the services that start after n, which stop before it.
	followers := make(map[string][]string)
	for _, n := range set.Names() {
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
			for _, f := range followers[n] {
				if d, ok := done[f]; ok {
					select {
					case <-d:
					case <-ctx.Done():
					}
				}
			}
			err := svc.do(ctx, command{op: opStop})
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
	s.mu.Lock()
	if s.notify != nil {
		s.notify.Close()
		s.notify = nil
	}
	s.mu.Unlock()
	return errors.Join(errs...)
}

// listenNotify serves the sd_notify socket the services find in
// $NOTIFY_SOCKET.
func (s *Supervisor) listenNotify() error {
	if err := os.MkdirAll(s.cfg.RunDir, 0o755); err != nil {
		return fmt.Errorf("create run directory: %w", err)
	}
	srv, err := sdnotify.Listen(filepath.Join(s.cfg.RunDir, "notify.sock"), s.log)
	if err != nil {
		return err
	}
	s.notify, s.notifyAddr = srv, srv.Addr()
	go func() {
		defer s.recover("notify socket")
		if err := srv.Serve(s.notified); err != nil {
			s.log.Error("notify socket", "err", err)
		}
	}()
	return nil
}

// notified routes a notification to the service whose process group the
// sender is in; others are dropped.
func (s *Supervisor) notified(m *sdnotify.Message) {
	pgid, err := sdnotify.ProcessGroup(m.Pid)
	if err != nil {
		s.log.Warn("notification from a process that is gone", "pid", m.Pid)
		return
	}
	s.mu.Lock()
	var to *service
	for _, svc := range s.services {
		if svc.status().Pid == pgid {
			to = svc
		}
	}
	s.mu.Unlock()
	if to == nil {
		s.log.Warn("notification from a process of no service", "pid", m.Pid, "pgid", pgid)
		return
	}
	to.do(context.Background(), command{op: opNotify, msg: m})
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
	case units.ActionPoweroff, units.ActionReboot, units.ActionExit:
		if s.cfg.OnHalt != nil {
			s.cfg.OnHalt(Halt{Action: u.OnFailure, Code: u.FailureExitCode, Unit: u.Name, Reason: svc.status().Error})
		}
	}
}

// environ is the environment of u's next process: the base environment,
// then u's env files, then u's env; a later KEY replaces an earlier one.
func (s *Supervisor) environ(u *units.Unit) ([]string, error) {
	env := append([]string(nil), s.cfg.Env...)
	for _, f := range u.EnvFiles {
		kvs, err := readEnvFile(f)
		if err != nil {
			return nil, err
		}
		env = append(env, kvs...)
	}
	env = append(env, u.Env...)
	if s.notifyAddr != "" && (u.Kind == units.Notify || u.Watchdog > 0) {
		env = append(env, "NOTIFY_SOCKET="+s.notifyAddr)
	}
	if u.Watchdog > 0 {
		env = append(env, fmt.Sprintf("WATCHDOG_USEC=%d", u.Watchdog.Microseconds()))
	}
	return dedupEnv(env), nil
}

// readEnvFile reads KEY=VALUE lines; blank lines and lines starting with #
// are skipped.
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	defer f.Close()
	var kvs []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); !ok || k == "" {
			return nil, fmt.Errorf("read env file %s:%d: want KEY=VALUE", path, n)
		}
		kvs = append(kvs, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read env file %s: %w", path, err)
	}
	return kvs, nil
}

// dedupEnv keeps the last value of every key, at the place of its first.
func dedupEnv(env []string) []string {
	idx := make(map[string]int)
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// recover logs a panic of a supervisor goroutine instead of letting it end
// vinit.
func (s *Supervisor) recover(what string) {
	if v := recover(); v != nil {
		s.log.Error("panic", "in", what, "panic", v)
	}
}
