package single

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vservers/vserver/internal/logfmt"
)

func TestPreemptionOff(t *testing.T) {
	tests := []struct {
		godebug string
		want    bool
	}{
		{"", false},
		{"asyncpreemptoff=1", true},
		{"panicnil=1,asyncpreemptoff=1", true},
		{"asyncpreemptoff=1,asyncpreemptoff=0", false},
		{"asyncpreemptoff=0,asyncpreemptoff=1", true},
		{"asyncpreemptoff=", false},
		{"xasyncpreemptoff=1", false},
	}
	for _, tt := range tests {
		if got := preemptionOff(tt.godebug); got != tt.want {
			t.Errorf("preemptionOff(%q) = %v, want %v", tt.godebug, got, tt.want)
		}
	}
}

func TestKeepRunningRecoversPanics(t *testing.T) {
	var buf bytes.Buffer
	log := logfmt.New(&buf, logfmt.LevelInfo)
	calls := 0
	keepRunning(log, "test loop", func() {
		calls++
		if calls < 3 {
			panic("boom")
		}
	})
	if calls != 3 {
		t.Errorf("got %d calls, want 3 (two panics, then a normal return)", calls)
	}
	if n := strings.Count(buf.String(), "recovered from panic"); n != 2 {
		t.Errorf("got %d panic logs, want 2:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "boom") || !strings.Contains(buf.String(), "test loop") {
		t.Errorf("log lacks the panic value or the place:\n%s", buf.String())
	}
}
