package hostd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vservers/vserver/internal/vserver"
)

func writeConfigs(t *testing.T, files map[string]string) vserver.Paths {
	t.Helper()
	p := vserver.Paths{Root: t.TempDir()}
	if err := os.MkdirAll(p.ConfigDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(p.Config(name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func cfg(extra string) string {
	return "image: demo\nnetwork:\n  mode: none\n" + extra
}

func TestMakePlan(t *testing.T) {
	p := writeConfigs(t, map[string]string{
		"db":     cfg("autostart: true\nboot_order: 1\nrestart: always\n"),
		"web2":   cfg("autostart: true\nboot_order: 5\n"),
		"web1":   cfg("autostart: true\nboot_order: 5\nrestart: on-failure\n"),
		"late":   cfg("autostart: true\nboot_order: 10\n"),
		"manual": cfg("boot_order: 0\n"),
		"broken": cfg("autostart: true\nbogus: 1\n"),
	})
	plan, err := MakePlan(p)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]Entry{
		{{Name: "db", Order: 1, Restart: "always"}},
		{{Name: "web1", Order: 5, Restart: "on-failure"}, {Name: "web2", Order: 5, Restart: "never"}},
		{{Name: "late", Order: 10, Restart: "never"}},
	}
	if diff := cmp.Diff(want, plan.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if len(plan.Broken) != 1 || plan.Broken["broken"] == nil || !strings.Contains(plan.Broken["broken"].Error(), "bogus") {
		t.Errorf("broken: got %v, want broken's error naming bogus", plan.Broken)
	}
	if got := plan.Len(); got != 4 {
		t.Errorf("Len: got %d, want 4", got)
	}
	if e, ok := plan.Entry("web2"); !ok || e.Order != 5 {
		t.Errorf("Entry(web2): got %+v, %v", e, ok)
	}
}

func TestMakePlanWithoutConfigs(t *testing.T) {
	plan, err := MakePlan(vserver.Paths{Root: t.TempDir()})
	if err != nil || plan.Len() != 0 {
		t.Errorf("got %+v, %v, want an empty plan", plan, err)
	}
}

func TestRestartAfter(t *testing.T) {
	failed := &ExitRecord{Outcome: vserver.Failed}
	poweroff := &ExitRecord{Outcome: vserver.Poweroff}
	stopped := &ExitRecord{Outcome: vserver.Poweroff, Requested: true}
	tests := []struct {
		policy string
		rec    *ExitRecord
		want   bool
	}{
		{"", failed, false},
		{"never", failed, false},
		{"on-failure", failed, true},
		{"on-failure", poweroff, false},
		{"on-failure", stopped, false},
		{"always", failed, true},
		{"always", poweroff, true},
		{"always", stopped, false},
		{"always", nil, false},
	}
	for _, tt := range tests {
		name := tt.policy + "/"
		if tt.rec != nil {
			name += string(tt.rec.Outcome)
			if tt.rec.Requested {
				name += "-requested"
			}
		}
		t.Run(name, func(t *testing.T) {
			if got := restartAfter(tt.policy, tt.rec); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExitRecord(t *testing.T) {
	p := vserver.Paths{Root: t.TempDir()}
	if rec, err := TakeExit(p, "web"); rec != nil || err != nil {
		t.Fatalf("no record: got %v, %v, want nil, nil", rec, err)
	}
	want := ExitRecord{Outcome: vserver.Failed, Requested: true, Error: "boom", Time: time.Unix(1700000000, 0).UTC()}
	if err := WriteExit(p, "web", want); err != nil {
		t.Fatal(err)
	}
	got, err := TakeExit(p, "web")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(exitFile(p, "web")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after TakeExit: got %v, want the record gone", err)
	}
}

func TestLock(t *testing.T) {
	p := vserver.Paths{Root: t.TempDir()}
	if got := DaemonPid(p); got != 0 {
		t.Fatalf("no daemon: got pid %d, want 0", got)
	}
	lk, err := Lock(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := DaemonPid(p); got != os.Getpid() {
		t.Errorf("locked: got pid %d, want %d", got, os.Getpid())
	}
	if _, err := Lock(p); !errors.Is(err, ErrDaemonRunning) {
		t.Errorf("second Lock: got %v, want ErrDaemonRunning", err)
	}
	lk.Close()
	if got := DaemonPid(p); got != 0 {
		t.Errorf("unlocked: got pid %d, want 0", got)
	}
}

func TestServiceFiles(t *testing.T) {
	s := Service{Exe: "/usr/sbin/vhost", Vinit: "/usr/lib/vhost/vinit", Root: "/srv/my root", Parallel: 2, StopTimeout: time.Minute}
	unit := s.SystemdUnit()
	for _, want := range []string{
		"Type=notify\n",
		"ExecStart=/usr/sbin/vhost --root '/srv/my root' daemon run --parallel 2 --stop-timeout 1m0s\n",
		"Environment=VHOST_VINIT=/usr/lib/vhost/vinit\n",
		"KillMode=process\n",
		"TimeoutStopSec=90\n",
		"WantedBy=multi-user.target\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	script := s.SysVScript()
	for _, want := range []string{
		"#!/bin/sh\n",
		"# Default-Stop:      0 1 6\n",
		"VHOST_VINIT=/usr/lib/vhost/vinit\n",
		"exec /usr/sbin/vhost --root '/srv/my root' daemon start --parallel 2 --stop-timeout 1m0s ;;\n",
		"exec /usr/sbin/vhost --root '/srv/my root' daemon stop --parallel 2 --stop-timeout 1m0s ;;\n",
		"daemon stop --keep-guests",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	// kardianos/service parses custom scripts as templates: they must
	// hold no actions.
	for _, text := range []string{unit, script} {
		if strings.Contains(text, "{{") {
			t.Errorf("template action in:\n%s", text)
		}
	}
	// The script is valid sh.
	f := filepath.Join(t.TempDir(), "vhost")
	os.WriteFile(f, []byte(script), 0o755)
	if out, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v: %s", err, out)
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/usr/bin/vhost", "/usr/bin/vhost"},
		{"", "''"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"$HOME", "'$HOME'"},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q): got %s, want %s", tt.in, got, tt.want)
		}
	}
}
