package context

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Joining a user namespace takes a process with one thread (setns(2):
// "EINVAL: the caller is multithreaded"), which a Go program never is, and
// os/exec has no setns between its fork and exec. So a command for a
// context with a user namespace is forked here the way package syscall
// forks, and its child joins the namespace before it execs: with raw system
// calls only, from memory prepared before the fork. gVisor forks its stubs
// the same way, through the same runtime hooks.

//go:linkname beforeFork syscall.runtime_BeforeFork
func beforeFork()

//go:linkname afterFork syscall.runtime_AfterFork
func afterFork()

//go:linkname afterForkInChild syscall.runtime_AfterForkInChild
func afterForkInChild()

// nsExec is a command to start in the user namespace of a process: all of
// it in the raw form the child uses.
type nsExec struct {
	pidfd  int   // the process whose user namespace the command joins
	path   *byte // the program, already looked up
	argv   []*byte
	envv   []*byte
	dir    *byte
	files  [3]int // become the command's 0, 1 and 2
	setsid bool
	ctty   bool      // make fd 0 the controlling terminal (with setsid)
	drop   []uintptr // capabilities to drop from the bounding set
	filter *unix.SockFprog
}

// The steps of the child, as it reports a failure.
var nsExecSteps = []string{"join the user namespace", "become guest root", "drop capabilities",
	"start a session", "set up the standard files", "take the terminal", "change directory",
	"install the seccomp filter", "exec"}

// startInUserNS starts x.path in the user namespace of x.pidfd's process,
// as its root (uid and gid 0 there, no supplementary groups), with every
// capability of that namespace less x.drop, and the seccomp filter last.
// The caller's thread must already be in the process's other namespaces,
// which the command inherits.
func startInUserNS(x *nsExec) (*os.Process, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	defer unix.Close(p[0])
	syscall.ForkLock.Lock()
	pid, errno := forkExecInUserNS(x, p[1])
	syscall.ForkLock.Unlock()
	unix.Close(p[1])
	if errno != 0 {
		return nil, fmt.Errorf("fork: %w", errno)
	}
	// The pipe closes on exec; before that, the child says what failed.
	var report [2]uintptr
	n, _ := unix.Read(p[0], (*[unsafe.Sizeof(report)]byte)(unsafe.Pointer(&report))[:])
	if n > 0 {
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		step := "start"
		if report[0] < uintptr(len(nsExecSteps)) {
			step = nsExecSteps[report[0]]
		}
		return nil, fmt.Errorf("%s: %w", step, syscall.Errno(report[1]))
	}
	return os.FindProcess(pid)
}

// forkExecInUserNS forks; the child runs x and never returns. Between the
// fork and the exec the child may only make raw system calls on memory
// that exists already: no allocation, no call that could grow the stack
// (beforeFork makes one crash), as in syscall.forkAndExecInChild1.
//
//go:noinline
//go:norace
//go:nocheckptr
func forkExecInUserNS(x *nsExec, pipe int) (pid int, err1 syscall.Errno) {
	var (
		r1     uintptr
		step   uintptr
		i      int
		fd     uintptr
		tmp    [3]uintptr
		report [2]uintptr
	)
	beforeFork()
	r1, _, err1 = syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if err1 != 0 || r1 != 0 {
		afterFork()
		return int(r1), err1
	}

	// The child, with one thread: the user namespace can be joined.
	step = 0
	if _, _, err1 = syscall.RawSyscall(unix.SYS_SETNS, uintptr(x.pidfd), unix.CLONE_NEWUSER, 0); err1 != 0 {
		goto fail
	}
	// Host root is nobody in there until it takes the namespace's root
	// ids; with them it keeps every capability of the namespace.
	step = 1
	if _, _, err1 = syscall.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); err1 != 0 {
		goto fail
	}
	if _, _, err1 = syscall.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0); err1 != 0 {
		goto fail
	}
	if _, _, err1 = syscall.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0); err1 != 0 {
		goto fail
	}
	// Non-dumpable until the exec, as on the other path: guest root
	// must not ptrace a copy of vhost.
	if _, _, err1 = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 0, 0, 0, 0, 0); err1 != 0 {
		goto fail
	}
	// Joining gave a full bounding set and an empty inheritable one.
	step = 2
	for i = 0; i < len(x.drop); i++ {
		if _, _, err1 = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, x.drop[i], 0, 0, 0, 0); err1 != 0 {
			goto fail
		}
	}
	step = 3
	if x.setsid {
		if _, _, err1 = syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0); err1 != 0 {
			goto fail
		}
	}
	afterForkInChild() // the signal mask as it was before the fork
	// Copies first, above every fd in use, so that a file meant for 1
	// that is now 0 is not closed by the dup onto 0.
	step = 4
	for i = 0; i < 3; i++ {
		if tmp[i], _, err1 = syscall.RawSyscall(unix.SYS_FCNTL, uintptr(x.files[i]), unix.F_DUPFD_CLOEXEC, 3); err1 != 0 {
			goto fail
		}
	}
	for i = 0; i < 3; i++ {
		if _, _, err1 = syscall.RawSyscall(unix.SYS_DUP3, tmp[i], uintptr(i), 0); err1 != 0 {
			goto fail
		}
	}
	step = 5
	if x.ctty {
		if _, _, err1 = syscall.RawSyscall(unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 0); err1 != 0 {
			goto fail
		}
	}
	step = 6
	if _, _, err1 = syscall.RawSyscall(unix.SYS_CHDIR, uintptr(unsafe.Pointer(x.dir)), 0, 0); err1 != 0 {
		goto fail
	}
	// Last: the filter denies setns, and needs CAP_SYS_ADMIN in the
	// namespace, which the bounding set's drop leaves in effect.
	step = 7
	if x.filter != nil {
		if _, _, err1 = syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(x.filter))); err1 != 0 {
			goto fail
		}
	}
	step = 8
	_, _, err1 = syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(x.path)),
		uintptr(unsafe.Pointer(&x.argv[0])), uintptr(unsafe.Pointer(&x.envv[0])))

fail:
	report[0], report[1] = step, uintptr(err1)
	fd = uintptr(pipe)
	syscall.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&report[0])), unsafe.Sizeof(report))
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 253, 0, 0)
	}
}
