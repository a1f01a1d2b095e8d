package seccomp

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Namespace flags of clone(2) and unshare(2). CLONE_NEWTIME shares its
// bit with the exit signal in clone's flags, so clone can't ask for it.
const (
	cloneNamespaces   = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET
	unshareNamespaces = cloneNamespaces | unix.CLONE_NEWTIME
)

// personalities are the personality(2) arguments allowed, as in Docker's
// profile: PER_LINUX, PER_LINUX32, each with UNAME26, and the query
// 0xffffffff. Others (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ...) weaken
// the process's exploit mitigations.
var personalities = []uint32{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}

// Default is the filter every vserver gets, for the running kernel: on
// kernels before 4.8 ptrace could change a call after seccomp had allowed
// it, so there ptrace and process_vm_readv/writev are denied too, as
// Docker does. docs/security.md gives the reasons call by call.
func Default() *Filter {
	var uts unix.Utsname
	release := ""
	if unix.Uname(&uts) == nil {
		release = unix.ByteSliceToString(uts.Release[:])
	}
	return defaultFor(release)
}

func defaultFor(release string) *Filter {
	deny := func(names ...string) []rule {
		rs := make([]rule, len(names))
		for i, n := range names {
			rs[i] = rule{syscall: n, errno: unix.EPERM}
		}
		return rs
	}
	var rs []rule
	// Kernel code: loading and removing modules, booting another kernel.
	rs = append(rs, deny("init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load")...)
	// The kernel keyring is not namespaced: guest root would share it with
	// host root.
	rs = append(rs, deny("add_key", "request_key", "keyctl")...)
	// File handles open any inode of a filesystem, past the chroot
	// ("shocker").
	rs = append(rs, deny("open_by_handle_at")...)
	// Hardware: I/O ports, virtual 8086 mode.
	rs = append(rs, deny("iopl", "ioperm", "vm86", "vm86old")...)
	// Host-wide state: swap, process accounting, the clock, the console.
	rs = append(rs, deny("swapon", "swapoff", "acct", "settimeofday", "stime", "clock_settime", "clock_settime64", "vhangup")...)
	// Kernel introspection and programmability: BPF, perf, the kernel
	// log, comparing and reaching into other processes' kernel objects.
	rs = append(rs, deny("bpf", "perf_event_open", "lookup_dcookie", "syslog", "kcmp", "pidfd_getfd", "process_madvise")...)
	if !ptraceChecksSeccomp(release) {
		rs = append(rs, deny("ptrace", "process_vm_readv", "process_vm_writev")...)
	}
	// Memory: userfaultfd stalls kernel accesses at will (a race-widening
	// tool of exploits); NUMA placement is the host's.
	rs = append(rs, deny("userfaultfd", "mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node", "migrate_pages", "move_pages")...)
	// io_uring: a large attack surface whose operations seccomp can't see.
	rs = append(rs, deny("io_uring_setup", "io_uring_enter", "io_uring_register")...)
	// Mounts, namespaces, names: the host built the guest's; it keeps them.
	rs = append(rs, deny("mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
		"move_mount", "open_tree", "open_tree_attr", "mount_setattr", "setns", "sethostname", "setdomainname",
		"quotactl", "quotactl_fd", "fanotify_init")...)
	// New namespaces: a user namespace needs no capability and opens
	// kernel code that checks only namespaced ones. unshare of files, fs
	// or sysvsem stays allowed; clone3 hides its flags in memory, so it
	// gets ENOSYS and libc falls back to clone.
	rs = append(rs,
		rule{syscall: "unshare", errno: unix.EPERM, when: cond{op: anyBits, values: []uint32{unshareNamespaces}}},
		rule{syscall: "clone", errno: unix.EPERM, when: cond{op: anyBits, values: []uint32{cloneNamespaces}}},
		rule{syscall: "clone3", errno: unix.ENOSYS},
	)
	// Obsolete calls nothing current uses.
	rs = append(rs, deny("_sysctl", "sysfs", "ustat", "uselib", "bdflush")...)
	rs = append(rs,
		rule{syscall: "personality", errno: unix.EPERM, when: cond{op: noneOf, values: personalities}},
		// vsock is not namespaced: it reaches the hypervisor and its
		// host's services.
		rule{syscall: "socket", errno: unix.EPERM, when: cond{op: equals, values: []uint32{unix.AF_VSOCK}}},
	)
	return &Filter{rules: rs}
}

// ptraceChecksSeccomp reports whether a kernel release runs seccomp again
// after a tracer changed a call (Linux 4.8 and later). An unreadable
// release counts as old.
func ptraceChecksSeccomp(release string) bool {
	major, rest, _ := strings.Cut(release, ".")
	minor, _, _ := strings.Cut(rest, ".")
	minor, _, _ = strings.Cut(minor, "-")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > 4 || ma == 4 && mi >= 8
}
