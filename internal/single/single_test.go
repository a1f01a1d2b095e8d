package single_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		flags []string
		argv  []string
		want  int
	}{
		{"exit code", nil, []string{"sh", "-c", "exit 3"}, 3},
		{"success", nil, []string{"/bin/true"}, 0},
		{"killed by signal", nil, []string{"sh", "-c", "kill -TERM $$"}, 128 + 15},
		{"killed by SIGKILL", nil, []string{"sh", "-c", "kill -KILL $$"}, 128 + 9},
		{"not in PATH", nil, []string{"vinit-no-such-command"}, 127},
		{"no such file", nil, []string{filepath.Join(dir, "missing")}, 127},
		{"not executable", nil, []string{noexec}, 126},
		{"a directory", nil, []string{dir}, 126},
		{"remapped", []string{"-e", "3"}, []string{"sh", "-c", "exit 3"}, 0},
		{"remapped, second of two", []string{"-e", "3", "--remap-exit", "143"}, []string{"sh", "-c", "kill -TERM $$"}, 0},
		{"not remapped", []string{"-e", "3"}, []string{"sh", "-c", "exit 4"}, 4},
	}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				cmd := run{mode: m, flags: tt.flags, argv: tt.argv}.start(t)
				if got := exitCode(t, cmd); got != tt.want {
					t.Errorf("got exit code %d, want %d", got, tt.want)
				}
			})
		}
	}
}

// TestForwardsSignals sends vinit every forwardable signal and checks that
// the child and, by default, the rest of its process group get it. tini
// forwards to the child alone unless -g, and drops ILL, TRAP, ABRT, BUS,
// FPE, SEGV and SYS; this follows dumb-init: everything, to the group.
func TestForwardsSignals(t *testing.T) {
	for _, m := range modes {
		for _, childOnly := range []bool{false, true} {
			name := m.name + "/group"
			var flags []string
			if childOnly {
				name, flags = m.name+"/child-only", []string{"-c"}
			}
			t.Run(name, func(t *testing.T) { testForwardsSignals(t, m, flags, childOnly) })
		}
	}
}

func testForwardsSignals(t *testing.T, m mode, flags []string, childOnly bool) {
	report, quit := newPipe(t), newPipe(t)
	cmd := run{mode: m, flags: flags, argv: helperArgv(t, "signals"),
		extra: []*os.File{report.w, quit.r}}.start(t)
	report.w.Close()
	quit.r.Close()
	vinitPid := cmd.Process.Pid
	if f := strings.Fields(report.line(t)); len(f) != 2 || f[0] != "ready" {
		t.Fatalf("helper: got %q, want ready", f)
	}
	// The member is the helper's only child; find its PID as seen here.
	kids := children(vinitPid)
	if len(kids) != 1 {
		t.Fatalf("vinit has children %v, want one", kids)
	}
	helper := kids[0]
	members := children(helper)
	if len(members) != 1 {
		t.Fatalf("helper has children %v, want one", members)
	}
	member := members[0]

	expect := func(sig unix.Signal) {
		t.Helper()
		if got := report.line(t); got != strconv.Itoa(int(sig)) {
			t.Fatalf("after %v, the child got signal %s first, want %d (no other)", unix.SignalName(sig), got, sig)
		}
		// A signal sent to the group is queued to every member within the
		// kill(2) vinit made before the child could report it.
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", member))
		if err != nil {
			t.Fatal(err)
		}
		pending, _ := strconv.ParseUint(statusField(t, string(b), "ShdPnd"), 16, 64)
		if got := pending&(1<<(sig-1)) != 0; got == childOnly {
			t.Errorf("%v pending in the group's other member: %v, want %v", unix.SignalName(sig), got, !childOnly)
		}
	}
	for _, sig := range forwardable() {
		if err := unix.Kill(vinitPid, sig); err != nil {
			t.Fatal(err)
		}
		expect(sig)
		switch sig {
		case unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
			// vinit stops with the child (PID 1 can't be stopped), and
			// SIGCONT resumes both.
			if !m.pid1 {
				waitFor(t, "vinit to stop", func() bool { return procState(vinitPid) == 'T' })
			}
			if err := unix.Kill(vinitPid, unix.SIGCONT); err != nil {
				t.Fatal(err)
			}
			expect(unix.SIGCONT)
			if s := procState(vinitPid); s == 'T' {
				t.Errorf("vinit is still stopped after SIGCONT")
			}
		}
	}
	quit.w.Close()
	if got := exitCode(t, cmd); got != 0 {
		t.Errorf("got exit code %d, want 0", got)
	}
}

// TestReexecDisablesAsyncPreemption proves that the runtime in vinit sends
// no SIGURG of its own: the runtime reads GODEBUG from its initial
// environment only, so what /proc/PID/environ of the running vinit shows is
// what its runtime uses, and with asyncpreemptoff=1 it never calls preemptM,
// the only sender of its SIGURG. The child gets the caller's GODEBUG back.
func TestReexecDisablesAsyncPreemption(t *testing.T) {
	tests := []struct {
		name       string
		godebug    *string
		wantVinit  string
		wantChild  string // "" : no GODEBUG at all
		childHasGD bool
	}{
		{"unset", nil, "asyncpreemptoff=1", "", false},
		{"other settings", ptr("panicnil=1"), "panicnil=1,asyncpreemptoff=1", "panicnil=1", true},
		{"turned back on", ptr("asyncpreemptoff=1,asyncpreemptoff=0"), "asyncpreemptoff=1,asyncpreemptoff=0,asyncpreemptoff=1", "asyncpreemptoff=1,asyncpreemptoff=0", true},
		{"already off", ptr("asyncpreemptoff=1"), "asyncpreemptoff=1", "asyncpreemptoff=1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GODEBUG=") {
					env = append(env, kv)
				}
			}
			if tt.godebug != nil {
				env = append(env, "GODEBUG="+*tt.godebug)
			}
			report := newPipe(t)
			cmd := run{mode: modes[0], env: env, argv: []string{"sh", "-c", `echo $$ >&3; sleep 1000; exit 0`},
				extra: []*os.File{report.w}}.start(t)
			report.w.Close()
			childPid := report.line(t) // the child runs: the re-exec is done
			got := environ(t, strconv.Itoa(cmd.Process.Pid))
			if v := got["GODEBUG"]; v != tt.wantVinit {
				t.Errorf("vinit runs with GODEBUG=%q, want %q", v, tt.wantVinit)
			}
			child := environ(t, childPid)
			if v, ok := child["GODEBUG"]; v != tt.wantChild || ok != tt.childHasGD {
				t.Errorf("child has GODEBUG=%q (set: %v), want %q (set: %v)", v, ok, tt.wantChild, tt.childHasGD)
			}
			for k := range child {
				if strings.HasPrefix(k, "VINIT_") {
					t.Errorf("child has vinit's variable %s", k)
				}
			}
			cmd.Process.Signal(unix.SIGTERM)
			exitCode(t, cmd)
		})
	}
}

func ptr(s string) *string { return &s }

// environ reads /proc/PID/environ.
func environ(t *testing.T, pid string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestGoDebugDirectiveRefused pins why vinit re-executes itself: a plain go
// build refuses //go:debug asyncpreemptoff=1. If a future Go accepts it,
// this fails, and the directive in cmd/vinit can replace the re-exec.
func TestGoDebugDirectiveRefused(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module probe\n\ngo 1.26\n",
		"main.go": "//go:debug asyncpreemptoff=1\n\npackage main\n\nfunc main() {}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", os.DevNull, ".")
	build.Dir = dir
	out, err := build.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unknown //go:debug setting") {
		t.Fatalf("go build with //go:debug asyncpreemptoff=1: got %v, %s; want an unknown-setting error", err, out)
	}
}

// TestInheritsSignalMaskAndIgnored starts vinit with signals blocked and
// ignored and checks that the child's SigBlk and SigIgn are what a child
// started directly the same way has. The signals are ones the Go runtime
// keeps as inherited (see docs/single-command.md for those it can't).
// The ignores are set by a shell (trap ” SIG; exec ...), the mask by the
// forking thread, so the test process itself keeps its dispositions.
func TestInheritsSignalMaskAndIgnored(t *testing.T) {
	blocked := []unix.Signal{unix.SIGUSR1, unix.SIGWINCH, unix.Signal(40)}
	ignored := []string{"HUP", "INT", "TSTP", "TTOU"}
	var wantBlk, wantIgn uint64
	for _, s := range blocked {
		wantBlk |= 1 << (s - 1)
	}
	for _, s := range []unix.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGTSTP, unix.SIGTTOU} {
		wantIgn |= 1 << (s - 1)
	}
	wrapper := []string{"/bin/sh", "-c", "trap '' " + strings.Join(ignored, " ") + `; exec "$@"`, "sh"}
	// status starts argv behind the wrapper with the signals blocked and
	// returns SigBlk and SigIgn from what it printed of /proc/self/status.
	status := func(t *testing.T, r run) (blk, ign uint64) {
		t.Helper()
		out := new(strings.Builder)
		r.stdout = out
		runtime.LockOSThread()
		var set, old unix.Sigset_t
		for _, s := range blocked {
			set.Val[(s-1)/64] |= 1 << ((s - 1) % 64)
		}
		if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
			t.Fatal(err)
		}
		cmd := r.start(t)
		unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
		runtime.UnlockOSThread()
		if code := exitCode(t, cmd); code != 0 {
			t.Fatalf("exit code %d", code)
		}
		blk, _ = strconv.ParseUint(statusField(t, out.String(), "SigBlk"), 16, 64)
		ign, _ = strconv.ParseUint(statusField(t, out.String(), "SigIgn"), 16, 64)
		return blk, ign
	}
	cat := []string{"/bin/cat", "/proc/self/status"}
	// Without vinit: the exec line "-- " is not used, run starts the wrapper.
	blk, ign := status(t, run{mode: modes[0], binary: wrapper[0], args: append(wrapper[1:], cat...)})
	if blk&wantBlk != wantBlk || ign&wantIgn != wantIgn {
		t.Fatalf("the test's own setup: child has SigBlk %#x SigIgn %#x, want at least %#x %#x", blk, ign, wantBlk, wantIgn)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			gotBlk, gotIgn := status(t, run{mode: m, binary: wrapper[0],
				args: append(append(wrapper[1:], vinit, "--"), cat...)})
			if gotBlk != blk {
				t.Errorf("child under vinit has SigBlk %#x, want %#x", gotBlk, blk)
			}
			if gotIgn != ign {
				t.Errorf("child under vinit has SigIgn %#x, want %#x", gotIgn, ign)
			}
		})
	}
}

// TestLinkedGodebugSkipsReexec: a vinit linked with
// -X=runtime.godebugDefault=asyncpreemptoff=1 has preemption off from the
// start (the runtime applies that default before GODEBUG) and must not
// re-execute itself, when it can tell: from its build information, or, in a
// -trimpath build (which records no -ldflags), from LinkedGodebugDefault.
// A -trimpath build that sets only the runtime's variable can't tell, and
// must re-execute rather than forward the runtime's SIGURGs.
func TestLinkedGodebugSkipsReexec(t *testing.T) {
	const (
		runtimeX = "-X=runtime.godebugDefault=asyncpreemptoff=1"
		singleX  = "-X=github.com/vservers/vserver/internal/single.LinkedGodebugDefault=asyncpreemptoff=1"
	)
	for _, tc := range []struct {
		name       string
		flags      []string
		wantReexec bool
	}{
		{"ldflags in build info", []string{"-ldflags=" + runtimeX}, false},
		{"trimpath, both variables", []string{"-trimpath", "-ldflags=" + runtimeX + " " + singleX}, false},
		{"trimpath, runtime only", []string{"-trimpath", "-ldflags=" + runtimeX}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "vinit")
			args := append(append([]string{"build"}, tc.flags...), "-o", bin, "github.com/vservers/vserver/cmd/vinit")
			if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			report := newPipe(t)
			cmd := exec.Command(bin, "--", "sh", "-c", `echo $$ >&3; sleep 1000; exit 0`)
			cmd.ExtraFiles = []*os.File{report.w}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GODEBUG=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			report.w.Close()
			report.line(t)
			env := environ(t, strconv.Itoa(cmd.Process.Pid))
			cmd.Process.Signal(unix.SIGTERM)
			exitCode(t, cmd)
			v, reexeced := env["GODEBUG"]
			if reexeced != tc.wantReexec {
				t.Errorf("re-executed: %v (GODEBUG=%q), want %v", reexeced, v, tc.wantReexec)
			}
		})
	}
}

// TestWorkingDirectory: the child runs in the caller's directory, and vinit
// moves to / so it keeps no directory busy.
func TestWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	out := new(strings.Builder)
	// The child waits (a bounded poll) for vinit to have moved, then
	// reports its own directory and vinit's.
	script := `for i in $(seq 500); do [ "$(readlink /proc/$PPID/cwd)" = / ] && break; sleep 0.01; done
		pwd; readlink /proc/$PPID/cwd`
	cmd := exec.Command(vinit, "--", "sh", "-c", script)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(out.String())
	if want := []string{dir, "/"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got child's and vinit's directories %q, want %q", got, want)
	}
}

// TestSilentUnlessVerbose: vinit adds nothing to the child's output, even
// when it has leftovers to kill, unless -v asks for its log.
func TestSilentUnlessVerbose(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		t.Run(fmt.Sprint("verbose=", verbose), func(t *testing.T) {
			var flags []string
			if verbose {
				flags = []string{"-v"}
			}
			out := new(strings.Builder)
			cmd := exec.Command(vinit, append(flags, "-t", "100ms", "--", "sh", "-c", "echo child; (trap '' TERM; sleep 100) & exit 0")...)
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Run(); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); (got == "child\n") == verbose {
				t.Errorf("with -v %v the output is %q, want %s", verbose, got, map[bool]string{false: `only "child\n"`, true: "vinit's log too"}[verbose])
			}
		})
	}
}
