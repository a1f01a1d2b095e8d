package sock

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestUnix(t *testing.T) {
	path := t.TempDir() + "/s.sock"
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Listen(path); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second Listen on the path: %v, want address in use", err)
	}
	accepted := make(chan *Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	if s == nil {
		t.FailNow()
	}
	defer s.Close()
	cred, err := s.PeerCred()
	if err != nil || int(cred.Pid) != os.Getpid() || int(cred.Uid) != os.Getuid() {
		t.Errorf("peer %+v, %v; want pid %d uid %d", cred, err, os.Getpid(), os.Getuid())
	}
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping\n" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	s.Write([]byte("pong"))
	s.Close()
	if b, err := io.ReadAll(c); err != nil || string(b) != "pong" {
		t.Fatalf("client read %q, %v; want pong and EOF", b, err)
	}

	// A read waits on the poller, and its deadline ends it.
	c2, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c2.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past the deadline: %v", err)
	}
}

func TestDialNothing(t *testing.T) {
	path := t.TempDir() + "/none.sock"
	_, err := Dial(t.Context(), path)
	if !errors.Is(err, os.ErrNotExist) || err.Error() != "dial unix "+path+": connect: no such file or directory" {
		t.Errorf("got %v", err)
	}
	// A socket file nobody listens on any more.
	fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	unix.Close(fd)
	if _, err := Dial(t.Context(), path); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("stale socket: %v, want connection refused", err)
	}
}

func TestCloseWakesAccept(t *testing.T) {
	path := t.TempDir() + "/s.sock"
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // Accept parks on the poller
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Accept after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake Accept")
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after Close: %v, want it removed", err)
	}
}

func TestCloseLeavesAnotherSocket(t *testing.T) {
	path := t.TempDir() + "/s.sock"
	old, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path) // as ServeControl removes a stale one
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	old.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("the new socket after the old one's Close: %v", err)
	}
}

// fullBacklog returns the address of a listening socket of the given
// family and type whose backlog is full: a connect to it waits (a unix
// socket refuses a non-blocking one with EAGAIN, TCP drops the SYN).
func fullBacklog(t *testing.T, family int, sa unix.Sockaddr) unix.Sockaddr {
	t.Helper()
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	addr, _ := unix.Getsockname(fd)
	for range 2 { // a backlog of 0 still takes one
		c, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(c) })
		unix.Connect(c, addr)
	}
	time.Sleep(50 * time.Millisecond)
	return addr
}

func TestDialHonoursContext(t *testing.T) {
	path := t.TempDir() + "/full.sock"
	fullBacklog(t, unix.AF_UNIX, &unix.SockaddrUnix{Name: path})
	tcp := fullBacklog(t, unix.AF_INET, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}).(*unix.SockaddrInet4)
	tcpAddr := netip.AddrPortFrom(netip.AddrFrom4(tcp.Addr), uint16(tcp.Port))
	dials := map[string]func(context.Context) (*Conn, error){
		"unix": func(ctx context.Context) (*Conn, error) { return Dial(ctx, path) },
		"tcp":  func(ctx context.Context) (*Conn, error) { return DialTCP(ctx, tcpAddr) },
	}
	for name, dial := range dials {
		t.Run(name+" cancelled before", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if _, err := dial(ctx); !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want context.Canceled", err)
			}
		})
		t.Run(name+" cancelled while waiting", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(100*time.Millisecond, cancel)
			start := time.Now()
			c, err := dial(ctx)
			if err == nil {
				c.Close()
			}
			if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
				t.Errorf("got %v after %v, want context.Canceled after 100ms", err, time.Since(start))
			}
		})
		t.Run(name+" deadline", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			c, err := dial(ctx)
			if err == nil {
				c.Close()
			}
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
				t.Errorf("got %v after %v, want context.DeadlineExceeded after 100ms", err, time.Since(start))
			}
		})
	}
}

func TestDialTCP(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			loopback := map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0"}[network]
			l, err := net.Listen(network, loopback)
			if err != nil {
				t.Skipf("SKIP: no %s loopback on this machine: %v", network, err)
			}
			defer l.Close()
			addr := netip.MustParseAddrPort(l.Addr().String())
			go func() {
				if c, err := l.Accept(); err == nil {
					c.Write([]byte("hello"))
					c.Close()
				}
			}()
			c, err := DialTCP(t.Context(), addr)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(c)
			c.Close()
			if string(b) != "hello" || err != nil {
				t.Errorf("read %q, %v", b, err)
			}
			l.Close()
			_, err = DialTCP(t.Context(), addr)
			if !errors.Is(err, syscall.ECONNREFUSED) || err.Error() != "dial tcp "+addr.String()+": connect: connection refused" {
				t.Errorf("closed port: %v", err)
			}
		})
	}
	t.Run("IPv4-mapped", func(t *testing.T) {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addr := netip.MustParseAddrPort(l.Addr().String())
		mapped := netip.AddrPortFrom(netip.AddrFrom16(addr.Addr().As16()), addr.Port())
		c, err := DialTCP(t.Context(), mapped)
		if err != nil {
			t.Fatalf("%v: %v", mapped, err)
		}
		c.Close()
	})
	if _, err := DialTCP(t.Context(), netip.AddrPort{}); err == nil || !strings.Contains(err.Error(), "no IP address") {
		t.Errorf("zero address: %v", err)
	}
}

func TestZoneIndex(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	for zone, want := range map[string]uint32{"": 0, "lo": uint32(lo.Index), "7": 7} {
		if got, err := zoneIndex(zone); err != nil || got != want {
			t.Errorf("zone %q: %d, %v; want %d", zone, got, err, want)
		}
	}
	if _, err := zoneIndex("nosuch0"); err == nil || !strings.Contains(err.Error(), "no such interface") {
		t.Errorf("zone nosuch0: %v", err)
	}
}
