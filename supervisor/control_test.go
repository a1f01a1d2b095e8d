package supervisor

import (
	"context"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vservers/vserver/reaper"
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
