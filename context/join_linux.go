package context

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/cgroup"
	"github.com/vservers/vserver/internal/proc"
	"github.com/vservers/vserver/internal/seccomp"
)

// ExecSpec is a command to run inside a running context.
type ExecSpec struct {
	Argv []string
	Env  []string // the whole environment; PATH is also where Argv[0] is looked up
	// Capabilities is the bounding set the command keeps; nil means
	// DefaultCapabilities, the same as the context's init.
	Capabilities []string
	// Stdin, Stdout and Stderr are the command's standard files; nil
	// means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// Setsid starts the command in a session of its own; with Ctty it
	// makes Stdin its controlling terminal.
	Setsid, Ctty bool
	// LoginShell, with no Argv, runs root's shell from the guest's
	// /etc/passwd (else /bin/sh) as a login shell.
	LoginShell bool
	// Seccomp puts the command under the context's default seccomp
	// filter, as its init is.
	Seccomp bool
}

// joinFlags are the namespaces a command joins: all of the context's.
const joinFlags = unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNET |
	unix.CLONE_NEWPID | unix.CLONE_NEWCGROUP | unix.CLONE_NEWNS

// Exec starts spec's command in every namespace and the cgroup of the
// context whose init u records, with its working directory at the guest's
// root and only the standard files of spec open. It returns the started
// process, for the caller to wait for.
//
// The command is born inside the context's cgroup: the calling process
// joins that cgroup for the fork and goes back where it was after
// (clone3's CLONE_INTO_CGROUP is not available under the context's seccomp
// filter, and a move after the fork would let the command run, and fork,
// outside the context's limits first).
//
// The namespaces are joined on a locked OS thread that dies afterwards (a
// thread that changed its mount namespace must not run other goroutines);
// the command is forked from that thread and so starts inside.
func Exec(u Undo, spec *ExecSpec) (*os.Process, error) {
	p, _, err := join(u, spec, false)
	return p, err
}

// ExecTTY is Exec on a new terminal of the guest's own devpts: the command
// gets the terminal's peer as its standard files and controlling terminal,
// in a session of its own, and the caller gets the terminal's master, which
// is all of it that lives on the host.
func ExecTTY(u Undo, spec *ExecSpec) (*os.Process, *os.File, error) {
	return join(u, spec, true)
}

func join(u Undo, spec *ExecSpec, tty bool) (_ *os.Process, _ *os.File, err error) {
	if len(spec.Argv) == 0 && !spec.LoginShell {
		return nil, nil, errors.New("exec: no command")
	}
	home, err := cgroup.Where(os.Getpid())
	if err != nil {
		return nil, nil, err
	}
	if err := AddToCgroup(u, os.Getpid()); err != nil {
		return nil, nil, err
	}
	defer func() {
		if merr := cgroup.MoveTo(os.Getpid(), home); merr != nil && err == nil {
			err = merr
		}
	}()
	type result struct {
		p      *os.Process
		master *os.File
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		p, master, err := execLocked(u, spec, tty)
		ch <- result{p, master, err}
	}()
	r := <-ch
	return r.p, r.master, r.err
}

func execLocked(u Undo, spec *ExecSpec, tty bool) (_ *os.Process, master *os.File, err error) {
	fd, err := unix.PidfdOpen(u.Pid, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	defer unix.Close(fd)
	// Checked after the pidfd is held, so the PID can't be recycled between.
	if !Alive(u) {
		return nil, nil, ErrNotRunning
	}
	// Between fork and exec the child is a copy of vhost inside the guest:
	// non-dumpable, guest root can't ptrace it or read its memory.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return nil, nil, fmt.Errorf("prctl dumpable: %w", err)
	}
	// A user namespace is joined by the command's own process, which
	// has one thread (see startInUserNS); this thread joins the rest.
	userns, err := inOtherUserNS(u.Pid)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return nil, nil, fmt.Errorf("unshare fs: %w", err)
	}
	if err := unix.Setns(fd, joinFlags); err != nil {
		return nil, nil, fmt.Errorf("join the context's namespaces: %w", err)
	}
	caps := spec.Capabilities
	if caps == nil {
		caps = DefaultCapabilities
	}
	if !userns {
		if err := limitBoundingSet(caps); err != nil {
			return nil, nil, err
		}
		if err := limitInheritable(caps); err != nil {
			return nil, nil, err
		}
	}
	argv := spec.Argv
	if len(argv) == 0 {
		argv = []string{rootShell(), "-l"}
	}
	// Looked up on this thread: in the guest's files.
	path, err := proc.LookPath(argv[0], spec.Env)
	if err != nil {
		return nil, nil, fmt.Errorf("exec %s in the context: %w", argv[0], err)
	}
	files := []*os.File{orDevNull(spec.Stdin), orDevNull(spec.Stdout), orDevNull(spec.Stderr)}
	sys := &syscall.SysProcAttr{Setsid: spec.Setsid || spec.Ctty, Setctty: spec.Ctty}
	if tty {
		// /dev/ptmx resolves in the guest's mount namespace: the terminal
		// is one of the guest's.
		m, peer, err := openPTY()
		if err != nil {
			return nil, nil, err
		}
		defer peer.Close()
		defer func() {
			if err != nil {
				m.Close()
			}
		}()
		master = m
		files = []*os.File{peer, peer, peer}
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
	}
	var p *os.Process
	if userns {
		p, err = startInUserNS(newNSExec(fd, path, argv, spec.Env, files, sys, caps, spec.Seccomp))
		runtime.KeepAlive(files) // their fds were used by number
		if err != nil {
			return nil, nil, fmt.Errorf("exec %s in the context: %w", argv[0], err)
		}
		return p, master, nil
	}
	if spec.Seccomp {
		// On this thread only; the command inherits it.
		if err := seccomp.Default().Install(); err != nil {
			return nil, nil, err
		}
	}
	p, err = os.StartProcess(path, argv, &os.ProcAttr{Dir: "/", Env: spec.Env, Files: files, Sys: sys})
	if err != nil {
		return nil, nil, fmt.Errorf("exec %s in the context: %w", argv[0], err)
	}
	return p, master, nil
}

// newNSExec prepares, in the raw form the forked child uses, a command
// for startInUserNS: what os.StartProcess would do with files and sys, the
// bounding set cut to keep, and the default seccomp filter when asked.
func newNSExec(pidfd int, path string, argv, env []string, files []*os.File, sys *syscall.SysProcAttr, keep []string, filter bool) *nsExec {
	cstrings := func(ss []string) []*byte {
		out := make([]*byte, 0, len(ss)+1)
		for _, s := range ss {
			b, _ := unix.BytePtrFromString(s)
			out = append(out, b)
		}
		return append(out, nil)
	}
	x := &nsExec{pidfd: pidfd, argv: cstrings(argv), envv: cstrings(env), setsid: sys.Setsid, ctty: sys.Setctty}
	x.path, _ = unix.BytePtrFromString(path)
	x.dir, _ = unix.BytePtrFromString("/")
	for i, f := range files {
		x.files[i] = int(f.Fd())
	}
	kept := map[uintptr]bool{}
	for _, name := range keep {
		kept[capByName[name]] = true
	}
	for c := uintptr(0); c <= lastCap(); c++ {
		if !kept[c] {
			x.drop = append(x.drop, c)
		}
	}
	if filter {
		prog := seccomp.Default().Program()
		x.filter = &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	}
	return x
}

// openPTY opens a new terminal of the devpts that /dev/ptmx names, and its
// peer without a path lookup (TIOCGPTPEER).
func openPTY() (master, peer *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open the guest's /dev/ptmx: %w", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlock the terminal: %w", err)
	}
	pfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		err = errno
		master.Close()
		return nil, nil, fmt.Errorf("open the terminal's peer: %w", err)
	}
	return master, os.NewFile(uintptr(pfd), "pty"), nil
}

// rootShell is root's login shell in the guest's /etc/passwd, read from
// inside the context.
func rootShell() string {
	b, err := os.ReadFile("/etc/passwd")
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Split(l, ":")
			if len(f) == 7 && f[2] == "0" && f[6] != "" {
				return f[6]
			}
		}
	}
	return "/bin/sh"
}

// AddToCgroup moves pid into the context's cgroup, so the context's limits
// and usage cover it.
func AddToCgroup(u Undo, pid int) error {
	g, err := cgroup.Open(u.Cgroup)
	if err != nil {
		return err
	}
	return g.Add(pid)
}
