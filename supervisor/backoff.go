package supervisor

import (
	"time"

	"github.com/vservers/vserver/units"
)

// backoff yields the delays before successive restarts of one service.
type backoff struct {
	cfg  units.Backoff
	next time.Duration // the next delay before jitter; 0 means cfg.Initial
	rand func() float64
}

// delay returns the wait before the next restart and advances the sequence:
// the base delay starts at Initial, is multiplied by Factor after every
// restart and is capped at Max; up to Jitter times the base is added to it.
func (b *backoff) delay() time.Duration {
	d := b.next
	if d <= 0 {
		d = b.cfg.Initial
	}
	if b.cfg.Max > 0 && d > b.cfg.Max {
		d = b.cfg.Max
	}
	n := time.Duration(float64(d) * b.cfg.Factor)
	if b.cfg.Max > 0 && n > b.cfg.Max {
		n = b.cfg.Max
	}
	if n < d { // Factor < 1 or overflow: never shrink
		n = d
	}
	b.next = n
	if b.cfg.Jitter > 0 && b.rand != nil {
		d += time.Duration(float64(d) * b.cfg.Jitter * b.rand())
	}
	return d
}

// reset starts the sequence over, after the service stayed up long enough.
func (b *backoff) reset() { b.next = 0 }

// startLimit remembers recent start times to enforce units.StartLimit.
type startLimit struct {
	cfg    units.StartLimit
	starts []time.Time
}

// allow records a start at now and reports whether it is within the limit:
// at most Burst starts within any Interval.
func (l *startLimit) allow(now time.Time) bool {
	if l.cfg.Burst <= 0 {
		return true
	}
	keep := l.starts[:0]
	for _, t := range l.starts {
		if now.Sub(t) < l.cfg.Interval {
			keep = append(keep, t)
		}
	}
	l.starts = keep
	if len(l.starts) >= l.cfg.Burst {
		return false
	}
	l.starts = append(l.starts, now)
	return true
}

// clear forgets the recorded starts, after an explicit start by the user.
func (l *startLimit) clear() { l.starts = l.starts[:0] }
