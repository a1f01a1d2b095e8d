package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Filter is a list of system calls to deny, compiled for the running
// architecture by Program and put in force by Install.
type Filter struct {
	rules []rule
}

// A rule makes one system call fail with errno instead of running, always
// or only when its argument matches.
type rule struct {
	syscall string
	errno   unix.Errno
	when    cond
}

// A cond looks at the low 32 bits of one argument: every argument the rules
// look at is an int or a set of flags the kernel reads as one.
type cond struct {
	op     condOp
	arg    int
	values []uint32
}

type condOp int

const (
	always  condOp = iota
	anyBits        // the argument has one of the bits in values[0]
	equals         // the argument is values[0]
	noneOf         // the argument is none of values
)

// An abi is one system call convention of an architecture: the
// AUDIT_ARCH_* value the kernel puts in seccomp_data.arch and the numbers
// of the calls the rules name. A rule whose call an ABI lacks is left out
// of that ABI's part of the program.
type abi struct {
	name  string
	audit uint32
	// enosysFrom, when not zero, makes every call numbered from it up
	// fail with ENOSYS (the x32 ABI, which shares AUDIT_ARCH_X86_64).
	enosysFrom uint32
	numbers    map[string]uint32
}

// Offsets into struct seccomp_data. Arguments are 64 bits wide; their low
// half comes first on the little-endian architectures this package knows.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// Program is the filter as classic BPF for the running architecture: the
// architecture is checked first (an unknown one kills the process, which
// on amd64 cannot happen), then each denied call in turn, then everything
// else is allowed. It returns nil where this package has no system call
// table for the architecture.
func (f *Filter) Program() []unix.SockFilter {
	if len(abis) == 0 {
		return nil
	}
	blocks := make([][]unix.SockFilter, len(abis))
	for i, a := range abis {
		blocks[i] = f.compile(a)
	}
	// ld arch; per ABI a pair "jeq audit, else skip the ja; ja its block";
	// kill when no pair matched; then the blocks in order.
	prog := []unix.SockFilter{load(offArch)}
	before := 0 // instructions of the blocks ahead of this ABI's
	for i, a := range abis {
		after := 2*(len(abis)-1-i) + 1 // the pairs after this one, and the kill
		prog = append(prog,
			jump(unix.BPF_JEQ, a.audit, 0, 1),
			unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: uint32(after + before)},
		)
		before += len(blocks[i])
	}
	prog = append(prog, ret(unix.SECCOMP_RET_KILL_PROCESS))
	for _, b := range blocks {
		prog = append(prog, b...)
	}
	return prog
}

// compile is one ABI's part of the program. It starts with the call
// number in no register and ends in a return on every path.
func (f *Filter) compile(a abi) []unix.SockFilter {
	p := []unix.SockFilter{load(offNr)}
	if a.enosysFrom != 0 {
		p = append(p, jump(unix.BPF_JGE, a.enosysFrom, 0, 1), retErrno(unix.ENOSYS))
	}
	for _, r := range f.rules {
		nr, ok := a.numbers[r.syscall]
		if !ok {
			continue
		}
		body := r.body()
		p = append(p, jump(unix.BPF_JEQ, nr, 0, uint8(len(body))))
		p = append(p, body...)
	}
	return append(p, ret(unix.SECCOMP_RET_ALLOW))
}

// body runs once the call number matched: it returns the rule's errno or,
// when the condition does not hold, allows the call (a call has one rule).
func (r rule) body() []unix.SockFilter {
	deny := retErrno(r.errno)
	allow := ret(unix.SECCOMP_RET_ALLOW)
	c := r.when
	switch c.op {
	case always:
		return []unix.SockFilter{deny}
	case anyBits:
		return []unix.SockFilter{load(argLow(c.arg)), jump(unix.BPF_JSET, c.values[0], 0, 1), deny, allow}
	case equals:
		return []unix.SockFilter{load(argLow(c.arg)), jump(unix.BPF_JEQ, c.values[0], 0, 1), deny, allow}
	case noneOf:
		p := []unix.SockFilter{load(argLow(c.arg))}
		for i, v := range c.values {
			p = append(p, jump(unix.BPF_JEQ, v, uint8(len(c.values)-i), 0))
		}
		return append(p, deny, allow)
	}
	panic(fmt.Sprintf("seccomp: rule for %s: unknown condition %d", r.syscall, c.op))
}

func argLow(i int) uint32 { return uint32(offArgs + 8*i) }

func load(off uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
}

func jump(op uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, Jt: jt, Jf: jf, K: k}
}

func ret(action uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: action}
}

func retErrno(e unix.Errno) unix.SockFilter {
	return ret(unix.SECCOMP_RET_ERRNO | uint32(e)&unix.SECCOMP_RET_DATA)
}

// Install puts the filter on the calling thread, and on every process the
// thread forks or execs from then on; it can't be removed. It does not
// synchronize the process's other threads (no SECCOMP_FILTER_FLAG_TSYNC):
// the caller runs on a thread locked with runtime.LockOSThread and never
// unlocked, and execs or forks the guest from it. While the thread is
// locked the Go runtime starts new threads from a clean template thread,
// so the filter does not spread to them.
//
// The kernel accepts the filter only from a thread that has CAP_SYS_ADMIN
// or has set no_new_privs (prctl PR_SET_NO_NEW_PRIVS); otherwise Install
// fails with EACCES.
func (f *Filter) Install() error {
	prog := f.Program()
	if len(prog) == 0 {
		return fmt.Errorf("install seccomp filter: no system call table for %s: %w", runtime.GOARCH, errors.ErrUnsupported)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		if errno == unix.EACCES {
			return fmt.Errorf("install seccomp filter: %w (needs CAP_SYS_ADMIN or no_new_privs)", errno)
		}
		return fmt.Errorf("install seccomp filter: %w", errno)
	}
	return nil
}
