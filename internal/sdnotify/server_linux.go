package sdnotify

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/logfmt"
)

// rcvbuf is the receive buffer the socket asks for: systemd's
// NOTIFY_RCVBUF_SIZE. A burst of notifications from many services queues
// in the kernel rather than being refused with EAGAIN at the senders.
const rcvbuf = 8 << 20

// Listen binds a notify socket at addr and returns a server ready to Serve.
//
// addr is a filesystem path, or "@name" for a socket in the abstract
// namespace. A stale socket at the path is removed first; any other kind of
// file there is an error. The socket file is made mode 0777, as systemd's
// /run/systemd/notify is: services running as any user must be able to
// send, and senders are told apart by their kernel credentials, not by file
// permissions. The socket is close-on-exec, so no child inherits it.
//
// log receives a line for every dropped datagram; nil discards them.
func Listen(addr string, log *logfmt.Logger) (*Server, error) {
	if log == nil {
		log = logfmt.Discard()
	}
	abstract := strings.HasPrefix(addr, "@")
	if addr == "" || addr == "@" {
		return nil, fmt.Errorf("listen on notify socket %q: empty address", addr)
	}
	if !abstract {
		if err := removeStale(addr); err != nil {
			return nil, err
		}
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("listen on notify socket %s: socket: %w", addr, err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		return nil, fmt.Errorf("listen on notify socket %s: set SO_PASSCRED: %w", addr, err)
	}
	// SO_RCVBUFFORCE passes rmem_max but needs CAP_NET_ADMIN; a smaller
	// buffer only costs senders EAGAIN under a burst, so it is not fatal.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			log.Warn("notify socket: cannot raise receive buffer", "addr", addr, "err", err)
		}
	}
	// x/sys/unix maps a leading "@" to the abstract namespace's NUL.
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: addr}); err != nil {
		return nil, fmt.Errorf("listen on notify socket %s: bind: %w", addr, err)
	}
	s := &Server{addr: addr, log: log, maxFds: MaxFds}
	if !abstract {
		if err := os.Chmod(addr, 0o777); err != nil {
			os.Remove(addr)
			return nil, fmt.Errorf("listen on notify socket: %w", err)
		}
		var st unix.Stat_t
		if err := unix.Lstat(addr, &st); err != nil {
			os.Remove(addr)
			return nil, fmt.Errorf("listen on notify socket %s: stat: %w", addr, err)
		}
		s.file = fileID{st.Dev, st.Ino, st.Ctim}
	}
	// A non-blocking fd goes into the runtime's poller, so Close wakes a
	// Serve blocked in Read.
	s.f = os.NewFile(uintptr(fd), "notify:"+addr)
	ok = true
	return s, nil
}

// removeStale removes a socket file left at path by an earlier server.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listen on notify socket: %w", err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("listen on notify socket %s: refusing to replace a %v file", path, fi.Mode().Type())
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("listen on notify socket: remove stale socket: %w", err)
	}
	return nil
}

// Serve reads datagrams until Close and calls handle with each valid one,
// one at a time, in arrival order. BARRIER=1 datagrams are answered here and
// not passed on. When handle returns, the server closes every file left in
// the message's Fds.
//
// A handler that panics is recovered and logged, and Serve goes on.
//
// Serve returns nil once Close was called, or the error that stopped it
// reading. It must not be called twice.
func (s *Server) Serve(handle func(*Message)) error {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return fmt.Errorf("serve notify socket %s: %w", s.addr, err)
	}
	buf := make([]byte, MaxMessage)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*s.maxFds))
	for {
		var n, oobn, flags int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			// MSG_TRUNC makes n the datagram's real length, so an
			// oversized one is recognized rather than cut.
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_TRUNC)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			if s.closed.Load() {
				return nil
			}
			return fmt.Errorf("serve notify socket %s: %w", s.addr, err)
		}
		if rerr == unix.EINTR {
			continue
		}
		if rerr != nil {
			return fmt.Errorf("serve notify socket %s: recvmsg: %w", s.addr, rerr)
		}
		s.received.Add(1)
		if m := s.message(buf, n, oob[:oobn], flags); m != nil {
			s.dispatch(m, handle)
		}
	}
}

// message turns one received datagram into a Message, or drops it (closing
// its fds) and returns nil.
func (s *Server) message(buf []byte, n int, oob []byte, flags int) *Message {
	m := &Message{Pid: -1}
	var cmsgErr error
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		cmsgErr = err
	}
	for _, c := range cmsgs {
		if c.Header.Level != unix.SOL_SOCKET {
			continue
		}
		switch c.Header.Type {
		case unix.SCM_RIGHTS:
			fds, err := unix.ParseUnixRights(&c)
			if err != nil {
				cmsgErr = err
				continue
			}
			for _, fd := range fds {
				m.Fds = append(m.Fds, os.NewFile(uintptr(fd), "notify-fd"))
			}
		case unix.SCM_CREDENTIALS:
			cred, err := unix.ParseUnixCredentials(&c)
			if err != nil {
				cmsgErr = err
				continue
			}
			m.Pid, m.Uid, m.Gid = cred.Pid, int32(cred.Uid), int32(cred.Gid)
		}
	}
	drop := func(why string, args ...any) *Message {
		s.dropped.Add(1)
		s.log.Warn("notify socket: dropped message: "+why, append([]any{"pid", m.Pid, "fds", len(m.Fds)}, args...)...)
		m.closeFds()
		return nil
	}
	switch {
	case flags&unix.MSG_CTRUNC != 0:
		return drop("control data truncated (too many fds?)")
	case cmsgErr != nil:
		return drop("malformed control data", "err", cmsgErr)
	case n > len(buf) || flags&unix.MSG_TRUNC != 0:
		return drop("too long", "bytes", n, "max", MaxMessage)
	case m.Pid <= 0:
		// No credentials, or a sender outside our PID namespace.
		return drop("no valid sender credentials")
	}
	fields, err := Parse(buf[:n])
	if err != nil {
		return drop(err.Error())
	}
	m.Fields = fields
	return m
}

// dispatch answers a barrier or hands m to handle, and closes the fds the
// handler left behind. A panicking handler is logged and survives: the
// server runs in PID 1, which must not die of one bad message.
func (s *Server) dispatch(m *Message, handle func(*Message)) {
	defer m.closeFds()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("notify socket: handler panicked", "pid", m.Pid, "panic", r)
		}
	}()
	if _, ok := m.Value("BARRIER"); ok {
		// As systemd does: a barrier carries nothing else worth acting
		// on; closing its fd (deferred) releases the waiting sender.
		if len(m.Fields) != 1 || len(m.Fds) != 1 {
			s.log.Warn("notify socket: malformed barrier, answering it anyway", "pid", m.Pid, "fields", len(m.Fields), "fds", len(m.Fds))
		}
		s.barriers.Add(1)
		return
	}
	handle(m)
}

// Close closes the socket, which ends Serve, and removes the socket file if
// it is still the one Listen created (same device, inode and change time),
// so a server that closes late never removes its successor's socket. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = s.f.Close()
		if s.file == (fileID{}) {
			return // abstract: nothing on disk
		}
		var st unix.Stat_t
		if unix.Lstat(s.addr, &st) == nil && s.file == (fileID{st.Dev, st.Ino, st.Ctim}) {
			if err := os.Remove(s.addr); err != nil && s.closeErr == nil {
				s.closeErr = fmt.Errorf("close notify socket: %w", err)
			}
		}
	})
	return s.closeErr
}

// ProcessGroup returns the process group of pid, for telling whether a
// sender belongs to a service started as a process group leader
// (SysProcAttr.Setpgid). It fails with ESRCH once the sender has exited.
func ProcessGroup(pid int32) (int, error) {
	pgid, err := unix.Getpgid(int(pid))
	if err != nil {
		return 0, fmt.Errorf("get process group of pid %d: %w", pid, err)
	}
	return pgid, nil
}

// fileID identifies a socket file; the change time tells apart a new file
// that reused a freed inode number.
type fileID struct {
	dev, ino uint64
	ctime    unix.Timespec
}
