package supervisor

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vservers/vserver/units"
)

// helperEnv makes the test binary, run as a service, play notifyHelper.
const helperEnv = "SUPERVISOR_TEST_HELPER"

// notifyHelper is a notify service: it waits for the file named by
// $READY_FILE, sends READY=1 and a STATUS= on $NOTIFY_SOCKET, and sleeps.
func notifyHelper() {
	for {
		if _, err := os.Stat(os.Getenv("READY_FILE")); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("unixgram", os.Getenv("NOTIFY_SOCKET"))
	if err != nil {
		os.Exit(3)
	}
	if _, err := c.Write([]byte("READY=1\nSTATUS=serving")); err != nil {
		os.Exit(4)
	}
	time.Sleep(time.Hour)
}

// helperUnit runs the test binary as a notify service that becomes ready
// once readyFile exists.
func helperUnit(name, readyFile string) *units.Unit {
	u := testUnit(name, os.Args[0])
	u.Kind = units.Notify
	u.Env = []string{helperEnv + "=notify", "READY_FILE=" + readyFile}
	u.Ready = units.Ready{Interval: 10 * time.Millisecond, Timeout: time.Minute}
	return u
}

func startIn(t *testing.T, runDir string, us ...*units.Unit) *Supervisor {
	t.Helper()
	set, err := units.NewSet(us...)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSupervisor(t, Config{RunDir: runDir})
	if err := s.Start(set); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNotifyReadiness: B requires A, a notify service; B waits until A has
// sent READY=1 on the notify socket.
func TestNotifyReadiness(t *testing.T) {
	dir := t.TempDir()
	a := helperUnit("a", dir+"/go")
	b := testUnit("b", "sleep", "1000")
	b.Requires = []string{"a"}
	s := startIn(t, dir, a, b)
	waitState(t, s, "a", is(StateStarting))
	if st := statusOf(s, "b"); st.State != StateWaiting {
		t.Fatalf("b is %s while a is starting, want waiting", st.State)
	}
	os.WriteFile(dir+"/go", nil, 0o644)
	waitState(t, s, "b", is(StateRunning))
	if st := statusOf(s, "a"); !st.Ready || st.StatusText != "serving" {
		t.Errorf("a: ready %v, status text %q; want ready, serving", st.Ready, st.StatusText)
	}
}

// TestReadyTimeout: a notify service that never sends READY=1 fails once
// its ready timeout has passed, and is stopped.
func TestReadyTimeout(t *testing.T) {
	dir := t.TempDir()
	a := helperUnit("a", dir+"/never")
	a.Ready.Timeout = 200 * time.Millisecond
	s := startIn(t, dir, a)
	st := waitState(t, s, "a", is(StateFailed))
	if !strings.Contains(st.Error, "not ready within 200ms") || st.LastExit != "signal: SIGTERM" {
		t.Errorf("got error %q, last exit %q; want not ready within 200ms, SIGTERM", st.Error, st.LastExit)
	}
}

// TestReadyTimeoutSaysWhy: a service whose probe never succeeds fails
// with the probe's last error, not only the timeout: a name that is not in
// /etc/hosts, which vinit can't resolve, says so.
func TestReadyTimeoutSaysWhy(t *testing.T) {
	hosts := t.TempDir() + "/hosts"
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n"), 0o644)
	old := hostsFile
	hostsFile = hosts
	t.Cleanup(func() { hostsFile = old })
	a := testUnit("a", "sleep", "1000")
	a.Ready = units.Ready{TCP: "db.example:5432", Interval: 20 * time.Millisecond, Timeout: 300 * time.Millisecond}
	s := startIn(t, "", a)
	st := waitState(t, s, "a", is(StateFailed))
	if !strings.Contains(st.Error, "not ready within 300ms; the last probe: ") || !strings.Contains(st.Error, "not in "+hosts) {
		t.Errorf("got error %q, want the timeout and the probe's last error", st.Error)
	}
}

// TestWatchdog: a service that stops sending WATCHDOG=1 fails.
func TestWatchdog(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/go", nil, 0o644)
	a := helperUnit("a", dir+"/go")
	a.Watchdog = 200 * time.Millisecond
	s := startIn(t, dir, a)
	st := waitState(t, s, "a", is(StateFailed))
	if !strings.Contains(st.Error, "watchdog") {
		t.Errorf("got error %q, want the watchdog", st.Error)
	}
}

func TestProbes(t *testing.T) {
	t.Run("tcp", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		a := testUnit("a", "sleep", "1000")
		a.Ready = units.Ready{TCP: addr, Interval: 10 * time.Millisecond, Timeout: time.Minute}
		s := startIn(t, "", a)
		waitState(t, s, "a", is(StateStarting))
		if l, err = net.Listen("tcp", addr); err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		waitState(t, s, "a", is(StateRunning))
	})
	t.Run("exec", func(t *testing.T) {
		file := t.TempDir() + "/up"
		a := testUnit("a", "sleep", "1000")
		a.Ready = units.Ready{Exec: []string{"test", "-e", file}, Interval: 10 * time.Millisecond, Timeout: time.Minute}
		s := startIn(t, "", a)
		waitState(t, s, "a", is(StateStarting))
		os.WriteFile(file, nil, 0o644)
		waitState(t, s, "a", is(StateRunning))
	})
}

func statusOf(s *Supervisor, name string) Status {
	for _, st := range s.Status() {
		if st.Name == name {
			return st
		}
	}
	return Status{}
}

// TestForking: a forking service is ready once its parent exited, and its
// daemon, named in the PID file, becomes the main process: it is what a
// stop ends, and what requires it starts after.
func TestForking(t *testing.T) {
	dir := t.TempDir()
	pidFile := dir + "/daemon.pid"
	d := testUnit("daemon", "sh", "-c", "setsid sleep 1000 & echo $! > "+pidFile+"; exit 0")
	d.Kind = units.Forking
	d.PIDFile = pidFile
	b := testUnit("b", "sleep", "1000")
	b.Requires = []string{"daemon"}
	s := startIn(t, "", d, b)
	waitState(t, s, "b", is(StateRunning))
	st := statusOf(s, "daemon")
	pids := readPids(t, pidFile)
	if st.State != StateRunning || !st.Ready || len(pids) != 1 || st.Pid != pids[0] {
		t.Fatalf("daemon: %s, ready %v, pid %d; want running, ready, the PID file's %v", st.State, st.Ready, st.Pid, pids)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.StopService(ctx, "daemon"); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(s, "daemon"); st.LastExit != "signal: SIGTERM" {
		t.Errorf("daemon's last exit %q, want signal: SIGTERM", st.LastExit)
	}
}

func readPids(t *testing.T, file string) []int {
	t.Helper()
	b, _ := os.ReadFile(file)
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p)
	}
	return pids
}
