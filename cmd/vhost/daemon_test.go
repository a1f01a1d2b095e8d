package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vservers/vserver/internal/hostd"
	"github.com/vservers/vserver/internal/vserver"
)

// daemonHost is a root with vservers for the daemon: an image whose one
// service notes its start and its stop signal, four autostart vservers
// in three boot orders, and a broken config.
type daemonHost struct {
	*host
	names  []string // by boot order: a (1), b and c (2), d (3)
	broken string
}

func newDaemonHost(t *testing.T) *daemonHost {
	t.Helper()
	h := &daemonHost{host: newHost(t)}
	h.ok("image", "build", "marked", "--from", "busybox", "--units", "../../internal/hostd/testdata/units")
	for _, v := range []struct {
		base    string
		order   int
		restart string
	}{{"da", 1, "on-failure"}, {"db", 2, "never"}, {"dc", 2, "always"}, {"dd", 3, "never"}} {
		name := testName(v.base)
		h.names = append(h.names, name)
		h.write(name, fmt.Sprintf("image: marked\nhostname: %s\nnetwork:\n  mode: none\nautostart: true\nboot_order: %d\nrestart: %s\nstop_timeout: 10s\n",
			name, v.order, v.restart))
	}
	h.broken = testName("dx")
	h.write(h.broken, "image: marked\nautostart: true\nno_such_key: 1\n")
	t.Cleanup(func() {
		h.vhost("daemon", "stop")
		for _, n := range h.names {
			h.vhost("stop", n)
		}
	})
	return h
}

func (h *daemonHost) write(name, cfg string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"), []byte(cfg), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// initd runs the installed SysV script with verb.
func (h *daemonHost) initd(verb string) string {
	h.t.Helper()
	out, err := exec.Command("sh", filepath.Join(h.root, "etc/init.d/vhost"), verb).CombinedOutput()
	if err != nil {
		h.t.Fatalf("/etc/init.d/vhost %s: %v\n%s", verb, err, out)
	}
	return string(out)
}

func (h *daemonHost) daemonLog() string {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.root, "var/log/vhost/daemon.log"))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

// marks is what the guest's mark service wrote.
func (h *daemonHost) marks(name string) string {
	b, _ := os.ReadFile(filepath.Join(h.root, "var/lib/vhost/vservers", name, "upper/var/log/marks"))
	return string(b)
}

// logIndex is the position of the first line of log after from that holds
// every one of words, or -1.
func logIndex(log string, from int, words ...string) int {
	for i, l := range strings.Split(log, "\n") {
		if i < from {
			continue
		}
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return i
		}
	}
	return -1
}

func TestSysVServiceBootsAndStopsInOrder(t *testing.T) {
	h := newDaemonHost(t)
	out := h.ok("service", "install", "--init", "sysv")
	script := filepath.Join(h.root, "etc/init.d/vhost")
	if !strings.Contains(out, script) {
		t.Fatalf("service install: got %q, want it to name %s", out, script)
	}
	if got := h.ok("service", "status", "--init", "sysv"); !strings.Contains(got, "installed") || !strings.Contains(got, "not running") {
		t.Errorf("service status before start: got %q", got)
	}

	// start returns when the autostart vservers are up, in boot order.
	if got := h.initd("start"); !strings.Contains(got, "4/4 vservers running, 1 broken config") {
		t.Errorf("start: got %q, want the summary 4/4 vservers running, 1 broken config", got)
	}
	sts := map[string]*vserver.State{}
	for _, n := range h.names {
		sts[n] = h.state(n)
		if sts[n].Status != vserver.StatusRunning {
			t.Errorf("%s: got status %s, want running", n, sts[n].Status)
		}
	}
	a, b, c, d := h.names[0], h.names[1], h.names[2], h.names[3]
	for _, later := range []string{b, c} {
		if !sts[later].Started.After(sts[a].Started) || !sts[d].Started.After(sts[later].Started) {
			t.Errorf("boot order: %s began at %v, %s at %v, %s at %v; want order 1, then 2, then 3",
				a, sts[a].Started, later, sts[later].Started, d, sts[d].Started)
		}
	}
	log := h.daemonLog()
	if logIndex(log, 0, "broken config: skipped", "vserver="+h.broken, "no_such_key") < 0 {
		t.Errorf("daemon log does not report the broken config:\n%s", log)
	}
	list := h.ok("list")
	for _, n := range h.names {
		if logIndex(list, 0, n, "yes", "running") < 0 {
			t.Errorf("vhost list: no running autostart line for %s:\n%s", n, list)
		}
	}
	var entries []struct {
		Name      string
		Autostart *bool
		Status    string
		Problem   string
	}
	if err := json.Unmarshal([]byte(h.ok("list", "--json")), &entries); err != nil {
		t.Fatalf("vhost list --json: %v", err)
	}
	byName := map[string]int{}
	for i, e := range entries {
		byName[e.Name] = i
	}
	for _, n := range h.names {
		i, ok := byName[n]
		if !ok || entries[i].Autostart == nil || !*entries[i].Autostart || entries[i].Status != "running" {
			t.Errorf("vhost list --json: want %s autostart and running, got %+v", n, entries)
		}
	}
	if i, ok := byName[h.broken]; !ok || entries[i].Autostart != nil || entries[i].Problem == "" {
		t.Errorf("vhost list --json: want %s with no autostart and its problem, got %+v", h.broken, entries)
	}
	if st := h.ok("daemon", "status"); !strings.Contains(st, "vhost daemon is running") {
		t.Errorf("daemon status: got %q", st)
	}

	// restart replaces the daemon alone: the guests run on, adopted.
	pid := hostd.DaemonPid(vserver.Paths{Root: h.root})
	h.initd("restart")
	if got := hostd.DaemonPid(vserver.Paths{Root: h.root}); got == 0 || got == pid {
		t.Errorf("daemon after restart: got pid %d, want a new one (was %d)", got, pid)
	}
	for _, n := range h.names {
		if st := h.state(n); st.Undo.Pid != sts[n].Undo.Pid || st.Boots != 1 {
			t.Errorf("%s after the daemon's restart: init pid %d (boot %d), want %d untouched", n, st.Undo.Pid, st.Boots, sts[n].Undo.Pid)
		}
		if logIndex(h.daemonLog(), 0, "already running: adopted", "vserver="+n) < 0 {
			t.Errorf("%s not adopted by the new daemon", n)
		}
	}

	// A guest killed behind the daemon's back boots again (on-failure);
	// one stopped on request does not.
	if err := syscall.Kill(sts[a].Undo.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "restart of "+a, func() bool {
		st, err := vserver.ReadState(vserver.Paths{Root: h.root}, a)
		return err == nil && st.Status == vserver.StatusRunning && st.Undo.Pid != sts[a].Undo.Pid
	})
	h.ok("stop", c)
	eventually(t, "the daemon sees "+c+" stopped", func() bool {
		return logIndex(h.daemonLog(), 0, "guest ended", "vserver="+c) >= 0
	})
	if i := logIndex(h.daemonLog(), 0, "guest ended", "vserver="+c); logIndex(h.daemonLog(), i, "requested=true", "again=false") != i {
		t.Errorf("%s stopped with vhost stop (restart: always) is booted again:\n%s", c, h.daemonLog())
	}
	h.ok("start", c)

	// stop stops them in reverse boot order, and each guest's service
	// got its stop signal.
	h.initd("stop")
	for _, n := range h.names {
		if _, err := vserver.ReadState(vserver.Paths{Root: h.root}, n); err == nil {
			t.Errorf("%s still running after stop", n)
		}
		if m := h.marks(n); !strings.Contains(m, "stop "+n) {
			t.Errorf("%s: the guest's service did not see its stop signal: marks %q", n, m)
		}
	}
	log = h.daemonLog()
	from := strings.Count(log[:strings.LastIndex(log, "stopping the vservers")], "\n")
	for _, step := range []struct{ first, then string }{{d, b}, {d, c}, {b, a}, {c, a}} {
		stopped := logIndex(log, from, "msg=stopped", "vserver="+step.first)
		stopping := logIndex(log, from, "msg=stopping", "vserver="+step.then)
		if stopped < 0 || stopping < 0 || stopped > stopping {
			t.Errorf("stop order: %s stopped at line %d, %s stopping at line %d; want the higher boot order stopped first:\n%s",
				step.first, stopped, step.then, stopping, log[strings.LastIndex(log, "stopping the vservers"):])
		}
	}
	if got := h.ok("service", "status", "--init", "sysv"); !strings.Contains(got, "not running") {
		t.Errorf("service status after stop: got %q", got)
	}
	h.ok("service", "uninstall", "--init", "sysv")
	if _, err := os.Stat(script); !os.IsNotExist(err) {
		t.Errorf("after uninstall: got %v, want %s gone", err, script)
	}
}
