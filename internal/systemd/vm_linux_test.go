package systemd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"golang.org/x/sys/unix"
)

// The tests below need a host booted by systemd, with cgroup v2 and
// systemd-machined: scripts/vmtest-host.sh runs them in a VM with
// VHOST_TEST_SYSTEMD=1. Asked for and not on such a host, they fail.
func needSystemd(t *testing.T) {
	t.Helper()
	if os.Getenv("VHOST_TEST_SYSTEMD") != "1" {
		t.Skip("needs systemd as PID 1: set VHOST_TEST_SYSTEMD=1 (scripts/vmtest-host.sh runs it in a VM)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root")
	}
	if !Booted() {
		t.Fatal("VHOST_TEST_SYSTEMD=1 but the host was not booted by systemd")
	}
}

// TestMain plays the helper processes: with VHOST_SYSTEMD_HELPER=signals it
// waits for SIGRTMIN+4 or SIGINT and writes the signal's number to stdout.
func TestMain(m *testing.M) {
	if os.Getenv("VHOST_SYSTEMD_HELPER") == "signals" {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.Signal(sigRTMin+4), syscall.SIGINT)
		fmt.Println("waiting")
		s := <-c
		fmt.Println(int(s.(syscall.Signal)))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sigRTMin is SIGRTMIN as glibc (and machined) count it.
const sigRTMin = 34

func testName(base string) string { return fmt.Sprintf("%s%d", base, os.Getpid()%100000) }

// sleeper starts a process that lives until the test ends it.
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func readTrim(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestStartScopeMovesThePidAndSetsLimits(t *testing.T) {
	needSystemd(t)
	name := testName("scope")
	cmd := sleeper(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir, err := StartScope(ctx, name, cmd.Process.Pid, ScopeProps{MemoryMax: 64 << 20, TasksMax: 20, CPUWeight: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { StopScope(context.Background(), name) })
	if want := "/sys/fs/cgroup/machine.slice/vhost-" + name + ".scope"; dir != want {
		t.Fatalf("cgroup: got %s, want %s", dir, want)
	}
	if got := readTrim(t, filepath.Join(dir, "cgroup.procs")); got != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("cgroup.procs: got %q, want %d", got, cmd.Process.Pid)
	}
	for file, want := range map[string]string{"memory.max": "67108864", "pids.max": "20", "cpu.weight": "50"} {
		if got := readTrim(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s: got %s, want %s", file, got, want)
		}
	}
	// Delegated: the scope's processes may make cgroups below it.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Errorf("delegated scope: %v", err)
	} else {
		os.Remove(filepath.Join(dir, "sub"))
	}
	if u, err := UnitOf(ctx, cmd.Process.Pid); err != nil || u != ScopeUnit(name) {
		t.Errorf("unit of the pid: got %q, %v, want %s", u, err, ScopeUnit(name))
	}

	if err := StopScope(ctx, name); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Errorf("sleep after StopScope: got %v, want killed by a signal", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("scope's cgroup after StopScope: got %v, want it gone", err)
	}
	if err := StopScope(ctx, name); err != nil {
		t.Errorf("StopScope of a scope that is gone: %v", err)
	}
}

func machinectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("machinectl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("machinectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// signalHelper starts the test binary as a leader that reports the signal it
// gets, and waits until it listens. The function it returns waits until
// the helper's output has all been read, and returns it.
func signalHelper(t *testing.T) (*exec.Cmd, func() string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "VHOST_SYSTEMD_HELPER=signals")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	buf := make([]byte, 8)
	if n, err := r.Read(buf); err != nil || string(buf[:n]) != "waiting\n" {
		t.Fatalf("helper: got %q, %v", buf[:n], err)
	}
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		out.ReadFrom(r)
		r.Close()
		close(done)
	}()
	return cmd, func() string {
		<-done
		return out.String()
	}
}

func TestRegisterMachine(t *testing.T) {
	needSystemd(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tests := []struct {
		verb string
		want string // the signal the leader gets
	}{
		{"poweroff", strconv.Itoa(sigRTMin + 4)},
		{"reboot", strconv.Itoa(int(syscall.SIGINT))},
	}
	for _, tt := range tests {
		t.Run(tt.verb, func(t *testing.T) {
			name := testName("m" + tt.verb)
			cmd, out := signalHelper(t)
			if _, err := StartScope(ctx, name, cmd.Process.Pid, ScopeProps{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { StopScope(context.Background(), name) })
			if err := RegisterMachine(ctx, name, cmd.Process.Pid, Machine{Root: "/"}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { UnregisterMachine(context.Background(), name) })
			if got := machinectl(t, "list", "--no-legend"); !strings.Contains(got, name) {
				t.Errorf("machinectl list: got %q, want %s in it", got, name)
			}
			if got, want := strings.TrimSpace(machinectl(t, "show", name, "-p", "Unit", "-p", "Leader", "-p", "Class")),
				fmt.Sprintf("Unit=%s\nLeader=%d\nClass=container", ScopeUnit(name), cmd.Process.Pid); got != want {
				t.Errorf("machinectl show: got %q, want %q", got, want)
			}
			machinectl(t, tt.verb, name)
			cmd.Wait()
			if got := strings.TrimSpace(out()); got != tt.want {
				t.Errorf("signal the leader got: got %q, want %s", got, tt.want)
			}
		})
	}
	t.Run("terminate", func(t *testing.T) {
		name := testName("mterm")
		cmd := sleeper(t)
		if _, err := StartScope(ctx, name, cmd.Process.Pid, ScopeProps{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { StopScope(context.Background(), name) })
		if err := RegisterMachine(ctx, name, cmd.Process.Pid, Machine{}); err != nil {
			t.Fatal(err)
		}
		if err := TerminateMachine(ctx, name); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err == nil {
			t.Errorf("leader after TerminateMachine: got a clean exit, want killed")
		}
		if err := TerminateMachine(ctx, name); err != nil {
			t.Errorf("TerminateMachine of a machine that is gone: %v", err)
		}
	})
}

func TestJournalHandlerWritesFields(t *testing.T) {
	needSystemd(t)
	if !journal.Enabled() {
		t.Fatal("journald does not listen")
	}
	name := testName("j")
	log := NewLogHandler(os.Stderr, nil)
	if _, ok := log.(*JournalHandler); !ok {
		t.Fatalf("NewLogHandler: got %T, want *JournalHandler", log)
	}
	logger := slog.New(log).With("vserver", name)
	logger.Warn("guest started", "context_id", 12)
	var entry map[string]any
	for i := 0; i < 50 && entry == nil; i++ {
		out, err := exec.Command("journalctl", "-o", "json", "VSERVER="+name).Output()
		if err != nil {
			t.Fatal(err)
		}
		if l := strings.TrimSpace(string(out)); l != "" {
			if err := json.Unmarshal([]byte(strings.Split(l, "\n")[0]), &entry); err != nil {
				t.Fatal(err)
			}
			break
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 100e6}, nil)
	}
	if entry == nil {
		t.Fatalf("journalctl VSERVER=%s: no entry", name)
	}
	for k, want := range map[string]string{
		"MESSAGE": "guest started vserver=" + name + " context_id=12", "PRIORITY": "4",
		"VSERVER": name, "CONTEXT_ID": "12",
	} {
		if got := entry[k]; got != want {
			t.Errorf("%s: got %v, want %s", k, got, want)
		}
	}
}
