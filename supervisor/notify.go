package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vservers/vserver/internal/sdnotify"
)

// listenNotify serves the sd_notify socket the services find in
// $NOTIFY_SOCKET.
func (s *Supervisor) listenNotify() error {
	if err := os.MkdirAll(s.cfg.RunDir, 0o755); err != nil {
		return fmt.Errorf("create run directory: %w", err)
	}
	srv, err := sdnotify.Listen(filepath.Join(s.cfg.RunDir, "notify.sock"), s.log)
	if err != nil {
		return err
	}
	s.notify, s.notifyAddr = srv, srv.Addr()
	go func() {
		defer s.recover("notify socket")
		if err := srv.Serve(s.notified); err != nil {
			s.log.Error("notify socket", "err", err)
		}
	}()
	return nil
}

// notified routes a notification to the service whose process group the
// sender is in; others are dropped.
func (s *Supervisor) notified(m *sdnotify.Message) {
	pgid, err := sdnotify.ProcessGroup(m.Pid)
	if err != nil {
		s.log.Warn("notification from a process that is gone", "pid", m.Pid)
		return
	}
	s.mu.Lock()
	var to *service
	for _, svc := range s.services {
		if svc.status().Pid == pgid {
			to = svc
		}
	}
	s.mu.Unlock()
	if to == nil {
		s.log.Warn("notification from a process of no service", "pid", m.Pid, "pgid", pgid)
		return
	}
	to.do(context.Background(), command{op: opNotify, msg: m})
}
