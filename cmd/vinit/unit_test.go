package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests below run the vinit binary over a temporary units directory:
// as a child subreaper of the test, and as PID 1 of a fresh PID namespace.

var unitBin struct {
	once sync.Once
	path string
	err  error
}

// unitVinit builds vinit once for all tests.
func unitVinit(t *testing.T) string {
	t.Helper()
	unitBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "vinit-test-")
		if err != nil {
			unitBin.err = err
			return
		}
		unitBin.path = filepath.Join(dir, "vinit")
		out, err := exec.Command("go", "build", "-o", unitBin.path, ".").CombinedOutput()
		if err != nil {
			unitBin.err = errors.New(string(out))
		}
	})
	if unitBin.err != nil {
		t.Fatalf("build vinit: %v", unitBin.err)
	}
	return unitBin.path
}

// unitRun is a vinit started by a test.
type unitRun struct {
	cmd     *exec.Cmd
	console string        // the file its stdout and stderr go to
	done    chan struct{} // closed once cmd.Wait returned
}

// unitStart starts vinit over a units directory holding files (name to
// YAML); sys, when not nil, is its SysProcAttr and argv0 its wrapper.
func unitStart(t *testing.T, files map[string]string, sys *syscall.SysProcAttr, wrap ...string) *unitRun {
	t.Helper()
	dir := t.TempDir()
	unitsDir := filepath.Join(dir, "units")
	os.Mkdir(unitsDir, 0o755)
	for name, y := range files {
		if err := os.WriteFile(filepath.Join(unitsDir, name), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	console, err := os.Create(filepath.Join(dir, "console"))
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	argv := append(wrap, unitVinit(t), "--units", unitsDir, "--run-dir", filepath.Join(dir, "run"), "--log-dir", filepath.Join(dir, "log"))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr, cmd.SysProcAttr = console, console, sys
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &unitRun{cmd: cmd, console: console.Name(), done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			cmd.Process.Kill()
			<-r.done
			t.Errorf("vinit was still running at the end of the test:\n%s", r.output())
		}
	})
	return r
}

func (r *unitRun) output() string {
	b, _ := os.ReadFile(r.console)
	return string(b)
}

// wait waits for vinit to end and returns how.
func (r *unitRun) wait(t *testing.T) *os.ProcessState {
	t.Helper()
	select {
	case <-r.done:
		return r.cmd.ProcessState
	case <-time.After(60 * time.Second):
		t.Fatalf("vinit did not end:\n%s", r.output())
		return nil
	}
}

// unitEventually waits, up to a generous bound, for cond.
func unitEventually(t *testing.T, r *unitRun, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s; vinit's console:\n%s", what, r.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func unitPids(t *testing.T, file string) []int {
	t.Helper()
	b, _ := os.ReadFile(file)
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		pids = append(pids, pid)
	}
	return pids
}

func unitExists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// TestUnitModeSubreaper: vinit as a child subreaper restarts a crashing
// service with backoff until its start limit, reaps the orphans a service
// leaves, and on SIGTERM stops everything, KILLing a service that ignores
// TERM after its stop timeout, and exits 0.
func TestUnitModeSubreaper(t *testing.T) {
	work := t.TempDir()
	r := unitStart(t, map[string]string{
		"crash.yaml": `
exec: [sh, -c, "echo run >> ` + work + `/crash; exit 1"]
restart: on-failure
backoff: {initial: 20ms, max: 1s, factor: 2}
start_limit: {burst: 3, interval: 1h}
`,
		"orphans.yaml": `
exec: [sh, -c, "for i in 1 2 3; do (sleep 0.2 & echo $! >> ` + work + `/orphans); done; exec sleep 1000"]
`,
		"stubborn.yaml": `
exec: [sh, -c, "trap '' TERM; echo $$ > ` + work + `/stubborn; while :; do sleep 0.05; done"]
stop_timeout: 300ms
`,
	}, nil)

	unitEventually(t, r, "crash started 3 times", func() bool {
		b, _ := os.ReadFile(work + "/crash")
		return bytes.Count(b, []byte("run\n")) == 3
	})
	unitEventually(t, r, "crash failed for its start limit", func() bool {
		return strings.Contains(r.output(), "start limit reached")
	})
	unitEventually(t, r, "3 orphans forked", func() bool { return len(unitPids(t, work+"/orphans")) == 3 })
	// An orphan that is not reaped stays a zombie, and its /proc entry with it.
	for _, pid := range unitPids(t, work+"/orphans") {
		unitEventually(t, r, "orphan "+strconv.Itoa(pid)+" reaped", func() bool { return !unitExists(pid) })
	}
	unitEventually(t, r, "stubborn started", func() bool { return len(unitPids(t, work+"/stubborn")) == 1 })
	stubborn := unitPids(t, work+"/stubborn")[0]

	r.cmd.Process.Signal(unix.SIGTERM)
	st := r.wait(t)
	if !st.Exited() || st.ExitCode() != 0 {
		t.Fatalf("vinit ended with %v, want exit status 0:\n%s", st, r.output())
	}
	out := r.output()
	for _, want := range []string{`msg="stop timeout: killing" service=stubborn`, `status="signal: SIGKILL"`} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	if unitExists(stubborn) {
		t.Errorf("stubborn %d still exists after vinit exited", stubborn)
	}
}

// TestUnitModeBadUnits: a units directory with errors leaves vinit running
// and saying where each error is; it still runs the valid units.
func TestUnitModeBadUnits(t *testing.T) {
	work := t.TempDir()
	r := unitStart(t, map[string]string{
		"bad.yaml":  "exec: [true]\nrestart: sometimes\n",
		"good.yaml": "exec: [sh, -c, \"echo hello; touch " + work + "/good; exec sleep 1000\"]\n",
	}, nil)
	unitEventually(t, r, "the error reported with its position", func() bool {
		return strings.Contains(r.output(), "bad.yaml:2:")
	})
	unitEventually(t, r, "the good unit started", func() bool {
		_, err := os.Stat(work + "/good")
		return err == nil
	})
	r.cmd.Process.Signal(unix.SIGTERM)
	if st := r.wait(t); !st.Exited() || st.ExitCode() != 0 {
		t.Fatalf("vinit ended with %v, want exit status 0:\n%s", st, r.output())
	}
	if !strings.Contains(r.output(), "good | hello\n") {
		t.Errorf("console lacks \"good | hello\":\n%s", r.output())
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(r.console), "log", "good.log"))
	if err != nil || !strings.HasSuffix(string(b), " hello\n") {
		t.Errorf("log file good.log: %q, %v; want a line hello", b, err)
	}
}

// TestUnitModePID1: as PID 1 of a new PID namespace, vinit ends with
// reboot(2), which the kernel reports to the parent as a death by SIGHUP
// (reboot) or SIGINT (poweroff).
func TestUnitModePID1(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("needs root: it creates PID and mount namespaces")
	}
	sleeper := "exec: [sleep, \"1000\"]\n"
	tests := []struct {
		name  string
		files map[string]string
		sig   unix.Signal // sent once the services run; 0: none
		want  unix.Signal
	}{
		{"SIGTERM powers off", map[string]string{"s.yaml": sleeper}, unix.SIGTERM, unix.SIGINT},
		{"SIGPWR powers off", map[string]string{"s.yaml": sleeper}, unix.SIGPWR, unix.SIGINT},
		{"SIGRTMIN+3 halts", map[string]string{"s.yaml": sleeper}, sigHalt, unix.SIGINT},
		{"SIGINT reboots", map[string]string{"s.yaml": sleeper}, unix.SIGINT, unix.SIGHUP},
		{"SIGRTMIN+5 reboots", map[string]string{"s.yaml": sleeper}, sigReboot, unix.SIGHUP},
		{"a failing unit reboots", map[string]string{
			"s.yaml": sleeper,
			"f.yaml": "kind: oneshot\nexec: [sh, -c, \"sleep 0.1; exit 1\"]\non_failure: reboot\n",
		}, 0, unix.SIGHUP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// sh mounts a /proc of the new namespace, then becomes vinit;
			// the mount namespace is private (Unshareflags), so nothing
			// reaches the host's.
			sys := &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID, Unshareflags: unix.CLONE_NEWNS}
			r := unitStart(t, tt.files, sys, "/bin/sh", "-c", `mount -t proc proc /proc && exec "$@"`, "sh")
			unitEventually(t, r, "vinit running as PID 1", func() bool {
				return strings.Contains(r.output(), "msg=started service=s")
			})
			if tt.sig != 0 {
				r.cmd.Process.Signal(tt.sig)
			}
			st := r.wait(t)
			ws := st.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != tt.want {
				t.Fatalf("vinit ended with %v, want killed by %v:\n%s", st, unix.SignalName(tt.want), r.output())
			}
		})
	}
}

// TestUnitModeReload: SIGHUP applies the units directory's changes, and a
// unit that did not change keeps its process.
func TestUnitModeReload(t *testing.T) {
	work := t.TempDir()
	unit := func(name, arg string) string {
		return "exec: [sh, -c, \"echo $$ > " + work + "/" + name + "; exec sleep " + arg + "\"]\n"
	}
	r := unitStart(t, map[string]string{"keep.yaml": unit("keep", "1000"), "change.yaml": unit("change", "1000"), "drop.yaml": unit("drop", "1000")}, nil)
	pid := func(name string) int {
		t.Helper()
		var p []int
		unitEventually(t, r, name+" started", func() bool { p = unitPids(t, work+"/"+name); return len(p) == 1 })
		return p[0]
	}
	keep, change, drop := pid("keep"), pid("change"), pid("drop")
	for _, n := range []string{"change", "drop"} {
		os.Remove(work + "/" + n)
	}
	unitsDir := filepath.Join(filepath.Dir(r.console), "units")
	os.WriteFile(unitsDir+"/change.yaml", []byte(unit("change", "2000")), 0o644)
	os.WriteFile(unitsDir+"/add.yaml", []byte(unit("add", "1000")), 0o644)
	os.Remove(unitsDir + "/drop.yaml")
	r.cmd.Process.Signal(unix.SIGHUP)

	pid("add")
	if got := pid("change"); got == change {
		t.Errorf("changed unit kept pid %d, want a new process", got)
	}
	unitEventually(t, r, "dropped unit stopped", func() bool { return !unitExists(drop) })
	if got := unitPids(t, work+"/keep"); len(got) != 1 || got[0] != keep || !unitExists(keep) {
		t.Errorf("unchanged unit: pid file %v, want its process %d untouched", got, keep)
	}
	r.cmd.Process.Signal(unix.SIGTERM)
	if st := r.wait(t); !st.Exited() || st.ExitCode() != 0 {
		t.Fatalf("vinit ended with %v, want exit status 0:\n%s", st, r.output())
	}
}

// TestUnitModeCtl drives a running vinit with vinit ctl.
func TestUnitModeCtl(t *testing.T) {
	r := unitStart(t, map[string]string{"svc.yaml": "exec: [sh, -c, \"echo hi there; exec sleep 1000\"]\n"}, nil)
	sock := filepath.Join(filepath.Dir(r.console), "run", "ctl.sock")
	ctl := func(args ...string) (string, int) {
		t.Helper()
		out, err := exec.Command(unitVinit(t), append([]string{"ctl", "--socket", sock}, args...)...).CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	unitEventually(t, r, "svc running and its line logged", func() bool {
		out, _ := ctl("logs", "-n", "1", "svc")
		return strings.HasSuffix(out, " hi there\n")
	})
	out, code := ctl("status")
	if code != 0 || !strings.HasPrefix(out, "NAME ") || !regexpMatch(`(?m)^svc +running +\d+ +\d+s +0 +- +yes +-$`, out) {
		t.Errorf("status: exit %d, output:\n%s", code, out)
	}
	if out, code := ctl("stop", "svc"); code != 0 {
		t.Errorf("stop: exit %d: %s", code, out)
	}
	out, _ = ctl("status", "--json")
	if !strings.Contains(out, `"state": "inactive"`) {
		t.Errorf("status --json after stop:\n%s", out)
	}
	if _, code := ctl("frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if out, code := ctl("start", "nosuch"); code != 1 || !strings.Contains(out, "no such service") {
		t.Errorf("start nosuch: exit %d, %q; want 1 and no such service", code, out)
	}
	r.cmd.Process.Signal(unix.SIGTERM)
	r.wait(t)
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
