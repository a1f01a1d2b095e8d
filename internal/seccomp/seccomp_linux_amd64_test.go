package seccomp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary a helper instead of running tests; its
// value says what to do (see helperMain).
const helperEnv = "VSERVER_SECCOMP_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode, ok := os.LookupEnv(helperEnv); ok {
		os.Exit(helperMain(mode))
	}
	os.Exit(m.Run())
}

// A probe makes one system call with arguments the kernel rejects early
// (or that change nothing of the host's), and returns its errno, 0 on
// success. want is its errno under the filter. A denied call must get
// something else without the filter, so it is the filter that denies it;
// an allowed one must get want either way.
type probe struct {
	name   string
	want   unix.Errno
	denied bool
	call   func() unix.Errno
}

func sys(nr uintptr, args ...uintptr) func() unix.Errno {
	return func() unix.Errno {
		var a [6]uintptr
		copy(a[:], args)
		_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
		return e
	}
}

func str(s string) uintptr {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	return uintptr(unsafe.Pointer(p))
}

func deny(name string, call func() unix.Errno) probe {
	return probe{name: name, want: unix.EPERM, denied: true, call: call}
}

func allow(name string, want unix.Errno, call func() unix.Errno) probe {
	return probe{name: name, want: want, call: call}
}

const badFd = ^uintptr(0) // -1

var probes = []probe{
	deny("init_module", sys(unix.SYS_INIT_MODULE, 0, 0, str(""))),
	deny("finit_module", sys(unix.SYS_FINIT_MODULE, badFd, str(""), 0)),
	deny("delete_module", sys(unix.SYS_DELETE_MODULE, str("vserver_no_such_module"), unix.O_NONBLOCK)),
	deny("kexec_load", sys(unix.SYS_KEXEC_LOAD, 0, 1000, 0, 0)),
	deny("kexec_file_load", sys(unix.SYS_KEXEC_FILE_LOAD, badFd, badFd, 0, 0, 0xffff)),
	deny("add_key", sys(unix.SYS_ADD_KEY, 0, 0, 0, 0, 0)),
	deny("request_key", sys(unix.SYS_REQUEST_KEY, 0, 0, 0, 0)),
	deny("keyctl", sys(unix.SYS_KEYCTL, 10000)),
	deny("open_by_handle_at", sys(unix.SYS_OPEN_BY_HANDLE_AT, badFd, 0, 0)),
	deny("iopl", sys(unix.SYS_IOPL, 4)),
	deny("ioperm", sys(unix.SYS_IOPERM, 0x10000, 1, 0)),
	deny("swapon", sys(unix.SYS_SWAPON, 0, 0)),
	deny("swapoff", sys(unix.SYS_SWAPOFF, 0)),
	deny("acct", sys(unix.SYS_ACCT, str("/nonexistent/vserver-acct"))),
	deny("settimeofday", sys(unix.SYS_SETTIMEOFDAY, 0, 0)),
	deny("clock_settime", sys(unix.SYS_CLOCK_SETTIME, unix.CLOCK_REALTIME, 0)),
	deny("vhangup", sys(unix.SYS_VHANGUP)),
	deny("bpf", sys(unix.SYS_BPF, 0xffff, 0, 0)),
	deny("perf_event_open", sys(unix.SYS_PERF_EVENT_OPEN, 0, 0, badFd, badFd, 0)),
	deny("lookup_dcookie", sys(unix.SYS_LOOKUP_DCOOKIE, 0, 0, 0)),
	deny("syslog", sys(unix.SYS_SYSLOG, 100, 0, 0)),
	deny("kcmp", sys(unix.SYS_KCMP, 0x7fffffff, 0x7fffffff, 100, 0, 0)),
	deny("pidfd_getfd", sys(unix.SYS_PIDFD_GETFD, badFd, 0, 0)),
	deny("process_madvise", sys(unix.SYS_PROCESS_MADVISE, badFd, 0, 0, 0, 0)),
	deny("userfaultfd", sys(unix.SYS_USERFAULTFD, 0xffff)),
	deny("mbind", sys(unix.SYS_MBIND, 0, 0, 0xff, 0, 0, 0)),
	deny("set_mempolicy", sys(unix.SYS_SET_MEMPOLICY, 0xff, 0, 0)),
	deny("get_mempolicy", sys(unix.SYS_GET_MEMPOLICY, 0, 0, 0, 0, 0)),
	deny("set_mempolicy_home_node", sys(unix.SYS_SET_MEMPOLICY_HOME_NODE, 0, 0, 0, 1)),
	deny("migrate_pages", sys(unix.SYS_MIGRATE_PAGES, 0x7fffffff, 0, 0, 0)),
	deny("move_pages", sys(unix.SYS_MOVE_PAGES, 0x7fffffff, 1, 0, 0, 0, 0)),
	deny("io_uring_setup", sys(unix.SYS_IO_URING_SETUP, 0, 0)),
	deny("io_uring_enter", sys(unix.SYS_IO_URING_ENTER, badFd, 0, 0, 0, 0, 0)),
	deny("io_uring_register", sys(unix.SYS_IO_URING_REGISTER, badFd, 0, 0, 0)),
	deny("mount", sys(unix.SYS_MOUNT, 0, 0, 0, 0, 0)),
	deny("umount2", sys(unix.SYS_UMOUNT2, str("/nonexistent/vserver-umount"), 0)),
	deny("pivot_root", sys(unix.SYS_PIVOT_ROOT, 0, 0)),
	deny("fsopen", sys(unix.SYS_FSOPEN, 0, 0)),
	deny("fsconfig", sys(unix.SYS_FSCONFIG, badFd, 0, 0, 0, 0)),
	deny("fsmount", sys(unix.SYS_FSMOUNT, badFd, 0, 0)),
	deny("fspick", sys(unix.SYS_FSPICK, badFd, 0, 0)),
	deny("move_mount", sys(unix.SYS_MOVE_MOUNT, badFd, 0, badFd, 0, 0)),
	deny("open_tree", sys(unix.SYS_OPEN_TREE, badFd, 0, 0)),
	deny("open_tree_attr", sys(unix.SYS_OPEN_TREE_ATTR, badFd, 0, 0, 0, 0)),
	deny("mount_setattr", sys(unix.SYS_MOUNT_SETATTR, badFd, 0, 0, 0, 0)),
	deny("setns", sys(unix.SYS_SETNS, badFd, 0)),
	deny("sethostname", sys(unix.SYS_SETHOSTNAME, 0, 1000)),
	deny("setdomainname", sys(unix.SYS_SETDOMAINNAME, 0, 1000)),
	deny("quotactl", sys(unix.SYS_QUOTACTL, 0, 0, 0, 0)),
	deny("quotactl_fd", sys(unix.SYS_QUOTACTL_FD, badFd, 0, 0, 0)),
	deny("fanotify_init", sys(unix.SYS_FANOTIFY_INIT, 0xffffffff, 0)),
	deny("_sysctl", sys(unix.SYS__SYSCTL, 0)),
	deny("sysfs", sys(unix.SYS_SYSFS, 100)),
	deny("ustat", sys(unix.SYS_USTAT, 0, 0)),
	deny("uselib", sys(unix.SYS_USELIB, 0)),
	// In a multithreaded process the kernel refuses these with EINVAL.
	deny("unshare CLONE_NEWUSER", sys(unix.SYS_UNSHARE, unix.CLONE_NEWUSER)),
	deny("unshare CLONE_NEWNS", sys(unix.SYS_UNSHARE, unix.CLONE_NEWNS)),
	// NEWUSER with FS is EINVAL for the kernel: nothing is cloned.
	deny("clone CLONE_NEWUSER", sys(unix.SYS_CLONE, unix.CLONE_NEWUSER|unix.CLONE_FS)),
	deny("socket AF_VSOCK", sys(unix.SYS_SOCKET, unix.AF_VSOCK, 15, 0)),
	{name: "clone3", want: unix.ENOSYS, denied: true, call: sys(unix.SYS_CLONE3, 0, 0)},

	allow("getpid", 0, sys(unix.SYS_GETPID)),
	allow("open, read, write, close", 0, openReadWrite),
	allow("fork and exec /bin/true", 0, runTrue),
	// Bad magic: EINVAL after the CAP_SYS_BOOT check, so reboot got past
	// the filter and the capability was there; nothing is rebooted.
	allow("reboot with bad magic", unix.EINVAL, sys(unix.SYS_REBOOT, 0, 0, unix.LINUX_REBOOT_CMD_CAD_OFF)),
	allow("unshare CLONE_FS", 0, sys(unix.SYS_UNSHARE, unix.CLONE_FS)),
	allow("socket AF_INET with a bad type", unix.EINVAL, sys(unix.SYS_SOCKET, unix.AF_INET, 15, 0)),
	allow("ptrace of no process", unix.ESRCH, sys(unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, 0x7fffffff, 0, 0)),
	allow("process_vm_readv of nothing", 0, func() unix.Errno {
		return sys(unix.SYS_PROCESS_VM_READV, uintptr(unix.Getpid()), 0, 0, 0, 0, 0)()
	}),
	allow("name_to_handle_at", 0, func() unix.Errno {
		_, _, err := unix.NameToHandleAt(unix.AT_FDCWD, "/", 0)
		return errnoOf(err)
	}),
	allow("adjtimex read-only", 0, func() unix.Errno {
		var tx unix.Timex
		_, err := unix.Adjtimex(&tx)
		return errnoOf(err)
	}),
	allow("chroot /", 0, sys(unix.SYS_CHROOT, str("/"))),
	allow("personality query", 0, sys(unix.SYS_PERSONALITY, 0xffffffff)),
	// Last: without the filter it turns ASLR off for what follows.
	deny("personality ADDR_NO_RANDOMIZE", sys(unix.SYS_PERSONALITY, addrNoRandomize)),
}

func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}

func openReadWrite() unix.Errno {
	fd, err := unix.Open("/proc/self/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return errnoOf(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 64)
	if _, err := unix.Read(fd, buf); err != nil {
		return errnoOf(err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return errnoOf(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	_, err = unix.Write(p[1], buf)
	return errnoOf(err)
}

// runTrue forks from the calling (locked, filtered) thread, so the child
// inherits the filter.
func runTrue() unix.Errno {
	if err := exec.Command("/bin/true").Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return unix.EIO
	}
	return 0
}

// helperMain runs in the re-executed test binary, on a locked thread that
// is never unlocked. Modes:
//
//	probe          run the probes, print {name: errno} as JSON
//	install-probe  Install, then probe
//	install-exec   Install, then exec os.Args[1:] (VSERVER_SECCOMP_EXEC_MODE
//	               becomes the mode of a re-executed test binary)
//	install-others Install, then print the errno keyctl gets on each of
//	               eight threads locked afterwards, most of them new
//	install-nocap  drop CAP_SYS_ADMIN, then Install; print its errno
//	install-nnp    drop CAP_SYS_ADMIN, set no_new_privs, Install; print its errno
func helperMain(mode string) int {
	runtime.LockOSThread()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	switch mode {
	case "install-probe", "install-exec", "install-others":
		if err := Default().Install(); err != nil {
			return fail(err)
		}
	case "install-nocap", "install-nnp":
		if err := dropSysAdmin(); err != nil {
			return fail(err)
		}
		if mode == "install-nnp" {
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				return fail(err)
			}
		}
		fmt.Println(int(errnoOf(errors.Unwrap(Default().Install()))))
		return 0
	}
	switch mode {
	case "probe", "install-probe":
		got := map[string]int{}
		for _, p := range probes {
			got[p.name] = int(p.call())
		}
		if err := json.NewEncoder(os.Stdout).Encode(got); err != nil {
			return fail(err)
		}
		return 0
	case "install-others":
		got := make(chan unix.Errno)
		for range 8 {
			go func() {
				runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
				got <- sys(unix.SYS_KEYCTL, 10000)()
				select {} // hold the thread, so each goroutine has its own
			}()
		}
		var errs []int
		for range 8 {
			errs = append(errs, int(<-got))
		}
		if err := json.NewEncoder(os.Stdout).Encode(errs); err != nil {
			return fail(err)
		}
		return 0
	case "install-exec":
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, helperEnv+"=") {
				env = append(env, kv)
			}
		}
		env = append(env, helperEnv+"="+os.Getenv("VSERVER_SECCOMP_EXEC_MODE"))
		return fail(unix.Exec(os.Args[1], os.Args[1:], env))
	}
	return fail(fmt.Errorf("unknown mode %q", mode))
}

// dropSysAdmin clears CAP_SYS_ADMIN from the calling thread's effective set.
func dropSysAdmin() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[unix.CAP_SYS_ADMIN/32].Effective &^= 1 << (unix.CAP_SYS_ADMIN % 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it compares calls with and without the filter with every capability held")
	}
}

// helper runs the test binary (or argv, if given) in mode and returns its
// standard output.
func helper(t *testing.T, mode string, argv ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, argv...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	// No controlling terminal: vhangup without the filter hangs up nothing.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %s: %v\n%s", mode, err, stderr.String())
	}
	return string(out)
}

func probeResults(t *testing.T, mode string, argv ...string) map[string]unix.Errno {
	t.Helper()
	var raw map[string]int
	out := helper(t, mode, argv...)
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("helper %s: %v in %q", mode, err, out)
	}
	got := map[string]unix.Errno{}
	for k, v := range raw {
		got[k] = unix.Errno(v)
	}
	return got
}

func errName(e unix.Errno) string {
	if e == 0 {
		return "success"
	}
	return fmt.Sprintf("%s (%s)", unix.ErrnoName(e), e)
}

// TestDefaultFilter runs the probes without the filter, with it installed,
// and in a process exec'd after Install (the filter is inherited).
func TestDefaultFilter(t *testing.T) {
	requireRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VSERVER_SECCOMP_EXEC_MODE", "probe")
	runs := []struct {
		name string
		got  map[string]unix.Errno
	}{
		{"installed", probeResults(t, "install-probe")},
		{"inherited across execve", probeResults(t, "install-exec", exe)},
	}
	without := probeResults(t, "probe")
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			base, ok := without[p.name]
			if !ok {
				t.Fatalf("no result without the filter")
			}
			if p.denied && base == p.want {
				t.Errorf("without the filter: got %s, want anything else (else the kernel, not the filter, denies it)", errName(base))
			}
			if !p.denied && base != p.want {
				t.Errorf("without the filter: got %s, want %s", errName(base), errName(p.want))
			}
			for _, r := range runs {
				if got := r.got[p.name]; got != p.want {
					t.Errorf("%s: got %s, want %s", r.name, errName(got), errName(p.want))
				}
			}
		})
	}
}

// TestInstallCallingThreadOnly shows the filter stays on the thread that
// installed it: threads the runtime starts afterwards don't get it.
func TestInstallCallingThreadOnly(t *testing.T) {
	requireRoot(t)
	var got []int
	if err := json.Unmarshal([]byte(helper(t, "install-others")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 8 {
		t.Fatalf("got %d results, want 8", len(got))
	}
	for i, e := range got {
		if unix.Errno(e) != unix.EOPNOTSUPP {
			t.Errorf("thread %d: keyctl got %s, want %s", i, errName(unix.Errno(e)), errName(unix.EOPNOTSUPP))
		}
	}
}

func TestInstallNeedsSysAdminOrNoNewPrivs(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		mode string
		want unix.Errno
	}{
		{"install-nocap", unix.EACCES},
		{"install-nnp", 0},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			var got int
			if _, err := fmt.Sscan(helper(t, tt.mode), &got); err != nil {
				t.Fatalf("helper output: %v", err)
			}
			if unix.Errno(got) != tt.want {
				t.Errorf("got %s, want %s", errName(unix.Errno(got)), errName(tt.want))
			}
		})
	}
}

// TestI386 makes calls through int 0x80, where they carry i386 numbers,
// from a static probe exec'd after Install.
func TestI386(t *testing.T) {
	requireRoot(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatalf("the i386 probe is built with gcc: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "int80")
	out, err := exec.Command(gcc, "-nostdlib", "-static", "-no-pie", "-O2", "-fno-stack-protector",
		"-o", bin, "testdata/int80.c").CombinedOutput()
	if err != nil {
		t.Fatalf("build the i386 probe: %v\n%s", err, out)
	}
	const (
		getpid, reboot, ptrace, stime, mount, umount = "20", "88", "26", "25", "21", "22"
		keyctl, addKey, initModule, kexecLoad        = "288", "286", "128", "283"
		unshare, clone, clone3, socket, personality  = "310", "120", "435", "359", "136"
		bpf, ioUringSetup, vm86old, settimeofday     = "357", "425", "113", "79"
	)
	hex := func(v uint64) string { return fmt.Sprintf("%#x", v) }
	tests := []struct {
		name   string
		args   []string
		want   unix.Errno
		denied bool
	}{
		{"getpid", []string{getpid}, 0, false},
		{"reboot with bad magic", []string{reboot, "0", "0", "0"}, unix.EINVAL, false},
		{"ptrace of no process", []string{ptrace, "2", "0x7fffffff"}, unix.ESRCH, false},
		{"clone plain, bad stack", []string{clone, hex(unix.CLONE_VM | unix.CLONE_THREAD)}, unix.EINVAL, false},
		{"keyctl", []string{keyctl, "10000"}, unix.EPERM, true},
		{"add_key", []string{addKey}, unix.EPERM, true},
		{"init_module", []string{initModule}, unix.EPERM, true},
		{"kexec_load", []string{kexecLoad, "0", "1000"}, unix.EPERM, true},
		{"stime", []string{stime, "0"}, unix.EPERM, true},
		{"settimeofday", []string{settimeofday, "0", "0"}, unix.EPERM, true},
		{"mount", []string{mount}, unix.EPERM, true},
		{"umount", []string{umount, "0"}, unix.EPERM, true},
		{"bpf", []string{bpf, "0xffff"}, unix.EPERM, true},
		{"io_uring_setup", []string{ioUringSetup}, unix.EPERM, true},
		{"vm86old", []string{vm86old, "0"}, unix.EPERM, true},
		{"unshare CLONE_NEWUSER", []string{unshare, hex(unix.CLONE_NEWUSER)}, unix.EPERM, true},
		{"clone CLONE_NEWUSER", []string{clone, hex(unix.CLONE_NEWUSER | unix.CLONE_FS)}, unix.EPERM, true},
		{"clone3", []string{clone3}, unix.ENOSYS, true},
		{"socket AF_VSOCK", []string{socket, "40", "15"}, unix.EPERM, true},
		{"personality ADDR_NO_RANDOMIZE", []string{personality, hex(addrNoRandomize)}, unix.EPERM, true},
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	status := func(t *testing.T, cmd *exec.Cmd) unix.Errno {
		t.Helper()
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee) && ee.Exited() && ee.ExitCode() != 255 && ee.ExitCode() != 2:
			return unix.Errno(ee.ExitCode())
		}
		t.Fatalf("%s: %v", cmd, err)
		return 0
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := status(t, exec.Command(bin, tt.args...))
			if tt.denied && base == tt.want {
				t.Errorf("without the filter: got %s, want anything else", errName(base))
			}
			if !tt.denied && base != tt.want {
				t.Errorf("without the filter: got %s, want %s", errName(base), errName(tt.want))
			}
			cmd := exec.Command(exe, append([]string{bin}, tt.args...)...)
			cmd.Env = append(os.Environ(), helperEnv+"=install-exec")
			if got := status(t, cmd); got != tt.want {
				t.Errorf("with the filter: got %s, want %s", errName(got), errName(tt.want))
			}
		})
	}
}
