package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/internal/cgroup"
	"github.com/vservers/vserver/internal/systemd"
	"github.com/vservers/vserver/internal/vserver"
)

// On a host run by systemd with cgroup v2 (the VM of scripts/vmtest.sh),
// a vserver lives in a delegated vhost-NAME.scope with its limits as the
// scope's properties, and is a machine of systemd-machined.
func TestSystemdScopeAndMachined(t *testing.T) {
	if !systemd.Booted() || !cgroup.Unified() {
		t.Skip("needs systemd as PID 1 and cgroup v2: scripts/vmtest.sh runs it in a VM, and fails if it is skipped there")
	}
	h := newHost(t)
	name := testName("sd")
	os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"),
		[]byte("image: demo\nnetwork:\n  addresses: [10.77.0.30/24]\nlimits:\n  pids: 100\n  memory: 64M\nstop_timeout: 10s\n"), 0o644)
	h.ok("start", name)
	st := h.state(name)
	t.Cleanup(func() { h.vhost("stop", name); assertGone(t, h.root, name, st.Undo) })

	scope := "machine.slice/" + systemd.ScopeUnit(name)
	if st.Undo.Cgroup != scope {
		t.Fatalf("cgroup %q, want systemd's %q", st.Undo.Cgroup, scope)
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(st.Undo.Pid) + "/cgroup")
	if !strings.Contains(string(b), "0::/"+scope) {
		t.Fatalf("init's cgroup: %s", b)
	}
	for file, want := range map[string]string{"pids.max": "100", "memory.max": "67108864"} {
		got, _ := os.ReadFile(filepath.Join(cgroup.Root, scope, file))
		if strings.TrimSpace(string(got)) != want {
			t.Errorf("%s = %q, want %s", file, got, want)
		}
	}
	machinectl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("machinectl", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("machinectl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := machinectl("show", name, "-p", "Leader", "-p", "Unit", "-p", "Class"); !strings.Contains(out, "Leader="+strconv.Itoa(st.Undo.Pid)) ||
		!strings.Contains(out, "Unit="+systemd.ScopeUnit(name)) || !strings.Contains(out, "Class=container") {
		t.Fatalf("machinectl show:\n%s", out)
	}
	if out := machinectl("list", "--no-legend"); !strings.Contains(out, name) {
		t.Fatalf("machinectl list lacks %s:\n%s", name, out)
	}

	// machinectl reboot sends SIGINT to the leader: vinit reboots, the
	// monitor boots it again, and registers the new init.
	machinectl("reboot", name)
	eventually(t, "second boot", func() bool {
		s, err := vserver.ReadState(vserver.Paths{Root: h.root}, name)
		return err == nil && s.Boots == 2 && s.Status == vserver.StatusRunning
	})
	st2 := h.state(name)
	eventually(t, "the new init registered", func() bool {
		out, _ := exec.Command("machinectl", "show", name, "-p", "Leader").CombinedOutput()
		return strings.Contains(string(out), "Leader="+strconv.Itoa(st2.Undo.Pid))
	})

	// The second boot done: vinit answers, and machined has the machine
	// running (not the first boot's, ending).
	eventually(t, "the second boot up", func() bool {
		_, code := h.vhost("ctl", name, "status")
		out, _ := exec.Command("machinectl", "show", name, "-p", "State").CombinedOutput()
		return code == 0 && strings.Contains(string(out), "State=running")
	})

	// machinectl poweroff sends SIGRTMIN+4: an orderly poweroff, after
	// which nothing is left, not even the machine.
	machinectl("poweroff", name)
	logFile := filepath.Join(h.root, "var/log/vhost", name+".log")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("monitor log:\n%s", b)
		}
	})
	eventually(t, "poweroff", func() bool {
		_, err := os.Stat(filepath.Join(h.root, "run/vhost", name))
		return os.IsNotExist(err)
	})
	assertGone(t, h.root, name, st2.Undo)
	if out, _ := exec.Command("machinectl", "list", "--no-legend").CombinedOutput(); strings.Contains(string(out), name) {
		t.Fatalf("machine still listed after poweroff:\n%s", out)
	}
	log, _ := os.ReadFile(filepath.Join(h.root, "var/log/vhost", name+".log"))
	if !strings.Contains(string(log), "outcome=poweroff") {
		t.Errorf("the monitor did not see a poweroff:\n%s", log)
	}

	// machinectl terminate kills the scope: the monitor cleans up.
	h.ok("start", name)
	st3 := h.state(name)
	machinectl("terminate", name)
	eventually(t, "terminated", func() bool { return !vctx.Alive(st3.Undo) })
	eventually(t, "cleaned up", func() bool {
		_, err := os.Stat(filepath.Join(h.root, "run/vhost", name))
		return os.IsNotExist(err)
	})
	assertGone(t, h.root, name, st3.Undo)
}
