package sdnotify

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Field
		wantErr error
	}{
		{"one field", "READY=1", []Field{{"READY", "1"}}, nil},
		{"order kept", "STATUS=a\nREADY=1\nSTATUS=b", []Field{{"STATUS", "a"}, {"READY", "1"}, {"STATUS", "b"}}, nil},
		{"trailing newline", "READY=1\n", []Field{{"READY", "1"}}, nil},
		{"empty value", "STATUS=", []Field{{"STATUS", ""}}, nil},
		{"value with =", "STATUS=a=b", []Field{{"STATUS", "a=b"}}, nil},
		{"malformed lines ignored", "garbage\n=1\n\nREADY=1", []Field{{"READY", "1"}}, nil},
		{"only malformed", "garbage\n\n", nil, ErrEmpty},
		{"empty", "", nil, ErrEmpty},
		{"NUL refused", "READY=1\x00STATUS=x", nil, ErrNUL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse(%q) error: got %v, want %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestMessageAccessors(t *testing.T) {
	parse := func(s string) *Message {
		t.Helper()
		f, err := Parse([]byte(s))
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		return &Message{Fields: f}
	}
	type result struct {
		Ready, Reloading, Stopping, Watchdog, Trigger, FDStore bool
		Status                                                 string
		StatusOK                                               bool
		MainPID                                                int
		MainPIDOK                                              bool
		Errno                                                  int
		ErrnoOK                                                bool
		WatchdogTimeout, Extend                                time.Duration
		WatchdogOK, ExtendOK                                   bool
	}
	get := func(m *Message) result {
		var r result
		r.Ready, r.Reloading, r.Stopping = m.Ready(), m.Reloading(), m.Stopping()
		r.Watchdog, r.Trigger, r.FDStore = m.Watchdog(), m.WatchdogTrigger(), m.FDStore()
		r.Status, r.StatusOK = m.Status()
		r.MainPID, r.MainPIDOK = m.MainPID()
		r.Errno, r.ErrnoOK = m.Errno()
		r.WatchdogTimeout, r.WatchdogOK = m.WatchdogUSec()
		r.Extend, r.ExtendOK = m.ExtendTimeoutUSec()
		return r
	}
	tests := []struct {
		name string
		in   string
		want result
	}{
		{"ready", "READY=1", result{Ready: true}},
		{"ready must be 1", "READY=yes", result{}},
		{"status first wins", "STATUS=a\nSTATUS=b", result{Status: "a", StatusOK: true}},
		{"mainpid", "MAINPID=42", result{MainPID: 42, MainPIDOK: true}},
		{"mainpid zero", "MAINPID=0", result{}},
		{"mainpid junk", "MAINPID=4x", result{}},
		{"stopping reloading", "STOPPING=1\nRELOADING=1", result{Stopping: true, Reloading: true}},
		{"watchdog ping", "WATCHDOG=1", result{Watchdog: true}},
		{"watchdog trigger", "WATCHDOG=trigger", result{Trigger: true}},
		{"watchdog usec", "WATCHDOG_USEC=1500000", result{WatchdogTimeout: 1500 * time.Millisecond, WatchdogOK: true}},
		{"usec overflow", "WATCHDOG_USEC=18446744073709551615", result{}},
		{"usec negative", "EXTEND_TIMEOUT_USEC=-1", result{}},
		{"extend", "EXTEND_TIMEOUT_USEC=5000000", result{Extend: 5 * time.Second, ExtendOK: true}},
		{"errno", "ERRNO=2", result{Errno: 2, ErrnoOK: true}},
		{"fdstore", "FDSTORE=1\nFDNAME=x", result{FDStore: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, get(parse(tt.in))); diff != "" {
				t.Errorf("%q (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
