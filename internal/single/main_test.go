package single_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// vinit is the real binary under test, built by TestMain.
var vinit string

// helperEnv makes the test binary play a child instead of running tests,
// as in os/exec's helper-process pattern. Its value names the helper.
const helperEnv = "VINIT_TEST_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(h))
	}
	dir, err := os.MkdirTemp("", "vinit-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vinit = filepath.Join(dir, "vinit")
	build := exec.Command("go", "build", "-o", vinit, "github.com/vservers/vserver/cmd/vinit")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build vinit:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mode is how vinit runs: as a child subreaper of the test, or as PID 1 of
// a fresh PID namespace.
type mode struct {
	name string
	pid1 bool
}

var modes = []mode{{"subreaper", false}, {"pid1", true}}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (PID namespaces, ptys of other sessions); run it as root")
	}
}

// self is the test binary, run as a helper child.
func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// helperArgv runs helper name under vinit with async preemption off, so the
// helper's own runtime sends it no SIGURG that would look forwarded.
func helperArgv(t *testing.T, name string, args ...string) []string {
	t.Helper()
	return append([]string{"/usr/bin/env", "GODEBUG=asyncpreemptoff=1", helperEnv + "=" + name, self(t)}, args...)
}

// run describes one vinit run.
type run struct {
	mode  mode
	flags []string
	argv  []string
	env   []string   // nil: the test's environment without GODEBUG
	extra []*os.File // fds 3, 4, ... of vinit (and so of its child)
	sys   *syscall.SysProcAttr
	stdio [3]*os.File // nil: /dev/null (stdin), the test's stderr
	// stdout, when set, collects vinit's stdout instead.
	stdout io.Writer
	// binary and args, when set, are run instead of vinit (a wrapper
	// that runs vinit itself, say), in the same mode.
	binary string
	args   []string
}

// start starts vinit and returns it running.
func (r run) start(t *testing.T) *exec.Cmd {
	t.Helper()
	if r.mode.pid1 {
		requireRoot(t)
	}
	cmd := exec.Command(vinit, append(append(append([]string{}, r.flags...), "--"), r.argv...)...)
	if r.binary != "" {
		cmd = exec.Command(r.binary, r.args...)
	}
	cmd.Env = r.env
	if cmd.Env == nil {
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "GODEBUG=") && !strings.HasPrefix(kv, helperEnv+"=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
	}
	cmd.ExtraFiles = r.extra
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.stdio[0], r.stdio[1], r.stdio[2]
	if r.stdio[1] == nil {
		cmd.Stdout = os.Stderr
	}
	if r.stdout != nil {
		cmd.Stdout = r.stdout
	}
	if r.stdio[2] == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = r.sys
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if r.mode.pid1 {
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWPID
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start vinit: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// startHelper starts the test binary as helper name with args, set up as r
// says (r.argv is not used).
func (r run) startHelper(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(self(t), args...)
	cmd.Env = append(os.Environ(), "GODEBUG=asyncpreemptoff=1", helperEnv+"="+name)
	cmd.ExtraFiles = r.extra
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.stdio[0], r.stdio[1], r.stdio[2]
	cmd.SysProcAttr = r.sys
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper %s: %v", name, err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// exitCode waits for vinit and returns its exit code.
func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second): // a hang guard, not a timing check
		cmd.Process.Kill()
		<-done
		t.Fatal("vinit did not exit within a minute")
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Exited() {
		t.Fatalf("vinit ended with %v, want an exit", cmd.ProcessState)
	}
	return ws.ExitStatus()
}

// pipe returns a pipe whose write end the child inherits; the parent's copy
// of it is closed once start has run (call closeAfterStart).
type pipe struct {
	r, w *os.File
	sc   *bufio.Scanner
}

func newPipe(t *testing.T) *pipe {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return &pipe{r: r, w: w, sc: bufio.NewScanner(r)}
}

// line reads the next line the children wrote, failing after a minute.
func (p *pipe) line(t *testing.T) string {
	t.Helper()
	p.r.SetReadDeadline(time.Now().Add(time.Minute)) // a hang guard
	if !p.sc.Scan() {
		t.Fatalf("reading from the child: %v (EOF: it exited)", p.sc.Err())
	}
	return p.sc.Text()
}

// children lists the children of pid, zombies included.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(w); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// procState returns the state letter of pid from /proc/PID/stat.
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// statusField returns a field of /proc/PID/status.
func statusField(t *testing.T, status, key string) string {
	t.Helper()
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in %q", key, status)
	return ""
}

// waitFor polls cond until it holds, failing after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a hang guard, not a timing check
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
