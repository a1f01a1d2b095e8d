package seccomp

import (
	"bufio"
	"encoding/binary"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// addrNoRandomize is ADDR_NO_RANDOMIZE of <linux/personality.h>.
const addrNoRandomize = 0x0040000

// run interprets prog the way the kernel does for the instructions Program
// emits, on a seccomp_data with the given fields, and returns the action.
func run(t *testing.T, prog []unix.SockFilter, arch, nr uint32, args ...uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[offNr:], nr)
	binary.LittleEndian.PutUint32(data[offArch:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[offArgs+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K%4 != 0 || int(in.K)+4 > len(data) {
				t.Fatalf("instruction %d: load of offset %d", pc, in.K)
			}
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var taken bool
			switch in.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				taken = acc == in.K
			case unix.BPF_JGE:
				taken = acc >= in.K
			case unix.BPF_JSET:
				taken = acc&in.K != 0
			}
			if taken {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: unexpected code %#x", pc, in.Code)
		}
	}
	t.Fatalf("program ran off its end")
	return 0
}

func TestProgramDecisions(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Fatalf("the cases are written for amd64, not %s", runtime.GOARCH)
	}
	prog := defaultFor("6.1.0").Program()
	if len(prog) > unix.BPF_MAXINSNS {
		t.Fatalf("got %d instructions, the kernel takes at most %d", len(prog), unix.BPF_MAXINSNS)
	}
	const (
		x64  = unix.AUDIT_ARCH_X86_64
		i386 = unix.AUDIT_ARCH_I386
	)
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys := unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	allow := uint32(unix.SECCOMP_RET_ALLOW)
	tests := []struct {
		name     string
		arch, nr uint32
		args     []uint64
		want     uint32
	}{
		{"getpid", x64, unix.SYS_GETPID, nil, allow},
		{"keyctl", x64, unix.SYS_KEYCTL, nil, eperm},
		{"init_module", x64, unix.SYS_INIT_MODULE, nil, eperm},
		{"last rule's call", x64, unix.SYS_SOCKET, []uint64{unix.AF_VSOCK}, eperm},
		{"socket AF_INET", x64, unix.SYS_SOCKET, []uint64{unix.AF_INET}, allow},
		{"socket AF_VSOCK with high bits", x64, unix.SYS_SOCKET, []uint64{1<<32 | unix.AF_VSOCK}, eperm},
		{"clone plain", x64, unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)}, allow},
		{"clone thread", x64, unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM}, allow},
		{"clone NEWUSER", x64, unix.SYS_CLONE, []uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, eperm},
		{"clone NEWNET", x64, unix.SYS_CLONE, []uint64{unix.CLONE_NEWNET}, eperm},
		{"clone3", x64, unix.SYS_CLONE3, nil, enosys},
		{"unshare FS", x64, unix.SYS_UNSHARE, []uint64{unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SYSVSEM}, allow},
		{"unshare NEWUSER", x64, unix.SYS_UNSHARE, []uint64{unix.CLONE_NEWUSER}, eperm},
		{"unshare NEWTIME", x64, unix.SYS_UNSHARE, []uint64{unix.CLONE_NEWTIME}, eperm},
		{"personality query", x64, unix.SYS_PERSONALITY, []uint64{0xffffffff}, allow},
		{"personality PER_LINUX", x64, unix.SYS_PERSONALITY, []uint64{0}, allow},
		{"personality PER_LINUX32", x64, unix.SYS_PERSONALITY, []uint64{8}, allow},
		{"personality ADDR_NO_RANDOMIZE", x64, unix.SYS_PERSONALITY, []uint64{addrNoRandomize}, eperm},
		{"ptrace on 6.1", x64, unix.SYS_PTRACE, nil, allow},
		{"reboot", x64, unix.SYS_REBOOT, nil, allow},
		{"adjtimex", x64, unix.SYS_ADJTIMEX, nil, allow},
		{"name_to_handle_at", x64, unix.SYS_NAME_TO_HANDLE_AT, nil, allow},
		{"x32 getpid", x64, x32SyscallBit | unix.SYS_GETPID, nil, enosys},
		{"x32 keyctl", x64, x32SyscallBit | unix.SYS_KEYCTL, nil, enosys},
		{"i386 getpid", i386, 20, nil, allow},
		{"i386 keyctl", i386, 288, nil, eperm},
		{"i386 number of x86_64 keyctl (i386 sched_getaffinity)", i386, unix.SYS_KEYCTL, nil, allow},
		{"i386 stime", i386, 25, nil, eperm},
		{"i386 vm86old", i386, 113, nil, eperm},
		{"i386 clone NEWUSER", i386, 120, []uint64{unix.CLONE_NEWUSER}, eperm},
		{"i386 clone plain", i386, 120, []uint64{uint64(unix.SIGCHLD)}, allow},
		{"i386 socket AF_VSOCK", i386, 359, []uint64{unix.AF_VSOCK}, eperm},
		{"i386 clone3", i386, 435, nil, enosys},
		{"other arch", unix.AUDIT_ARCH_AARCH64, unix.SYS_GETPID, nil, unix.SECCOMP_RET_KILL_PROCESS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(t, prog, tt.arch, tt.nr, tt.args...); got != tt.want {
				t.Errorf("got action %#x, want %#x", got, tt.want)
			}
		})
	}
}

func TestPtraceByKernelRelease(t *testing.T) {
	tests := []struct {
		release string
		want    bool
	}{
		{"6.18.44-fc-v669", true},
		{"4.8.0", true},
		{"4.19.0-27-amd64", true},
		{"4.7.10", false},
		{"3.16.0-6-amd64", false},
		{"", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		t.Run(tt.release, func(t *testing.T) {
			if got := ptraceChecksSeccomp(tt.release); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			prog := defaultFor(tt.release).Program()
			want := uint32(unix.SECCOMP_RET_ALLOW)
			if !tt.want {
				want = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
			}
			if got := run(t, prog, unix.AUDIT_ARCH_X86_64, unix.SYS_PTRACE); got != want {
				t.Errorf("ptrace: got action %#x, want %#x", got, want)
			}
		})
	}
}

// TestRulesNameKnownCalls catches a misspelt call, which would otherwise be
// left out of every ABI silently, and a second rule for one call, which
// the first rule's "allow when the condition fails" would shadow.
func TestRulesNameKnownCalls(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range defaultFor("4.0").rules {
		if seen[r.syscall] {
			t.Errorf("%s: more than one rule", r.syscall)
		}
		seen[r.syscall] = true
		found := false
		for _, a := range abis {
			_, ok := a.numbers[r.syscall]
			found = found || ok
		}
		if !found {
			t.Errorf("%s: in no ABI's table", r.syscall)
		}
	}
	for _, a := range abis {
		for name := range a.numbers {
			if !seen[name] {
				t.Errorf("%s table: %s: no rule names it", a.name, name)
			}
		}
	}
}

// TestI386Numbers checks the hand-written i386 table against the kernel
// headers (Debian's linux-libc-dev); calls newer than the headers must
// carry the number shared by every architecture, the x86_64 one.
func TestI386Numbers(t *testing.T) {
	const header = "/usr/include/x86_64-linux-gnu/asm/unistd_32.h"
	f, err := os.Open(header)
	if err != nil {
		t.Fatalf("the i386 numbers are checked against the kernel headers: %v (apt-get install linux-libc-dev)", err)
	}
	defer f.Close()
	want := map[string]uint32{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || fields[0] != "#define" || !strings.HasPrefix(fields[1], "__NR_") {
			continue
		}
		n, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			continue
		}
		want[strings.TrimPrefix(fields[1], "__NR_")] = uint32(n)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", header, err)
	}
	if len(want) < 300 {
		t.Fatalf("read %s: got %d system calls, want more than 300", header, len(want))
	}
	for name, got := range i386Numbers {
		w, ok := want[name]
		if !ok {
			w, ok = x86_64Numbers[name]
			if !ok || w < 424 {
				t.Errorf("%s: not in %s and not a shared number", name, header)
				continue
			}
		}
		if got != w {
			t.Errorf("%s: got %d, want %d", name, got, w)
		}
	}
}
