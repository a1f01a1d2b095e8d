package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/logfmt"
	procfs "github.com/vservers/vserver/internal/proc"
	"github.com/vservers/vserver/reaper"
	"github.com/vservers/vserver/units"
)

// spawnWorkers is how many services are forked at the same time. A fork
// holds its thread until the child has called execve, and most of that is
// the child's work: a few in parallel keep both of a small machine's CPUs
// busy, without a thread per service.
const spawnWorkers = 4

// forker starts real processes through the reaper.
type forker struct {
	reaper *reaper.Reaper
	log    *logfmt.Logger
	// cgroup is the cgroup2 directory the services' cgroups are made in;
	// "" tracks services by process group and marker alone.
	cgroup string
	seq    atomic.Uint64 // numbers the markers

	mu      sync.Mutex
	queue   []func(w *worker) // forks waiting for a worker
	workers int               // running
	closed  bool              // by close: no more forks
	warnFS  sync.Once         // a worker without its own umask, said once
}

func newForker(r *reaper.Reaper, log *logfmt.Logger, cgroup string) *forker {
	return &forker{reaper: r, log: log, cgroup: cgroup}
}

// close refuses later spawns.
func (f *forker) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

// worker is a goroutine that forks services, on an OS thread of its own.
// Workers are started when forks wait and end when none is left, so an
// idle vinit holds no thread for them.
type worker struct {
	// privateFS: the thread has its own umask (unshare(CLONE_FS)), which
	// a child forked from it inherits; the rest of vinit keeps its own.
	privateFS bool
}

// work runs queued forks on a locked thread, never unlocked: once its fs is
// unshared, the thread must not run other goroutines (and the runtime
// never clones new threads from a locked one). It ends, and its thread with
// it, when the queue is empty.
func (f *forker) work() {
	runtime.LockOSThread()
	w := &worker{privateFS: unix.Unshare(unix.CLONE_FS) == nil}
	if !w.privateFS {
		f.warnFS.Do(func() {
			f.log.Warn("spawn worker shares vinit's umask: units with a umask go through the pre-exec stage")
		})
	}
	for {
		f.mu.Lock()
		if len(f.queue) == 0 {
			f.workers--
			f.mu.Unlock()
			return
		}
		job := f.queue[0]
		f.queue[0] = nil
		f.queue = f.queue[1:]
		f.mu.Unlock()
		job(w)
	}
}

// spawn forks and execs u's command in a process group of its own, with env
// as its whole environment and out as its stdout and stderr, on one of the
// spawn workers. It returns once execve has succeeded (os.StartProcess
// waits for that on a close-on-exec pipe) or with the reason it failed.
func (f *forker) spawn(u *units.Unit, env []string, out outputFile) (proc, error) {
	type result struct {
		p   proc
		err error
	}
	done := make(chan result, 1)
	job := func(w *worker) {
		defer func() {
			if v := recover(); v != nil {
				done <- result{err: fmt.Errorf("start %s: panic: %v", u.Name, v)}
			}
		}()
		p, err := f.spawnOn(w, u, env, out)
		done <- result{p, err}
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, fmt.Errorf("start %s: supervisor stopped", u.Name)
	}
	f.queue = append(f.queue, job)
	if f.workers < spawnWorkers {
		f.workers++
		go f.work()
	}
	f.mu.Unlock()
	r := <-done
	return r.p, r.err
}

// spawnOn is spawn on worker w's thread.
func (f *forker) spawnOn(w *worker, u *units.Unit, env []string, out outputFile) (proc, error) {
	path, err := procfs.LookPath(u.Exec[0], env)
	if err != nil {
		return nil, err
	}
	outf, err := out.File()
	if err != nil {
		return nil, err
	}
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer stdin.Close()
	if u.Stdin == "tty" {
		stdin = os.Stdin
	}
	sys := &syscall.SysProcAttr{Setpgid: true}
	if sys.Credential, err = credential(u); err != nil {
		return nil, err
	}
	// The marker is unique on the machine: this vinit's PID is part of it.
	marker := fmt.Sprintf("%s=%s.%d.%d", MarkerEnv, u.Name, os.Getpid(), f.seq.Add(1))
	env = append(env[:len(env):len(env)], marker)
	var cg string
	if f.cgroup != "" {
		dir, fd, err := cgroupDir(f.cgroup, u.Name)
		if err != nil {
			return nil, err
		}
		defer unix.Close(fd)
		cg = dir
		sys.UseCgroupFD, sys.CgroupFD = true, fd
	}
	argv0, argv := path, u.Exec
	attr := &os.ProcAttr{
		Dir:   u.WorkingDir,
		Env:   env,
		Files: []*os.File{stdin, outf, outf},
		Sys:   sys,
	}
	// What SysProcAttr can't do goes through the pre-exec stage: rlimits,
	// and a umask where this thread can't have its own.
	var report *os.File
	if len(u.Rlimits) > 0 || (u.Umask != nil && !w.privateFS) {
		if argv0, argv, err = stageArgv(u, path, sys.Credential); err != nil {
			return nil, fmt.Errorf("start %s: %w", u.Exec[0], err)
		}
		sys.Credential = nil // the stage's, after the limits
		var wr *os.File
		if report, wr, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("start %s: %w", u.Exec[0], err)
		}
		defer report.Close()
		defer wr.Close()
		attr.Files = append(attr.Files, wr) // stageFd
	} else if u.Umask != nil {
		// The umask of this thread alone, which the child inherits.
		old := unix.Umask(int(*u.Umask))
		defer unix.Umask(old)
	}
	var p *os.Process
	exit := newExitLatch()
	_, err = f.reaper.StartFunc(func() (int, error) {
		var err error
		p, err = os.StartProcess(argv0, argv, attr)
		if errors.Is(err, unix.ENOSYS) && sys.UseCgroupFD {
			// Under the context's seccomp filter clone3, which Go needs
			// to start a child in a cgroup, answers ENOSYS (as Docker's
			// does, so that clone's flags stay inspectable). Fork with
			// clone and move the child right after; the marker finds
			// whatever it forks before that.
			sys.UseCgroupFD = false
			if p, err = os.StartProcess(argv0, argv, attr); err == nil {
				if werr := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(p.Pid)), 0); werr != nil {
					f.log.Warn("move service into its cgroup", "service", u.Name, "err", werr)
				}
			}
		}
		if err != nil {
			return 0, err
		}
		return p.Pid, nil
	}, exit.deliver)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", u.Exec[0], err)
	}
	if report != nil {
		attr.Files[stageFd].Close() // vinit's copy of the write end
		if err := stageResult(report); err != nil {
			exit.wait() // the stage exits when it fails
			p.Release()
			return nil, fmt.Errorf("start %s: %w", u.Exec[0], err)
		}
	}
	return &process{p: p, pgid: p.Pid, exit: exit, cgroup: cg, marker: marker}, nil
}

// adopt watches pid, a forking service's daemon: a child of this process
// now that its parent has exited (vinit is PID 1 or a subreaper).
func (f *forker) adopt(parent proc, pid int) (proc, error) {
	pp := parent.(*process)
	pp.p.Release() // the parent has exited and been reaped
	// Only a child of ours can be waited for; a PID of another process
	// would never report its exit.
	if up, ok := ppid(pid); !ok || up != os.Getpid() {
		return nil, fmt.Errorf("adopt daemon %d: not a child of vinit (gone, or never the service's)", pid)
	}
	exit := newExitLatch()
	f.reaper.WatchFunc(pid, exit.deliver)
	// Reaped as an orphan between the check and WatchFunc: its status is
	// lost. (A zombie still answers kill 0, and its status comes to exit.)
	if unix.Kill(pid, 0) != nil {
		return nil, fmt.Errorf("adopt daemon %d: it exited before it was adopted", pid)
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil, fmt.Errorf("adopt daemon %d: %w", pid, err)
	}
	pgid, err := unix.Getpgid(pid)
	if err != nil {
		pgid = pid
	}
	return &process{p: p, pgid: pgid, exit: exit, cgroup: pp.cgroup, marker: pp.marker}, nil
}

// probe makes one attempt at u's ready probe.
func (f *forker) probe(ctx context.Context, u *units.Unit, env []string) error {
	if u.Ready.TCP != "" {
		if err := probeTCP(ctx, u.Ready.TCP); err != nil {
			return fmt.Errorf("ready probe: %w", err)
		}
		return nil
	}
	argv := u.Ready.Exec
	path, err := procfs.LookPath(argv[0], env)
	if err != nil {
		return fmt.Errorf("ready probe: %w", err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	attr := &os.ProcAttr{Dir: u.WorkingDir, Env: env, Files: []*os.File{null, null, null}, Sys: &syscall.SysProcAttr{Setpgid: true}}
	var p *os.Process
	_, exited, err := f.reaper.Start(func() (int, error) {
		var err error
		if p, err = os.StartProcess(path, argv, attr); err != nil {
			return 0, err
		}
		return p.Pid, nil
	})
	if err != nil {
		return fmt.Errorf("ready probe: %w", err)
	}
	defer p.Release()
	pr := &process{p: p, pgid: p.Pid}
	select {
	case e := <-exited:
		if !e.Success() {
			return fmt.Errorf("ready probe %s: %v", argv[0], e)
		}
		return nil
	case <-ctx.Done():
		pr.Signal(unix.SIGKILL)
		<-exited
		return fmt.Errorf("ready probe %s: %w", argv[0], ctx.Err())
	}
}

// process is a service's main process and all it started: its process
// group, and its cgroup or the processes carrying its marker.
type process struct {
	p      *os.Process
	pgid   int // its process group: its own PID, or the daemon's group
	exit   *exitLatch
	cgroup string // "" without one
	marker string // MarkerEnv=NAME.N
}

func (p *process) Pid() int                        { return p.p.Pid }
func (p *process) OnExit(exited func(reaper.Exit)) { p.exit.notify(exited) }

// Signal sends sig to the main process through its pidfd, which can't hit
// a recycled PID, then to its process group, then to every other process of
// the service (its cgroup, or the marked processes).
func (p *process) Signal(sig unix.Signal) error {
	// Each process gets sig once: a second TERM arriving while a shell runs
	// its trap runs the trap again. The group first; then the main process
	// if it left the group; then whatever else of the service's cgroup (or
	// marker) is outside the group: daemons that called setsid.
	inGroup := func(pid int) bool {
		st, err := procfs.ReadStat(pid)
		return err == nil && st.Pgrp == p.pgid
	}
	err := killGroup(p.pgid, sig)
	if errors.Is(err, unix.ESRCH) {
		err = nil
	}
	if !inGroup(p.p.Pid) {
		if merr := p.p.Signal(sig); merr != nil && !errors.Is(merr, os.ErrProcessDone) && err == nil {
			err = merr
		}
	}
	switch {
	case p.cgroup != "" && sig == unix.SIGKILL:
		cgroupKill(p.cgroup)
	case p.cgroup != "":
		for _, pid := range cgroupPids(p.cgroup) {
			if !inGroup(pid) {
				killPid(pid, sig)
			}
		}
	case p.marker != "":
		for _, pid := range markedPids(p.marker) {
			if !inGroup(pid) {
				killPid(pid, sig)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("signal %s to process group %d: %w", unix.SignalName(sig), p.pgid, err)
	}
	return nil
}

// SignalMain sends sig to the main process alone, through its pidfd.
func (p *process) SignalMain(sig unix.Signal) error {
	if err := p.p.Signal(sig); err != nil {
		return fmt.Errorf("signal %s to pid %d: %w", unix.SignalName(sig), p.p.Pid, err)
	}
	return nil
}

// Alive reports whether a process of the service is left.
func (p *process) Alive() bool {
	if killGroup(p.pgid, 0) == nil {
		return true
	}
	if p.cgroup != "" {
		return len(cgroupPids(p.cgroup)) > 0
	}
	if p.marker == "" {
		return false
	}
	// A process in the middle of an execve shows no environment for a
	// moment: only a few empty scans in a row count as none left.
	for i := range markerScans {
		if len(markedPids(p.marker)) > 0 {
			return true
		}
		if i < markerScans-1 {
			time.Sleep(markerPause)
		}
	}
	return false
}

// markerScans empty scans markerPause apart mean a service without a
// cgroup has no process left.
const (
	markerScans = 3
	markerPause = 5 * time.Millisecond
)

// Release frees the pidfd and removes the emptied cgroup.
func (p *process) Release() {
	p.p.Release()
	if p.cgroup != "" {
		cgroupRemove(p.cgroup)
	}
}

// credential resolves u's User, Group and Groups; nil means run as root.
func credential(u *units.Unit) (*syscall.Credential, error) {
	if u.User == "" && u.Group == "" && len(u.Groups) == 0 {
		return nil, nil
	}
	c := &syscall.Credential{}
	if u.User != "" {
		uid, gid, err := lookupUser(u.User)
		if err != nil {
			return nil, err
		}
		c.Uid, c.Gid = uid, gid
	}
	if u.Group != "" {
		gid, err := lookupGroup(u.Group)
		if err != nil {
			return nil, err
		}
		c.Gid = gid
	}
	c.Groups = []uint32{}
	for _, g := range u.Groups {
		gid, err := lookupGroup(g)
		if err != nil {
			return nil, err
		}
		c.Groups = append(c.Groups, gid)
	}
	return c, nil
}

func lookupUser(name string) (uid, gid uint32, err error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), uint32(n), nil
	}
	usr, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("look up user %s: %w", name, err)
	}
	u, _ := strconv.ParseUint(usr.Uid, 10, 32)
	g, _ := strconv.ParseUint(usr.Gid, 10, 32)
	return uint32(u), uint32(g), nil
}

func lookupGroup(name string) (uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	grp, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("look up group %s: %w", name, err)
	}
	g, _ := strconv.ParseUint(grp.Gid, 10, 32)
	return uint32(g), nil
}
