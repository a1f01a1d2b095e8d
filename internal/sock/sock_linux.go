package sock

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is a connected stream socket. Its methods are those of the
// *os.File it is: Read returns io.EOF once the peer has closed its end.
type Conn struct{ f *os.File }

func (c *Conn) Read(b []byte) (int, error)  { return c.f.Read(b) }
func (c *Conn) Write(b []byte) (int, error) { return c.f.Write(b) }
func (c *Conn) Close() error                { return c.f.Close() }

// SetDeadline bounds Read and Write; see os.File.SetDeadline.
func (c *Conn) SetDeadline(t time.Time) error { return c.f.SetDeadline(t) }

// PeerCred is who the process at the other end of a unix socket was when
// it connected (SO_PEERCRED): the kernel's word, not the peer's.
func (c *Conn) PeerCred() (*unix.Ucred, error) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, os.NewSyscallError("getsockopt SO_PEERCRED", cerr)
	}
	return cred, nil
}

// Listener is a listening unix stream socket.
type Listener struct {
	f      *os.File
	path   string
	file   *unix.Stat_t // the socket file bind made; nil in the abstract namespace
	remove sync.Once
	closed atomic.Bool
}

// Listen binds a unix stream socket at path ("@name" for the abstract
// namespace) and listens on it. The file must not exist. Close removes it,
// as net's UnixListener does, unless another socket has taken its place.
func Listen(path string) (*Listener, error) {
	fail := func(call string, err error) (*Listener, error) {
		return nil, fmt.Errorf("listen unix %s: %w", path, os.NewSyscallError(call, err))
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return fail("bind", err)
	}
	l := &Listener{path: path}
	if path != "" && path[0] != '@' {
		var st unix.Stat_t
		if unix.Lstat(path, &st) == nil {
			l.file = &st
		}
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil { // the kernel caps it at net.core.somaxconn
		unix.Close(fd)
		l.unlink()
		return fail("listen", err)
	}
	l.f = os.NewFile(uintptr(fd), "unix:"+path)
	return l, nil
}

// Accept waits for a connection and returns it. Close makes a waiting
// Accept return an error (errors.Is os.ErrClosed).
func (l *Listener) Accept() (*Conn, error) {
	rc, err := l.f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("accept unix %s: %w", l.path, err)
	}
	var nfd int
	var aerr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			switch aerr {
			case unix.EINTR, unix.ECONNABORTED: // as net: the next one
				continue
			case unix.EAGAIN:
				return false // park on the poller until one comes
			}
			return true
		}
	})
	if err == nil && aerr != nil {
		err = os.NewSyscallError("accept4", aerr)
	}
	if err != nil && l.closed.Load() {
		err = os.ErrClosed // rather than the poller's own "use of closed file"
	}
	if err != nil {
		return nil, fmt.Errorf("accept unix %s: %w", l.path, err)
	}
	return &Conn{f: os.NewFile(uintptr(nfd), "unix:"+l.path)}, nil
}

// Close stops listening, removes the socket file, and wakes Accept.
func (l *Listener) Close() error {
	l.closed.Store(true)
	l.unlink()
	return l.f.Close()
}

// unlink removes the socket file if it is still the one Listen bound.
func (l *Listener) unlink() {
	l.remove.Do(func() {
		var st unix.Stat_t
		if l.file != nil && unix.Lstat(l.path, &st) == nil && st.Dev == l.file.Dev && st.Ino == l.file.Ino {
			unix.Unlink(l.path)
		}
	})
}

// Dial connects to the unix stream socket at path. ctx bounds the connect,
// not the connection.
func Dial(ctx context.Context, path string) (*Conn, error) {
	c, err := dial(ctx, unix.AF_UNIX, &unix.SockaddrUnix{Name: path}, "unix:"+path)
	if err != nil {
		return nil, fmt.Errorf("dial unix %s: %w", path, err)
	}
	return c, nil
}

// DialTCP connects to addr over TCP. ctx bounds the connect; an IPv6 zone
// is an interface's name or index.
func DialTCP(ctx context.Context, addr netip.AddrPort) (*Conn, error) {
	c, err := dialTCP(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("dial tcp %s: %w", addr, err)
	}
	return c, nil
}

func dialTCP(ctx context.Context, addr netip.AddrPort) (*Conn, error) {
	ip, port := addr.Addr(), int(addr.Port())
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	switch {
	case ip.Is4():
		return dial(ctx, unix.AF_INET, &unix.SockaddrInet4{Port: port, Addr: ip.As4()}, "tcp:"+addr.String())
	case ip.Is6():
		zone, err := zoneIndex(ip.Zone())
		if err != nil {
			return nil, err
		}
		return dial(ctx, unix.AF_INET6, &unix.SockaddrInet6{Port: port, Addr: ip.As16(), ZoneId: zone}, "tcp:"+addr.String())
	}
	return nil, errors.New("no IP address")
}

// zoneIndex is the interface an IPv6 zone names: a number, or a name.
func zoneIndex(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(zone)
	if err != nil {
		return 0, fmt.Errorf("zone %q: %w", zone, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("zone %q: no such interface: %w", zone, err)
	}
	return ifr.Uint32(), nil
}

// dial makes a socket of family and connects it to sa.
func dial(ctx context.Context, family int, sa unix.Sockaddr, name string) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if err := connect(ctx, f, family, sa); err != nil {
		f.Close()
		return nil, err
	}
	return &Conn{f: f}, nil
}

// pastDeadline wakes whatever waits on a socket.
var pastDeadline = time.Unix(1, 0)

func connect(ctx context.Context, f *os.File, family int, sa unix.Sockaddr) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	// Connect runs in the kernel once started; a unix socket whose
	// listener's backlog is full refuses a non-blocking connect with EAGAIN
	// and starts nothing, so there is nothing to wait for on the poller:
	// the connect is tried again a moment later.
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		if cerr := rc.Control(func(fd uintptr) { err = unix.Connect(int(fd), sa) }); cerr != nil {
			return cerr
		}
		if err != unix.EAGAIN || family != unix.AF_UNIX {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	switch err {
	case nil, unix.EISCONN:
		return nil
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
	default:
		return os.NewSyscallError("connect", err)
	}

	// Wait until the socket is writable: ctx's deadline is the socket's,
	// and ctx's end sets one in the past, which wakes the wait.
	if d, ok := ctx.Deadline(); ok {
		f.SetWriteDeadline(d)
	}
	woken := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		f.SetWriteDeadline(pastDeadline)
		close(woken)
	})
	var cerr error
	werr := rc.Write(func(fd uintptr) bool { return connected(int(fd), &cerr) })
	if !stop() {
		<-woken
		return ctx.Err()
	}
	f.SetWriteDeadline(time.Time{})
	if errors.Is(werr, os.ErrDeadlineExceeded) {
		return context.DeadlineExceeded // the deadline was ctx's
	}
	if werr != nil {
		return werr
	}
	if cerr != nil {
		return os.NewSyscallError("connect", cerr)
	}
	return nil
}

// connected reports whether the connect started on fd has ended, and how
// (*err). It checks before every wait, not only after one: a connect that
// ended before the first wait raised its edge on the poller already.
func connected(fd int, err *error) bool {
	soerr, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if gerr != nil {
		*err = gerr
		return true
	}
	switch e := syscall.Errno(soerr); e {
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
		return false
	case 0, unix.EISCONN:
		// No error yet: connected, or still on its way.
		if _, perr := unix.Getpeername(fd); perr == unix.ENOTCONN {
			return false
		} else if perr != nil {
			*err = perr
		}
		return true
	default:
		*err = e
		return true
	}
}
