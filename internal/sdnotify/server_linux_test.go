package sdnotify

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// helperEnv marks the test binary re-exec'd as a notifying client: it sends
// the env's payload with go-systemd's daemon.SdNotify and exits.
const helperEnv = "SDNOTIFY_TEST_HELPER_PAYLOAD"

func TestMain(m *testing.M) {
	if payload, ok := os.LookupEnv(helperEnv); ok {
		sent, err := daemon.SdNotify(false, payload)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper: sd_notify:", err)
			os.Exit(2)
		}
		if !sent {
			fmt.Fprintln(os.Stderr, "helper: sd_notify: NOTIFY_SOCKET not set")
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serve starts a server at addr whose handler forwards copies of the
// messages (without fds) on the returned channel, and stops it at cleanup.
func serve(t *testing.T, addr string) (*Server, <-chan Message) {
	t.Helper()
	ch := make(chan Message, 16)
	s := serveWith(t, addr, func(m *Message) {
		c := *m
		c.Fds = nil
		ch <- c
	}, MaxFds)
	return s, ch
}

func serveWith(t *testing.T, addr string, handle func(*Message), maxFds int) *Server {
	t.Helper()
	s, err := Listen(addr, nil)
	if err != nil {
		t.Fatalf("Listen(%q): %v", addr, err)
	}
	s.maxFds = maxFds
	done := make(chan error, 1)
	go func() { done <- s.Serve(handle) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: got %v, want nil after Close", err)
		}
	})
	return s
}

func sockPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "notify.sock")
}

func abstractAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("@vinit-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
}

func systemdNotify(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-notify")
	if err != nil {
		t.Fatalf("this test needs systemd-notify (apt-get install systemd): %v", err)
	}
	return p
}

// TestSystemdNotify drives the server with Debian's systemd-notify, which
// sends its message and then a BARRIER=1 and waits for the barrier's fd to
// be closed: it fails ("Failed to invoke barrier") unless the server answers
// the barrier, and it returns only after the message was handled.
func TestSystemdNotify(t *testing.T) {
	bin := systemdNotify(t)
	sleep := exec.Command("sleep", "1000")
	if err := sleep.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	t.Cleanup(func() {
		sleep.Process.Kill()
		sleep.Wait()
	})
	mainPid := strconv.Itoa(sleep.Process.Pid)

	tests := []struct {
		name    string
		addr    string
		args    []string
		want    []Field
		wantPid int
	}{
		{
			name:    "ready and status",
			addr:    sockPath(t),
			args:    []string{"--ready", "--status=serving"},
			want:    []Field{{"READY", "1"}, {"STATUS", "serving"}},
			wantPid: os.Getpid(), // systemd-notify sends as its parent
		},
		{
			name:    "abstract socket",
			addr:    abstractAddr(t),
			args:    []string{"--ready"},
			want:    []Field{{"READY", "1"}},
			wantPid: os.Getpid(),
		},
		{
			name:    "pid names the sender",
			addr:    sockPath(t),
			args:    []string{"--pid=" + mainPid, "--ready"},
			want:    []Field{{"READY", "1"}, {"MAINPID", mainPid}},
			wantPid: sleep.Process.Pid,
		},
		{
			name:    "arbitrary fields",
			addr:    sockPath(t),
			args:    []string{"STOPPING=1", "ERRNO=5", "X_CUSTOM=a b"},
			want:    []Field{{"STOPPING", "1"}, {"ERRNO", "5"}, {"X_CUSTOM", "a b"}},
			wantPid: os.Getpid(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ch := serve(t, tt.addr)
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+s.Addr())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", cmd, err, out)
			}
			var m Message
			select {
			case m = <-ch:
			default:
				t.Fatal("systemd-notify returned before its message was handled: the barrier was answered too early")
			}
			if diff := cmp.Diff(tt.want, m.Fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			if int(m.Pid) != tt.wantPid || m.Uid != int32(os.Getuid()) || m.Gid != int32(os.Getgid()) {
				t.Errorf("credentials: got pid %d uid %d gid %d, want pid %d uid %d gid %d",
					m.Pid, m.Uid, m.Gid, tt.wantPid, os.Getuid(), os.Getgid())
			}
			if got := s.Stats(); got != (Stats{Received: 2, Barriers: 1}) {
				t.Errorf("stats: got %+v, want 2 received, 1 barrier", got)
			}
		})
	}
}

// TestUnprivilegedSender checks the socket's mode lets a service running
// as another user notify, and that the server reports that user. Such a
// sender cannot claim its parent's PID, so systemd-notify falls back to
// its own.
func TestUnprivilegedSender(t *testing.T) {
	bin := systemdNotify(t)
	if os.Getuid() != 0 {
		t.Fatal("this test needs root, to run systemd-notify as nobody (65534)")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // both are 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, ch := serve(t, filepath.Join(dir, "notify.sock"))
	cmd := exec.Command(bin, "--ready")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+s.Addr())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v as nobody: %v\n%s", cmd, err, out)
	}
	m := <-ch
	if !m.Ready() || int(m.Pid) != cmd.Process.Pid || m.Uid != 65534 || m.Gid != 65534 {
		t.Errorf("got %v from pid %d uid %d gid %d, want READY=1 from pid %d uid 65534 gid 65534",
			m.Fields, m.Pid, m.Uid, m.Gid, cmd.Process.Pid)
	}
}

// TestGoSystemd sends from another process with go-systemd's
// daemon.SdNotify, which uses no barrier.
func TestGoSystemd(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{sockPath(t), abstractAddr(t)} {
		t.Run(addr, func(t *testing.T) {
			s, ch := serve(t, addr)
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+s.Addr(), helperEnv+"=READY=1\nSTATUS=up\nMAINPID=7")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			m := <-ch
			want := []Field{{"READY", "1"}, {"STATUS", "up"}, {"MAINPID", "7"}}
			if diff := cmp.Diff(want, m.Fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			if int(m.Pid) != cmd.Process.Pid {
				t.Errorf("pid: got %d, want the helper's %d", m.Pid, cmd.Process.Pid)
			}
		})
	}
}

// client is a datagram socket of the test process itself, for messages the
// real clients can't be made to send.
func client(t *testing.T, addr string) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: addr}); err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	return fd
}

func send(t *testing.T, fd int, payload string, fds ...int) {
	t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(fd, []byte(payload), oob, nil, 0); err != nil {
		t.Fatalf("sendmsg %d bytes, %d fds: %v", len(payload), len(fds), err)
	}
}

func TestSizeLimit(t *testing.T) {
	s, ch := serve(t, sockPath(t))
	c := client(t, s.Addr())
	status := func(n int) string { return "STATUS=" + strings.Repeat("x", n-len("STATUS=")) }

	send(t, c, status(MaxMessage+1))
	send(t, c, status(MaxMessage))
	send(t, c, "READY=1")

	m := <-ch
	if got, _ := m.Status(); len(got) != MaxMessage-len("STATUS=") {
		t.Errorf("first message handled: got status of %d bytes, want the %d-byte message (the longer one dropped)", len(got), MaxMessage)
	}
	if int(m.Pid) != os.Getpid() {
		t.Errorf("pid: got %d, want %d", m.Pid, os.Getpid())
	}
	if m := <-ch; !m.Ready() {
		t.Errorf("second message handled: got %v, want READY=1", m.Fields)
	}
	if got := s.Stats(); got != (Stats{Received: 3, Dropped: 1}) {
		t.Errorf("stats: got %+v, want 3 received, 1 dropped", got)
	}
}

func TestDropped(t *testing.T) {
	s, ch := serve(t, sockPath(t))
	c := client(t, s.Addr())
	send(t, c, "READY=1\x00")
	send(t, c, "no fields here")
	send(t, c, "")
	send(t, c, "STOPPING=1")
	if m := <-ch; !m.Stopping() {
		t.Errorf("first message handled: got %v, want STOPPING=1", m.Fields)
	}
	if got := s.Stats(); got != (Stats{Received: 4, Dropped: 3}) {
		t.Errorf("stats: got %+v, want 4 received, 3 dropped", got)
	}
}

func countFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// TestFds passes fds without a barrier: the handler sees them, and those it
// does not keep are closed by the server, truncated or not.
func TestFds(t *testing.T) {
	r, w := pipe(t)
	var kept *os.File
	got := make(chan Message, 4)
	s := serveWith(t, sockPath(t), func(m *Message) {
		if m.FDStore() && len(m.Fds) > 0 {
			if name, _ := m.FDName(); name == "keep" {
				kept, m.Fds = m.Fds[0], m.Fds[1:]
			}
		}
		c := *m
		c.Fds = append([]*os.File(nil), m.Fds...)
		got <- c
	}, 4)
	c := client(t, s.Addr())
	before := countFds(t)

	send(t, c, "FDSTORE=1\nFDNAME=drop", int(r.Fd()), int(w.Fd()), int(r.Fd()))
	if m := <-got; len(m.Fds) != 3 {
		t.Errorf("fds surfaced: got %d, want 3", len(m.Fds))
	}
	// More fds than the server's control buffer holds: MSG_CTRUNC.
	send(t, c, "FDSTORE=1\nFDNAME=truncated", int(r.Fd()), int(w.Fd()), int(r.Fd()), int(w.Fd()), int(r.Fd()), int(w.Fd()))
	send(t, c, "FDSTORE=1\nFDNAME=keep", int(w.Fd()))
	if m := <-got; m.Fields[1].Value != "keep" {
		t.Fatalf("got %v, want the FDNAME=keep message (the truncated one dropped)", m.Fields)
	}
	send(t, c, "READY=1") // handled only after the previous fds were closed
	<-got

	if kept == nil {
		t.Fatal("handler kept no fd")
	}
	if got, want := countFds(t), before+1; got != want {
		t.Errorf("open fds: got %d, want %d (before plus the one kept): the server leaks", got, want)
	}
	if _, err := kept.Write([]byte("x")); err != nil {
		t.Errorf("write to kept fd: %v", err)
	}
	b := make([]byte, 1)
	if _, err := r.Read(b); err != nil || b[0] != 'x' {
		t.Errorf("read through kept fd: got %q, %v, want \"x\"", b, err)
	}
	kept.Close()
	if got := s.Stats(); got != (Stats{Received: 4, Dropped: 1}) {
		t.Errorf("stats: got %+v, want 4 received, 1 dropped", got)
	}
}

func TestHandlerPanic(t *testing.T) {
	r, _ := pipe(t)
	got := make(chan Message, 1)
	s := serveWith(t, sockPath(t), func(m *Message) {
		if m.Stopping() {
			panic("handler bug")
		}
		got <- *m
	}, MaxFds)
	c := client(t, s.Addr())
	before := countFds(t)
	send(t, c, "STOPPING=1", int(r.Fd()))
	send(t, c, "READY=1")
	if m := <-got; !m.Ready() {
		t.Errorf("after a panic: got %v, want READY=1", m.Fields)
	}
	if got := countFds(t); got != before {
		t.Errorf("open fds: got %d, want %d: a panicking handler leaked its message's fd", got, before)
	}
}

func TestBarrierFromRawClient(t *testing.T) {
	s, ch := serve(t, sockPath(t))
	c := client(t, s.Addr())
	r, w := pipe(t)
	send(t, c, "STATUS=before")
	send(t, c, "BARRIER=1", int(w.Fd()))
	w.Close()
	// The read end sees EOF only once every copy of the write end is
	// closed, ours and the server's.
	if n, err := r.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("read barrier pipe: got %d bytes, %v, want EOF", n, err)
	}
	select {
	case m := <-ch:
		if st, _ := m.Status(); st != "before" {
			t.Errorf("got %v, want STATUS=before", m.Fields)
		}
	default:
		t.Error("barrier answered before the earlier message was handled")
	}
	select {
	case m := <-ch:
		t.Errorf("barrier reached the handler: %v", m.Fields)
	default:
	}
}

func TestListenPath(t *testing.T) {
	t.Run("mode and removal", func(t *testing.T) {
		path := sockPath(t)
		s, err := Listen(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o777 {
			t.Errorf("socket file: got %v, want a socket of mode 0777", fi.Mode())
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Close: got %v, want the socket file gone", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
	t.Run("stale socket replaced", func(t *testing.T) {
		path := sockPath(t)
		old, err := Listen(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		old.f.Close() // as if the old server had died: the file stays
		s, err := Listen(path, nil)
		if err != nil {
			t.Fatalf("Listen over a stale socket: %v", err)
		}
		// The old server's Close must not remove the new socket.
		old.Close()
		if _, err := os.Lstat(path); err != nil {
			t.Errorf("old server's Close removed the new socket: %v", err)
		}
		s.Close()
	})
	t.Run("other file refused", func(t *testing.T) {
		path := sockPath(t)
		if err := os.WriteFile(path, []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
		if s, err := Listen(path, nil); err == nil {
			s.Close()
			t.Fatal("Listen over a regular file: got nil error")
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "data" {
			t.Errorf("regular file after refused Listen: got %q, %v", b, err)
		}
	})
	t.Run("abstract in use", func(t *testing.T) {
		addr := abstractAddr(t)
		s, err := Listen(addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s2, err := Listen(addr, nil); !errors.Is(err, unix.EADDRINUSE) {
			if s2 != nil {
				s2.Close()
			}
			t.Errorf("second Listen(%q): got %v, want EADDRINUSE", addr, err)
		}
	})
}

func TestProcessGroup(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	got, err := ProcessGroup(int32(pid))
	if err != nil || got != pid {
		t.Errorf("ProcessGroup(%d): got %d, %v, want %d", pid, got, err, pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := ProcessGroup(int32(pid)); !errors.Is(err, unix.ESRCH) {
		t.Errorf("ProcessGroup of a reaped pid: got %v, want ESRCH", err)
	}
}
