package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vservers/vserver/internal/logfile"
	"github.com/vservers/vserver/internal/logfmt"
	"github.com/vservers/vserver/internal/sock"
	"github.com/vservers/vserver/units"
)

// The control socket speaks JSON lines over a unix stream socket: the
// client sends one Request line, the server answers with Response lines
// and closes the connection. Every answer ends with a Response whose Done
// is true; "logs" sends one Response with Line per log line before it.
// The JSON is written and read by wire.go, to these types' json tags.

// Request is a command on the control socket.
type Request struct {
	Cmd    string `json:"cmd"`              // status, start, stop, restart, signal, logs, reload
	Name   string `json:"name,omitempty"`   // the service, for all but status and reload
	Signal string `json:"signal,omitempty"` // with signal: a name (TERM, SIGHUP) or number
	Lines  int    `json:"lines,omitempty"`  // with logs: how many of the last lines
	Follow bool   `json:"follow,omitempty"` // with logs: go on with new lines
}

// Response is one line of the answer.
type Response struct {
	Done     bool     `json:"done,omitempty"`     // the last line of the answer
	Error    string   `json:"error,omitempty"`    // the command failed
	Services []Status `json:"services,omitempty"` // with status
	Line     string   `json:"line,omitempty"`     // with logs: one log line
}

// maxRequest bounds a request line.
const maxRequest = 64 << 10

// ServeControl listens on the unix socket path (mode 0600) and serves
// control requests from root until ctx is done. A process of another user
// is refused, whatever the socket's mode.
func (s *Supervisor) ServeControl(ctx context.Context, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("listen on control socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == os.ModeSocket {
		os.Remove(path) // stale, from an earlier vinit
	}
	l, err := sock.Listen(path)
	if err != nil {
		return fmt.Errorf("listen on control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("listen on control socket: %w", err)
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	go func() {
		defer s.recover("control socket")
		for {
			c, err := l.Accept()
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("control socket", "err", err)
				}
				return
			}
			s.connOpened()
			go func() {
				defer s.connClosed()
				s.serveConn(ctx, c)
			}()
		}
	}()
	return nil
}

// connOpened and connClosed count the open control connections, and call
// OnQuiet once none has been open for QuietAfter.
func (s *Supervisor) connOpened() {
	s.conns.Lock()
	defer s.conns.Unlock()
	s.conns.open++
	if s.conns.quiet != nil {
		s.conns.quiet.Stop()
	}
}

func (s *Supervisor) connClosed() {
	s.conns.Lock()
	defer s.conns.Unlock()
	if s.conns.open--; s.conns.open > 0 || s.cfg.OnQuiet == nil {
		return
	}
	if s.conns.quiet == nil {
		s.conns.quiet = time.AfterFunc(QuietAfter, s.cfg.OnQuiet)
	} else {
		s.conns.quiet.Reset(QuietAfter)
	}
}

func (s *Supervisor) serveConn(ctx context.Context, c *sock.Conn) {
	defer c.Close()
	defer s.recover("control connection")
	enc := &lineEncoder{w: c}
	fail := func(err error) { enc.Encode(Response{Done: true, Error: err.Error()}) }
	if uid, err := peerUID(c); err != nil || uid != 0 {
		fail(fmt.Errorf("control socket: permission denied (uid %d): root only", uid))
		return
	}
	// A request is a line of a few dozen bytes: a small buffer, which
	// ReadBytes grows if it must (up to maxRequest).
	r := bufio.NewReaderSize(io.LimitReader(c, maxRequest), 256)
	line, err := r.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return
	}
	req, err := decodeRequest(line)
	if err != nil {
		fail(fmt.Errorf("bad request: %w", err))
		return
	}
	// The client hanging up ends a long command (logs -f); the others
	// are short and need no goroutine watching for it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if req.Cmd == "logs" && req.Follow {
		go func() {
			io.Copy(io.Discard, c)
			cancel()
		}()
	}
	if err := s.handle(ctx, req, enc); err != nil {
		fail(err)
		return
	}
	enc.Encode(Response{Done: true})
}

// handle runs one request; what it returns ends the answer.
func (s *Supervisor) handle(ctx context.Context, req Request, enc *lineEncoder) error {
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	switch req.Cmd {
	case "status":
		return enc.Encode(Response{Services: s.Status()})
	case "start":
		return s.StartService(req.Name)
	case "stop":
		return s.StopService(stopCtx, req.Name)
	case "restart":
		return s.RestartService(stopCtx, req.Name)
	case "signal":
		sig, err := units.ParseSignal(req.Signal)
		if err != nil {
			return err
		}
		return s.Signal(req.Name, sig)
	case "reload":
		return s.ReloadDir(stopCtx)
	case "logs":
		return s.logs(ctx, req, enc)
	}
	return fmt.Errorf("unknown command %q", req.Cmd)
}

func (s *Supervisor) logs(ctx context.Context, req Request, enc *lineEncoder) error {
	if err := s.check(req.Name); err != nil {
		return err
	}
	if s.cfg.LogDir == "" {
		return errors.New("logs: vinit keeps no log files (no --log-dir)")
	}
	n := req.Lines
	if n <= 0 {
		n = 10
	}
	emit := func(l string) error { return enc.Encode(Response{Line: l}) }
	if req.Follow {
		err := logfile.Follow(ctx, s.cfg.LogDir, req.Name, n, emit)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	lines, err := logfile.Tail(s.cfg.LogDir, req.Name, n)
	if errors.Is(err, os.ErrNotExist) {
		return nil // nothing written yet
	}
	if err != nil {
		return err
	}
	for _, l := range lines {
		if err := emit(l); err != nil {
			return err
		}
	}
	return nil
}

// ReloadDir reads Config.UnitsDir again and applies it as Reload does. The
// error lists every problem of the directory (file:line:col); the units
// that have none are applied all the same.
func (s *Supervisor) ReloadDir(ctx context.Context) error {
	set, err := LoadUnits(s.log, s.cfg.UnitsDir)
	if set == nil {
		return fmt.Errorf("reload: nothing changed: %w", err)
	}
	return errors.Join(err, s.Reload(ctx, set))
}

// LoadUnits reads a units directory and logs each of its problems on a line
// of its own. It returns the valid units, and the problems as an error.
func LoadUnits(log *logfmt.Logger, dir string) (*units.Set, error) {
	set, err := units.LoadDir(dir)
	if err != nil {
		for line := range strings.SplitSeq(err.Error(), "\n") {
			log.Error("units", "err", line)
		}
	}
	return set, err
}

// peerUID is the user of the process at the other end of c.
func peerUID(c *sock.Conn) (int, error) {
	cred, err := c.PeerCred()
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}

// Call sends req to the control socket at path and calls each with every
// Response line but the last. It returns the error the server reported.
func Call(ctx context.Context, path string, req Request, each func(Response) error) error {
	c, err := sock.Dial(ctx, path)
	if err != nil {
		return fmt.Errorf("connect to vinit: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := c.Write(append(appendRequest(nil, &req), '\n')); err != nil {
		return fmt.Errorf("send to vinit: %w", err)
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimLeft(line, " \t\r\n")) == 0 {
			if err == nil {
				continue // a blank line, which a JSON stream may have
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read from vinit: %w", err)
		}
		resp, err := decodeResponse(line)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read from vinit: %w", err)
		}
		if resp.Done {
			if resp.Error != "" {
				return errors.New(resp.Error)
			}
			return nil
		}
		if err := each(resp); err != nil {
			return err
		}
	}
}
