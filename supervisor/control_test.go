package supervisor

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vservers/vserver/reaper"
	"github.com/vservers/vserver/units"
)

// call runs one request against the control socket at path.
func call(t *testing.T, path string, req Request) ([]Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var got []Response
	err := Call(ctx, path, req, func(r Response) error {
		got = append(got, r)
		return nil
	})
	return got, err
}

func TestControl(t *testing.T) {
	dir := t.TempDir()
	unitsDir := dir + "/units"
	os.Mkdir(unitsDir, 0o755)
	os.WriteFile(unitsDir+"/talker.yaml", []byte("exec: [sh, -c, \"echo one; echo two; echo three; exec sleep 1000\"]\n"), 0o644)
	set, err := LoadUnits(discard, unitsDir)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSupervisor(t, Config{UnitsDir: unitsDir, LogDir: dir + "/log", RunDir: dir})
	if err := s.Start(set); err != nil {
		t.Fatal(err)
	}
	sock := dir + "/ctl.sock"
	if err := s.ServeControl(t.Context(), sock); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	pid := waitState(t, s, "talker", is(StateRunning)).Pid

	t.Run("status", func(t *testing.T) {
		got, err := call(t, sock, Request{Cmd: "status"})
		if err != nil || len(got) != 1 || len(got[0].Services) != 1 || got[0].Services[0].Pid != pid {
			t.Fatalf("got %+v, %v; want one service with pid %d", got, err, pid)
		}
	})
	t.Run("logs", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		var lines []string
		for len(lines) < 2 && ctx.Err() == nil {
			got, err := call(t, sock, Request{Cmd: "logs", Name: "talker", Lines: 2})
			if err != nil {
				t.Fatal(err)
			}
			lines = lines[:0]
			for _, r := range got {
				_, text, _ := strings.Cut(r.Line, " ")
				lines = append(lines, text)
			}
		}
		if !slices.Equal(lines, []string{"two", "three"}) {
			t.Fatalf("last 2 lines %q, want two three", lines)
		}
	})
	t.Run("logs -f", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		lines := make(chan string, 10)
		done := make(chan error, 1)
		go func() {
			done <- Call(ctx, sock, Request{Cmd: "logs", Name: "talker", Lines: 1, Follow: true}, func(r Response) error {
				lines <- r.Line
				return nil
			})
		}()
		if l := <-lines; !strings.HasSuffix(l, " three") {
			t.Fatalf("first line %q, want the last one, three", l)
		}
		cancel() // the client hangs up: the server's follow ends
		if err := <-done; err != context.Canceled {
			t.Fatalf("follow ended with %v, want context.Canceled", err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, req := range []Request{{Cmd: "stop", Name: "nosuch"}, {Cmd: "frobnicate"}, {Cmd: "signal", Name: "talker", Signal: "NOPE"}} {
			if _, err := call(t, sock, req); err == nil {
				t.Errorf("%+v: got no error", req)
			}
		}
	})
	t.Run("signal", func(t *testing.T) {
		if _, err := call(t, sock, Request{Cmd: "signal", Name: "talker", Signal: "KILL"}); err != nil {
			t.Fatal(err)
		}
		if st := waitState(t, s, "talker", is(StateFailed)); st.LastExit != "signal: SIGKILL" {
			t.Fatalf("last exit %q, want signal: SIGKILL", st.LastExit)
		}
	})
	t.Run("start stop restart", func(t *testing.T) {
		for _, c := range []struct {
			cmd  string
			want State
		}{{"start", StateRunning}, {"stop", StateInactive}, {"restart", StateRunning}} {
			if _, err := call(t, sock, Request{Cmd: c.cmd, Name: "talker"}); err != nil {
				t.Fatalf("%s: %v", c.cmd, err)
			}
			waitState(t, s, "talker", is(c.want))
		}
	})
	t.Run("reload", func(t *testing.T) {
		os.WriteFile(unitsDir+"/second.yaml", []byte("exec: [sleep, \"1000\"]\n"), 0o644)
		os.WriteFile(unitsDir+"/broken.yaml", []byte("exec: [sleep]\nrestart: sometimes\n"), 0o644)
		_, err := call(t, sock, Request{Cmd: "reload"})
		if err == nil || !strings.Contains(err.Error(), "broken.yaml:2:") {
			t.Fatalf("reload error %v, want the broken unit's position", err)
		}
		waitState(t, s, "second", is(StateRunning))
	})
	t.Run("non-root is refused", func(t *testing.T) {
		os.Chmod(dir, 0o755) // the socket's own mode must be what refuses
		out, e := runAs(t, 65534, helperEnv+"=ctl", "CTL_SOCKET="+sock)
		if e.Success() || !strings.HasPrefix(out, "helper: ") || !strings.Contains(out, "permission denied") {
			t.Fatalf("as uid 65534: %v, %q; want the helper to be refused", e, out)
		}
	})
}

// ctlHelper calls status on $CTL_SOCKET and prints the error.
func ctlHelper() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	os.Stdout.WriteString("helper: ")
	if err := Call(ctx, os.Getenv("CTL_SOCKET"), Request{Cmd: "status"}, func(Response) error { return nil }); err != nil {
		os.Stdout.WriteString(err.Error())
		return 1
	}
	return 0
}

// runAs runs the test binary as uid with env added, through the reaper,
// and returns its output and exit.
func runAs(t *testing.T, uid uint32, env ...string) (string, reaper.Exit) {
	t.Helper()
	// The test binary's own directory is private to root: run a copy.
	dir, err := os.MkdirTemp("", "supervisor-helper-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := dir + "/helper"
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dir + "/out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	attr := &os.ProcAttr{
		Env:   append(os.Environ(), env...),
		Files: []*os.File{nil, out, out},
		Sys:   &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}},
	}
	var p *os.Process
	_, exited, err := rp.Start(func() (int, error) {
		var err error
		if p, err = os.StartProcess(exe, []string{exe}, attr); err != nil {
			return 0, err
		}
		return p.Pid, nil
	})
	if err != nil {
		t.Fatalf("run test binary as uid %d: %v", uid, err)
	}
	defer p.Release()
	e := <-exited
	b, _ := os.ReadFile(out.Name())
	return string(b), e
}

// rawCall writes line to the control socket at path and returns all it
// answered.
func rawCall(t *testing.T, path, line string) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	// A server that closes with some of the request unread resets the
	// connection, after what it wrote.
	if err != nil && !(errors.Is(err, syscall.ECONNRESET) && len(b) > 0) {
		t.Fatal(err)
	}
	return string(b)
}

func TestControlRequests(t *testing.T) {
	dir := t.TempDir()
	s := newTestSupervisor(t, Config{RunDir: dir})
	sock := dir + "/ctl.sock"
	if err := s.ServeControl(t.Context(), sock); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, want string }{
		{`{"cmd":"status"}` + "\n", `{}` + "\n" + `{"done":true}` + "\n"},
		{`{"CMD":"frobnicate","x":[1]}` + "\n", `{"done":true,"error":"unknown command \"frobnicate\""}` + "\n"},
		{"status\n", `{"done":true,"error":"bad request: json: invalid character 's' looking for the beginning of a value (at byte 0)"}` + "\n"},
		{`{"cmd":"logs","lines":"2"}` + "\n", `{"done":true,"error":"bad request: json: \"lines\": want a number, got a string (at byte 22)"}` + "\n"},
		// A request longer than maxRequest is cut there, and so not JSON.
		{`{"cmd":"status","name":"` + strings.Repeat("x", maxRequest) + `"}` + "\n", `{"done":true,"error":"bad request: json: unexpected end of input in a string (at byte 65536)"}` + "\n"},
	} {
		if got := rawCall(t, sock, c.in); got != c.want {
			t.Errorf("%.40s: got %s, want %s", c.in, got, c.want)
		}
	}
}

func TestControlSocketFile(t *testing.T) {
	dir := t.TempDir()
	s := newTestSupervisor(t, Config{RunDir: dir})
	path := dir + "/run/ctl.sock"
	os.Mkdir(dir+"/run", 0o755)
	// A socket an earlier vinit left: nobody listens on it.
	old, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	old.(*net.UnixListener).SetUnlinkOnClose(false)
	old.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := s.ServeControl(ctx, path); err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	if _, err := call(t, path, Request{Cmd: "status"}); err != nil {
		t.Fatal(err)
	}
	cancel() // closes the socket, and removes its file
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Lstat(path); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the socket file is still there after ctx's end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := call(t, path, Request{Cmd: "status"}); err == nil || !strings.HasPrefix(err.Error(), "connect to vinit: dial unix "+path+": ") {
		t.Errorf("after ctx's end: %v, want no connection", err)
	}
	// Anything but a socket at the path is not removed.
	os.WriteFile(path, []byte("mine"), 0o644)
	if err := s.ServeControl(t.Context(), path); err == nil {
		t.Error("listening over a regular file: no error")
	}
	if b, _ := os.ReadFile(path); string(b) != "mine" {
		t.Errorf("the regular file at the path: %q", b)
	}
}

func TestCallCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := Call(ctx, t.TempDir()+"/ctl.sock", Request{Cmd: "status"}, func(Response) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

// TestOnQuiet: OnQuiet is called once a burst of requests is over (no
// connection for QuietAfter), once per burst, and never while requests
// keep coming or before the first.
func TestOnQuiet(t *testing.T) {
	dir := t.TempDir()
	quiet := make(chan time.Time, 10)
	s := newTestSupervisor(t, Config{RunDir: dir, OnQuiet: func() { quiet <- time.Now() }})
	set, err := units.NewSet(testUnit("a", "sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(set); err != nil {
		t.Fatal(err)
	}
	path := dir + "/ctl.sock"
	if err := s.ServeControl(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	select {
	case <-quiet:
		t.Fatal("OnQuiet before any request")
	case <-time.After(2 * QuietAfter):
	}
	for burst := range 2 {
		var last time.Time
		for range 5 {
			if _, err := call(t, path, Request{Cmd: "status"}); err != nil {
				t.Fatal(err)
			}
			last = time.Now()
			time.Sleep(QuietAfter / 5)
		}
		select {
		case at := <-quiet:
			if at.Sub(last) < QuietAfter-10*time.Millisecond {
				t.Fatalf("burst %d: OnQuiet %v after the last request, want at least %v", burst, at.Sub(last), QuietAfter)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("burst %d: no OnQuiet", burst)
		}
		select {
		case <-quiet:
			t.Fatalf("burst %d: OnQuiet twice", burst)
		case <-time.After(2 * QuietAfter):
		}
	}
}
