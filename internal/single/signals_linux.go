package single

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reservedSignals are the real-time signals the Go runtime and the C
// libraries keep for themselves: os/signal can't catch them.
var reservedSignals = []unix.Signal{32, 33, 34}

// maxSignal is the highest signal number on Linux.
const maxSignal = 64

// catchable reports whether vinit can catch sig with os/signal and so
// forward it. SIGCHLD is the reaper's; SIGURG only when the runtime does not
// send it itself (see ReexecWithoutPreemption).
func catchable(sig unix.Signal, urg bool) bool {
	switch sig {
	case unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD:
		return false
	case unix.SIGURG:
		return urg
	}
	for _, r := range reservedSignals {
		if sig == r {
			return false
		}
	}
	return sig >= 1 && sig <= maxSignal
}

// kernelSigaction is struct sigaction as the rt_sigaction system call takes
// it on amd64, arm64 and the other architectures with SA_RESTORER. Only
// the handler is read or set (the rest is zero), and it comes first on
// every architecture but mips, where the calls fail (EINVAL: mips has a
// 16-byte sigset) and vinit goes without: no inherited ignore is then
// seen, and signals 32 and 34 keep their default action.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const sigIgn = 1 // SIG_IGN

// ignored reports whether sig's disposition is SIG_IGN right now.
func ignored(sig unix.Signal) bool {
	var old kernelSigaction
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0,
		uintptr(unsafe.Pointer(&old)), unsafe.Sizeof(old.mask), 0, 0)
	return errno == 0 && old.handler == sigIgn
}

// ignoredSet returns the catchable signals whose disposition is SIG_IGN.
// Called before vinit changes anything, these are the ignores it inherited
// and the runtime kept.
func ignoredSet() []os.Signal {
	var out []os.Signal
	for s := unix.Signal(1); s <= maxSignal; s++ {
		if catchable(s, true) && ignored(s) {
			out = append(out, s)
		}
	}
	return out
}

// ignoreReserved sets SIG_IGN on the reserved signals the runtime leaves at
// their default action (terminate), so a stray kill -32 can't end vinit.
// Call it only after the child has started: SIG_IGN survives exec.
func ignoreReserved() {
	for _, s := range reservedSignals {
		if s == 33 { // the runtime handles it (per-thread syscalls)
			continue
		}
		act := kernelSigaction{handler: sigIgn}
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s), uintptr(unsafe.Pointer(&act)),
			0, unsafe.Sizeof(act.mask), 0, 0)
	}
}
