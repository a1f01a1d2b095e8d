package logfile

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openFds returns how many descriptors this process has open, leaving
// out the pidfds of the children os/exec runs.
func openFds(t *testing.T) int {
	t.Helper()
	n := 0
	for _, target := range fds(t, "self") {
		if target != "anon_inode:[pidfd]" {
			n++
		}
	}
	return n
}

// fds returns the descriptors of process pid ("self" for this one) and
// what they are, as /proc shows them.
func fds(t *testing.T, pid string) map[int]string {
	t.Helper()
	dir := "/proc/" + pid + "/fd"
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]string{}
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || pid == "self" && fd == int(f.Fd()) {
			continue
		}
		if target, err := os.Readlink(dir + "/" + name); err == nil {
			m[fd] = target
		}
	}
	return m
}

// cloexec reports whether descriptor fd is closed on exec.
func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

// pollerGone waits until no poller runs: the last one's goroutine has
// returned.
func pollerGone(t *testing.T) {
	t.Helper()
	polling.mu.Lock()
	p := polling.cur
	polling.mu.Unlock()
	if p != nil {
		t.Fatal("a poller runs with no Output open")
	}
	// The last poller, if any, retired: wait for its goroutine.
	select {
	case <-lastGone():
	case <-time.After(5 * time.Second):
		t.Fatal("the last poller's goroutine did not return")
	}
}

// lastGone returns a channel closed once the goroutine of the poller that
// ran last has returned (at once if none ever ran).
func lastGone() <-chan struct{} {
	polling.mu.Lock()
	defer polling.mu.Unlock()
	if polling.last == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return polling.last.gone
}

// nonblock reports whether descriptor fd's file is in non-blocking mode.
func nonblock(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.O_NONBLOCK != 0
}

// rawFd returns f's descriptor without changing its mode (as Fd would).
func rawFd(t *testing.T, f *os.File) int {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	if err := rc.Control(func(d uintptr) { fd = int(d) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestOutputsIdleNoGoroutine: 100 open Outputs with nothing to read cost
// one goroutine, the poller, and their two pipe ends each plus the epoll
// fd; once all are closed, the poller's goroutine and descriptors are
// gone.
func TestOutputsIdleNoGoroutine(t *testing.T) {
	const outputs = 100
	pollerGone(t)
	g0, fd0 := runtime.NumGoroutine(), openFds(t)
	var outs []*Output
	for i := range outputs {
		o, err := NewOutput(fmt.Sprintf("s%d", i), nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, o)
	}
	// One line through each, so that every pipe has been read once.
	for _, o := range outs {
		if _, err := o.File().Write([]byte("line\n")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if g := runtime.NumGoroutine(); g > g0+1 {
		t.Errorf("%d idle Outputs: %d goroutines more, want at most 1 (the poller)", outputs, g-g0)
	}
	if fd := openFds(t); fd != fd0+2*outputs+1 {
		t.Errorf("%d idle Outputs: %d descriptors more, want %d (two ends each, one epoll fd)", outputs, fd-fd0, 2*outputs+1)
	}
	for _, o := range outs {
		if err := o.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	pollerGone(t)
	if g := runtime.NumGoroutine(); g > g0 {
		t.Errorf("all Outputs closed: %d goroutines more than before", g-g0)
	}
	if fd := openFds(t); fd != fd0 {
		t.Errorf("all Outputs closed: %d descriptors more than before", fd-fd0)
	}
	// The next Output starts a poller again.
	o := newOutput(t, "again", nil, &syncBuffer{})
	run(t, o, "echo again")
	closeCtx(t, o, 10*time.Second)
	pollerGone(t)
}

// TestOutputsStoppedNoLeak: Outputs that Close gives up on (a process
// still holds their pipe) leave no descriptor and no poller behind.
func TestOutputsStoppedNoLeak(t *testing.T) {
	pollerGone(t)
	fd0 := openFds(t)
	var cmds []*exec.Cmd
	defer func() {
		for _, cmd := range cmds {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var outs []*Output
	for i := range 5 {
		o, err := NewOutput(fmt.Sprintf("s%d", i), nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sleep", "1000")
		cmd.Stdout = o.File()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		outs = append(outs, o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, o := range outs {
		if err := o.Close(ctx); err != context.Canceled {
			t.Errorf("Close with a holder left: got %v, want context.Canceled", err)
		}
	}
	pollerGone(t)
	if fd := openFds(t); fd != fd0 {
		t.Errorf("all Outputs closed: %d descriptors more than before", fd-fd0)
	}
}

// TestOutputChildDescriptors: a service's process gets its stdin and the
// pipe of its own Output as stdout and stderr, and nothing else of vinit's:
// not the epoll fd, not the read ends of its own or other services' pipes,
// nor their write ends.
func TestOutputChildDescriptors(t *testing.T) {
	console := &syncBuffer{}
	c := NewConsole(console)
	var outs []*Output
	for _, name := range []string{"a", "b", "c"} {
		o, err := NewOutput(name, nil, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close(context.Background()) })
		outs = append(outs, o)
	}
	// Open until Close: the epoll fd and the read ends.
	polling.mu.Lock()
	epfd := polling.cur.epfd
	var readEnds []int
	for _, o := range outs {
		readEnds = append(readEnds, o.in.fd)
	}
	polling.mu.Unlock()
	if !cloexec(t, epfd) {
		t.Error("the epoll fd is inherited by children")
	}
	for i, o := range outs {
		w := rawFd(t, o.File())
		if !cloexec(t, readEnds[i]) || !cloexec(t, w) {
			t.Errorf("%s: a pipe end is inherited by children", o.name)
		}
		// The children's stdout blocks when the pipe is full, rather
		// than fail with EAGAIN; the poller's end does not block.
		if nonblock(t, w) || !nonblock(t, readEnds[i]) {
			t.Errorf("%s: write end non-blocking %v, read end %v; want false, true", o.name, nonblock(t, w), nonblock(t, readEnds[i]))
		}
	}
	// What this process inherited without close-on-exec from its own
	// parent, its children inherit too: not ours to check.
	inherited := map[int]string{}
	for fd, target := range fds(t, "self") {
		if fd > 2 && !cloexec(t, fd) {
			inherited[fd] = target
		}
	}

	o := outs[1]
	var st syscall.Stat_t
	if err := syscall.Fstat(rawFd(t, o.File()), &st); err != nil {
		t.Fatal(err)
	}
	pipe := fmt.Sprintf("pipe:[%d]", st.Ino)
	// The shell's exec leaves ls with the descriptors the child got, and
	// the one it lists the directory with.
	cmd := exec.Command("/bin/sh", "-c", `exec ls -l /proc/self/fd/`)
	cmd.Stdout, cmd.Stderr = o.File(), o.File()
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-o.consoleDone
	got := map[int]string{}
	for l := range strings.SplitSeq(strings.TrimSpace(console.String()), "\n") {
		l = strings.TrimPrefix(l, "b | ")
		if strings.HasPrefix(l, "total") {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 3 || f[len(f)-2] != "->" {
			t.Fatalf("ls line %q", l)
		}
		fd, err := strconv.Atoi(f[len(f)-3])
		if err != nil {
			t.Fatalf("ls line %q", l)
		}
		got[fd] = f[len(f)-1]
	}
	for fd, target := range got {
		switch {
		case fd == 0 && target == os.DevNull:
		case (fd == 1 || fd == 2) && target == pipe:
		case strings.HasPrefix(target, "/proc/"): // ls's own
		case inherited[fd] == target:
		default:
			t.Errorf("child's descriptor %d -> %s; want only 0 -> %s, 1 and 2 -> %s", fd, target, os.DevNull, pipe)
		}
	}
	if got[1] != pipe || got[2] != pipe {
		t.Errorf("child's descriptors: got %v, want 1 and 2 -> %s", got, pipe)
	}
}
