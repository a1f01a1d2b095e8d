package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/vservers/vserver/internal/logfile"
	"github.com/vservers/vserver/internal/logfmt"
)

// outputGrace bounds how long Stop waits for the last lines of services
// whose pipe a leftover process still holds.
const outputGrace = 2 * time.Second

// output is a service's stdout and stderr: a pipe held across restarts
// whose lines go to its log file and the console. It is opened by the
// first start of the service, in the spawner, so that the log files of
// many services are created alongside their starts, not all before the
// first.
type output struct {
	name string
	sup  *Supervisor

	mu     sync.Mutex
	out    *logfile.Output // nil until opened
	file   *logfile.Writer // nil without a LogDir
	closed bool
}

func (s *Supervisor) newOutput(name string) *output { return &output{name: name, sup: s} }

// File returns the pipe's write end for the service's next process,
// opening the log file (when there is a LogDir) and the pipe the first
// time. A log file that can't be opened is logged, and the output goes to
// the console alone.
func (o *output) File() (*os.File, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, fmt.Errorf("output of %s: %w", o.name, os.ErrClosed)
	}
	if o.out != nil {
		return o.out.File(), nil
	}
	cfg, log := o.sup.cfg, o.sup.log
	if cfg.LogDir != "" && o.file == nil {
		w, err := logfile.Open(cfg.LogDir, o.name, logfile.Options{})
		if err != nil {
			log.Error("no log file", "service", o.name, "err", err)
		} else {
			o.file = w
		}
	}
	out, err := logfile.NewOutput(o.name, o.file, o.sup.console, log)
	if err != nil {
		return nil, err
	}
	o.out = out
	return out.File(), nil
}

// close reads the output to its end (or until ctx is done) and closes the
// log file.
func (o *output) close(ctx context.Context, log *logfmt.Logger) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.out != nil {
		if err := o.out.Close(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			log.Error("close output", "err", err)
		}
	}
	if o.file != nil {
		if err := o.file.Close(); err != nil {
			log.Error("close log file", "err", err)
		}
	}
}
