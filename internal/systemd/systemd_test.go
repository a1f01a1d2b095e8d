package systemd

import (
	"bytes"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/coreos/go-systemd/v22/journal"
	"github.com/google/go-cmp/cmp"
)

func propMap(ps []sddbus.Property) map[string]any {
	m := map[string]any{}
	for _, p := range ps {
		m[p.Name] = p.Value.Value()
	}
	return m
}

func TestScopeProperties(t *testing.T) {
	tests := []struct {
		name  string
		props ScopeProps
		want  map[string]any
	}{
		{"defaults", ScopeProps{}, map[string]any{
			"Description": "vserver web", "Slice": "machine.slice", "PIDs": []uint32{42},
			"Delegate": true, "CollectMode": "inactive-or-failed",
		}},
		{"limits", ScopeProps{
			Slice: "vhost.slice", Description: "d", PIDs: []int{43},
			TasksMax: 100, MemoryMax: 64 << 20, MemorySwapMax: 1 << 20, CPUWeight: 50,
			CPUQuotaPerSecUSec: 500000, IOWeight: 200,
		}, map[string]any{
			"Description": "d", "Slice": "vhost.slice", "PIDs": []uint32{42, 43},
			"Delegate": true, "CollectMode": "inactive-or-failed",
			"TasksMax": uint64(100), "MemoryMax": uint64(64 << 20), "MemorySwapMax": uint64(1 << 20),
			"CPUWeight": uint64(50), "CPUQuotaPerSecUSec": uint64(500000), "IOWeight": uint64(200),
		}},
		{"no swap, no delegation", ScopeProps{NoSwap: true, NoDelegate: true}, map[string]any{
			"Description": "vserver web", "Slice": "machine.slice", "PIDs": []uint32{42},
			"Delegate": false, "CollectMode": "inactive-or-failed", "MemorySwapMax": uint64(0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, propMap(tt.props.properties("web", 42))); diff != "" {
				t.Errorf("properties (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScopeUnit(t *testing.T) {
	if got, want := (ScopeProps{}).unit("web"), "vhost-web.scope"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := (ScopeProps{Unit: "m.scope"}).unit("web"), "m.scope"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCgroupOf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0::/machine.slice/vhost-x.scope\n", "/machine.slice/vhost-x.scope"},
		{"12:pids:/a\n1:name=systemd:/b\n0::/c\n", "/c"},
		{"12:pids:/a\n", ""},
	}
	for _, tt := range tests {
		if got := cgroupOf(tt.in); got != tt.want {
			t.Errorf("cgroupOf(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFieldName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"vserver", "VSERVER"},
		{"context_id", "CONTEXT_ID"},
		{"err.cause", "ERR_CAUSE"},
		{"_hidden", "HIDDEN"},
		{"9lives", "F_9LIVES"},
		{"", "F_"},
		{strings.Repeat("a", 70), strings.Repeat("A", 64)},
	}
	for _, tt := range tests {
		if got := fieldName(tt.in); got != tt.want {
			t.Errorf("fieldName(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

type sent struct {
	msg  string
	prio journal.Priority
	vars map[string]string
}

func TestJournalHandler(t *testing.T) {
	var got []sent
	h := newJournalHandler(&slog.HandlerOptions{Level: slog.LevelDebug}, func(m string, p journal.Priority, v map[string]string) error {
		got = append(got, sent{m, p, v})
		return nil
	})
	log := slog.New(h).With("vserver", "web")
	log.Info("started", "context_id", 7)
	log.WithGroup("net").Warn("no route", "addr", "10.0.0.2/24", "why", "link down")
	log.Debug("d")
	log.Error("e", slog.Group("g", "a", 1))
	want := []sent{
		{"started vserver=web context_id=7", journal.PriInfo, map[string]string{"VSERVER": "web", "CONTEXT_ID": "7"}},
		{`no route vserver=web net_addr=10.0.0.2/24 net_why="link down"`, journal.PriWarning,
			map[string]string{"VSERVER": "web", "NET_ADDR": "10.0.0.2/24", "NET_WHY": "link down"}},
		{"d vserver=web", journal.PriDebug, map[string]string{"VSERVER": "web"}},
		{"e vserver=web g_a=1", journal.PriErr, map[string]string{"VSERVER": "web", "G_A": "1"}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(sent{})); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	if h.Enabled(t.Context(), slog.LevelDebug-1) {
		t.Errorf("enabled below its level")
	}
}

func TestLogHandlerFallsBackToText(t *testing.T) {
	var b bytes.Buffer
	slog.New(newLogHandler(&b, nil, false)).Info("hello", "vserver", "web")
	if got := b.String(); !strings.Contains(got, "msg=hello vserver=web") {
		t.Errorf("without journald: got %q, want a text line with msg=hello vserver=web", got)
	}
	if h := newLogHandler(&b, nil, true); func() bool { _, ok := h.(*JournalHandler); return !ok }() {
		t.Errorf("with journald: got %T, want *JournalHandler", h)
	}
}

func TestNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	read := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	tests := []struct {
		name string
		send func() error
		want string
	}{
		{"ready", func() error { return Ready("2/2 vservers running") }, "READY=1\nSTATUS=2/2 vservers running"},
		{"status", func() error { return Status("1/2 vservers running") }, "STATUS=1/2 vservers running"},
		{"stopping", func() error { return Stopping("stopping 2 vservers") }, "STOPPING=1\nSTATUS=stopping 2 vservers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.send(); err != nil {
				t.Fatal(err)
			}
			if got := read(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("watchdog", func(t *testing.T) {
		t.Setenv("WATCHDOG_USEC", "100000")
		t.Setenv("WATCHDOG_PID", "")
		on, err := Watchdog(t.Context(), nil)
		if err != nil || !on {
			t.Fatalf("got %v, %v, want true, nil", on, err)
		}
		if got := read(); got != "WATCHDOG=1" {
			t.Errorf("got %q, want WATCHDOG=1", got)
		}
	})
	t.Run("no socket", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		if ok, err := Notify("READY=1"); ok || err != nil {
			t.Errorf("got %v, %v, want false, nil", ok, err)
		}
	})
}
