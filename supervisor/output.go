package supervisor

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/vservers/vserver/internal/logfile"
)

// outputGrace bounds how long Stop waits for the last lines of services
// whose pipe a leftover process still holds.
const outputGrace = 2 * time.Second

// output is a service's stdout and stderr: a pipe held across restarts
// whose lines go to its log file and the console.
type output struct {
	out  *logfile.Output
	file *logfile.Writer // nil without a LogDir
}

// newOutput opens the log file of service name (when there is a LogDir)
// and the pipe that feeds it. A log file that can't be opened is logged,
// and the output goes to the console alone.
func (s *Supervisor) newOutput(name string) (*output, error) {
	o := &output{}
	if s.cfg.LogDir != "" {
		w, err := logfile.Open(s.cfg.LogDir, name, logfile.Options{})
		if err != nil {
			s.log.Error("no log file", "service", name, "err", err)
		} else {
			o.file = w
		}
	}
	var err error
	if o.out, err = logfile.NewOutput(name, o.file, s.cfg.Console, s.log); err != nil {
		if o.file != nil {
			o.file.Close()
		}
		return nil, err
	}
	return o, nil
}

// close reads the output to its end (or until ctx is done) and closes the
// log file.
func (o *output) close(ctx context.Context, log *slog.Logger) {
	if err := o.out.Close(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Error("close output", "err", err)
	}
	if o.file != nil {
		if err := o.file.Close(); err != nil {
			log.Error("close log file", "err", err)
		}
	}
}
