//go:build !linux

package sdnotify

import (
	"errors"
	"fmt"

	"github.com/vservers/vserver/internal/logfmt"
)

// Listen is only implemented on Linux: it needs SCM_CREDENTIALS.
func Listen(addr string, log *logfmt.Logger) (*Server, error) {
	return nil, fmt.Errorf("listen on notify socket %s: %w", addr, errors.ErrUnsupported)
}

// Serve is only implemented on Linux.
func (s *Server) Serve(handle func(*Message)) error { return errors.ErrUnsupported }

// Close is only implemented on Linux.
func (s *Server) Close() error { return errors.ErrUnsupported }

// ProcessGroup is only implemented on Linux.
func ProcessGroup(pid int32) (int, error) { return 0, errors.ErrUnsupported }

type fileID struct{}
