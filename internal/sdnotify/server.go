package sdnotify

import (
	"os"
	"sync"
	"sync/atomic"

	"github.com/vservers/vserver/internal/logfmt"
)

// Server is a bound notify socket. Serve reads it; Close closes it.
type Server struct {
	addr string
	log  *logfmt.Logger
	f    *os.File // the socket, non-blocking, in the runtime's poller
	// file identifies the socket file Listen created, so Close removes
	// only that file and never one that replaced it.
	file   fileID
	maxFds int // MaxFds; tests lower it to provoke MSG_CTRUNC

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	received, dropped, barriers atomic.Uint64
}

// Stats counts what a server has read so far.
type Stats struct {
	Received uint64 // datagrams read, dropped ones included
	Dropped  uint64 // datagrams refused: too long, truncated, no credentials, no fields
	Barriers uint64 // BARRIER=1 datagrams answered
}

// Addr returns the address the server is bound to, in the form
// $NOTIFY_SOCKET takes: a path, or "@name" for an abstract socket.
func (s *Server) Addr() string { return s.addr }

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Received: s.received.Load(),
		Dropped:  s.dropped.Load(),
		Barriers: s.barriers.Load(),
	}
}
