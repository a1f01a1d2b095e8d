package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/internal/cgroup"
	"github.com/vservers/vserver/internal/vserver"
)

// These tests drive the built vhost and vinit binaries as a user would, as
// root, against the real kernel.

var binDir string

func TestMain(m *testing.M) {
	// In a VM without Go (../shared/tools/vmtest), the binaries come prebuilt.
	if d := os.Getenv("VHOST_TEST_BINDIR"); d != "" {
		binDir = d
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "vhost-bin")
	if err != nil {
		panic(err)
	}
	build := exec.Command("go", "build", "-o", dir, "../vhost", "../vinit")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build vhost and vinit:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// host is one test's vhost root.
type host struct {
	t    *testing.T
	root string
}

func newHost(t *testing.T) *host {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it boots real vservers (CI runs as root)")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Fatal("/bin/busybox missing: apt-get install busybox-static")
	}
	h := &host{t: t, root: t.TempDir()}
	os.MkdirAll(filepath.Join(h.root, "etc/vhost/vservers"), 0o755)
	h.ok("image", "build", "demo", "--from", "busybox", "--units", "../../examples/demo/units")
	return h
}

// vhost runs vhost with args and returns its combined output and exit code.
func (h *host) vhost(args ...string) (string, int) {
	h.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "vhost"), append([]string{"--root", h.root}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatalf("vhost %v: %v", args, err)
	}
	return string(out), code
}

func (h *host) ok(args ...string) string {
	h.t.Helper()
	out, code := h.vhost(args...)
	if code != 0 {
		h.t.Fatalf("vhost %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// config writes vserver name's config with guest address addr.
func (h *host) config(name, addr string) {
	h.t.Helper()
	cfg := fmt.Sprintf("image: demo\nhostname: %s\nnetwork:\n  addresses: [%s/24]\nlimits:\n  pids: 256\nstop_timeout: 10s\n", name, addr)
	if err := os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"), []byte(cfg), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) state(name string) *vserver.State {
	h.t.Helper()
	st, err := vserver.ReadState(vserver.Paths{Root: h.root}, name)
	if err != nil {
		h.t.Fatalf("state of %s: %v", name, err)
	}
	return st
}

// start starts name and registers a stop for the end of the test.
func (h *host) start(name, addr string) *vserver.State {
	h.t.Helper()
	h.config(name, addr)
	h.ok("start", name)
	st := h.state(name)
	h.t.Cleanup(func() {
		h.vhost("stop", name)
		assertGone(h.t, h.root, name, st.Undo)
	})
	return st
}

// testName is a vserver name unique to this test process: cgroups and
// interface names are global to the host, whatever the root.
func testName(base string) string { return fmt.Sprintf("%s%d", base, os.Getpid()%10000) }

// assertGone checks that nothing of vserver name is left on the host.
func assertGone(t *testing.T, root, name string, u vctx.Undo) {
	t.Helper()
	if vctx.Alive(u) {
		t.Errorf("%s: init %d still runs", name, u.Pid)
	}
	if g, err := cgroup.Open(u.Cgroup); err == nil && len(g.Dirs()) > 0 {
		t.Errorf("%s: cgroup left: %v", name, g.Dirs())
	}
	// After a guest's end the kernel deletes its veth pair with its network
	// namespace, in the background (context.CleanupExited): give it time.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := netlink.LinkByName(u.HostIf); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: veth %s left", name, u.HostIf)
			break
		}
	}
	if _, err := os.Stat(filepath.Join(root, "run/vhost", name)); err == nil {
		t.Errorf("%s: run directory left", name)
	}
	if n := countNsProcs(u); n > 0 {
		t.Errorf("%s: %d processes left", name, n)
	}
}

// countNsProcs counts the processes left in the guest's PID namespace.
func countNsProcs(u vctx.Undo) int {
	procs, err := vctx.Procs(u)
	if err != nil {
		return 0
	}
	return len(procs)
}

// routedToGuest checks, before anything is sent, that addr is routed to the
// vserver's own veth and nowhere else.
func routedToGuest(t *testing.T, addr, hostIf string) {
	t.Helper()
	routes, err := netlink.RouteGet(net.ParseIP(addr))
	if err != nil || len(routes) != 1 {
		t.Fatalf("route to %s: %v, %v", addr, routes, err)
	}
	l, err := netlink.LinkByIndex(routes[0].LinkIndex)
	if err != nil || l.Attrs().Name != hostIf {
		t.Fatalf("route to %s leaves through %v, not the guest's veth %s: not sending", addr, l, hostIf)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var last error
	for range 50 { // httpd may still be starting
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

// eventually waits for cond, up to a minute: long, because the same tests
// run in an emulated VM (scripts/vmtest.sh) where forks are 15-35x slower;
// a passing run returns as soon as cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1200 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within a minute", what)
}

func TestDemoBootsAndShowsOnlyItsContext(t *testing.T) {
	h := newHost(t)
	name, addr := testName("demo"), "10.77.0.11"
	st := h.start(name, addr)

	// The guest as the host sees it.
	// The guest as the host sees it, once vinit has started the services.
	var in vserver.Info
	eventually(t, "vinit and its three services in the status", func() bool {
		var infos []vserver.Info
		if err := json.Unmarshal([]byte(h.ok("status", "--json", name)), &infos); err != nil || len(infos) != 1 {
			t.Fatalf("status --json: %v %v", infos, err)
		}
		in = infos[0]
		return in.Usage.Pids >= 4
	})
	if in.Status != vserver.StatusRunning || in.Pid != st.Undo.Pid || in.Usage.MemoryBytes <= 0 {
		t.Fatalf("status = %+v, want running with init %d", in, st.Undo.Pid)
	}
	var procs []vctx.Proc
	if err := json.Unmarshal([]byte(h.ok("ps", "--json", name)), &procs); err != nil {
		t.Fatal(err)
	}
	if len(procs) == 0 || procs[0].GuestPid != 1 || procs[0].Cmdline != "/sbin/vinit" {
		t.Fatalf("ps: first process %+v, want vinit as guest PID 1", procs)
	}

	// The page, from the host, at the guest's address only.
	routedToGuest(t, addr, st.Undo.HostIf)
	if page := get(t, "http://"+addr+"/"); page != "hello from vserver "+name+"\n" {
		t.Fatalf("page = %q", page)
	}

	// Inside: only its own processes, its hostname, exactly its address.
	out := h.ok("exec", name, "--", "sh", "-c", `
echo "hostname=$(hostname)"
echo "init=$(cat /proc/1/cmdline)"
for p in /proc/[0-9]*; do [ -r $p/stat ] && echo "proc ${p#/proc/}"; done
ip -o addr show | while read n ifc fam a rest; do echo "addr $ifc $a"; done
echo "eth0 qlen=$(cat /sys/class/net/eth0/tx_queue_len) queues=$(ls /sys/class/net/eth0/queues | tr '\n' ' ')"`)
	if !strings.Contains(out, "hostname="+name+"\n") || !strings.Contains(out, "init=/sbin/vinit\n") {
		t.Errorf("guest identity:\n%s", out)
	}
	// The kernel's queue length for a veth, and one queue each way.
	if !strings.Contains(out, "eth0 qlen=1000 queues=rx-0 tx-0 \n") {
		t.Errorf("guest eth0's queues:\n%s", out)
	}
	var addrs []string
	guestProcs := 0
	for _, l := range strings.Split(out, "\n") {
		if a, ok := strings.CutPrefix(l, "addr "); ok {
			addrs = append(addrs, a)
		}
		if strings.HasPrefix(l, "proc ") {
			guestProcs++
		}
	}
	want := []string{"lo 127.0.0.1/8", "lo ::1/128", "eth0 " + addr + "/24"}
	if fmt.Sprint(addrs) != fmt.Sprint(want) {
		t.Errorf("guest addresses %v, want %v", addrs, want)
	}
	if guestProcs > 20 {
		t.Errorf("guest sees %d processes: more than its own", guestProcs)
	}

	// Guest root can't read its init's memory or environment (vinit is
	// non-dumpable and the guest lacks CAP_SYS_PTRACE), while an ordinary
	// guest process's are readable.
	out = h.ok("exec", name, "--", "sh", "-c", `cat /proc/1/environ >/dev/null 2>&1 && echo init=readable || echo init=denied
cat /proc/$$/environ >/dev/null 2>&1 && echo self=readable || echo self=denied`)
	if !strings.Contains(out, "init=denied") || !strings.Contains(out, "self=readable") {
		t.Errorf("reading /proc/PID/environ from the guest:\n%s", out)
	}

	// The default seccomp filter holds for init and for what exec starts;
	// busybox's unshare needs a new user namespace the filter denies.
	out = h.ok("exec", name, "--", "sh", "-c", `grep '^Seccomp:' /proc/1/status /proc/self/status | sed 's/.*://'
unshare -U true 2>/dev/null && echo userns=allowed || echo userns=denied`)
	if out != "\t2\n\t2\nuserns=denied\n" {
		t.Errorf("seccomp in the guest:\n%q", out)
	}

	// The orphan maker leaves no zombie that lasts: a zombie seen twice,
	// a second apart, is one vinit failed to reap.
	zombies := func() map[int]bool {
		z := map[int]bool{}
		ps, _ := vctx.Procs(st.Undo)
		for _, p := range ps {
			if p.State == "Z" {
				z[p.Pid] = true
			}
		}
		return z
	}
	before := zombies()
	time.Sleep(1100 * time.Millisecond)
	for pid := range zombies() {
		if before[pid] {
			t.Errorf("zombie %d outlived a second", pid)
		}
	}

	// The guest's supervisor, from the host.
	if out := h.ok("ctl", name, "status"); !strings.Contains(out, "web ") || !strings.Contains(out, "running") {
		t.Errorf("vhost ctl status:\n%s", out)
	}
	if out, code := h.vhost("ctl", name, "restart", "nosuch"); code == 0 || !strings.Contains(out, "nosuch") {
		t.Errorf("vhost ctl restart of an unknown unit: exit %d: %s", code, out)
	}

	// The crashing service is restarted.
	logFile := filepath.Join(h.root, "var/log/vhost", name+".log")
	eventually(t, "flaky restarted", func() bool {
		b, _ := os.ReadFile(logFile)
		return bytes.Count(b, []byte("flaky | flaky: up")) >= 2
	})

	// Stop within the timeout, then nothing is left (the Cleanup checks).
	begin := time.Now()
	h.ok("stop", name)
	if d := time.Since(begin); d > 10*time.Second+5*time.Second {
		t.Errorf("stop took %v, past its 10s timeout", d)
	}
	b, _ := os.ReadFile(logFile)
	if !strings.Contains(string(b), `outcome=poweroff`) {
		t.Errorf("the monitor did not see a poweroff:\n%s", b)
	}
}

func TestKilledMonitorThenStopLeavesNothing(t *testing.T) {
	h := newHost(t)
	name, addr := testName("kill"), "10.77.0.12"
	st := h.start(name, addr)
	if err := syscall.Kill(st.Monitor, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "status says the monitor is gone", func() bool {
		out, _ := h.vhost("status", name)
		return strings.Contains(out, "running without its monitor")
	})
	// A second monitor must not take over a guest that still runs.
	if out, code := h.vhost("start", name); code == 0 || !strings.Contains(out, "already running") {
		t.Fatalf("start over an orphaned guest: exit %d: %s", code, out)
	}
	h.ok("stop", name)
	assertGone(t, h.root, name, st.Undo)
	if out, code := h.vhost("stop", name); code == 0 || !strings.Contains(out, "not running") {
		t.Fatalf("second stop: exit %d: %s", code, out)
	}
}

func TestGuestRebootRestartsTheContext(t *testing.T) {
	h := newHost(t)
	name, addr := testName("boot"), "10.77.0.13"
	st := h.start(name, addr)
	// SIGINT to init is a reboot request (the systemd convention). The
	// kill may itself be TERMed by the shutdown it starts: its status is
	// not the point.
	h.vhost("exec", name, "--", "kill", "-INT", "1")
	var st2 *vserver.State
	eventually(t, "second boot", func() bool {
		s, err := vserver.ReadState(vserver.Paths{Root: h.root}, name)
		if err == nil && s.Boots == 2 && s.Status == vserver.StatusRunning {
			st2 = s
			return true
		}
		return false
	})
	if st2.Undo.Pid == st.Undo.Pid || vctx.Alive(st.Undo) {
		t.Fatalf("after reboot init is %d, before %d: want a new init and the old one gone", st2.Undo.Pid, st.Undo.Pid)
	}
	if st2.LastExit != "killed by SIGHUP" {
		t.Errorf("last exit %q, want the kernel's report of reboot(2): killed by SIGHUP", st2.LastExit)
	}
	routedToGuest(t, addr, st2.Undo.HostIf)
	if page := get(t, "http://"+addr+"/"); !strings.Contains(page, name) {
		t.Fatalf("page after reboot = %q", page)
	}
	h.ok("stop", name)
	assertGone(t, h.root, name, st2.Undo)
}

func TestRunInTheForegroundStopsOnInterrupt(t *testing.T) {
	h := newHost(t)
	name := testName("run")
	h.config(name, "10.77.0.14")
	cmd := exec.Command(filepath.Join(binDir, "vhost"), "--root", h.root, "run", name)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var st *vserver.State
	eventually(t, "running", func() bool {
		s, err := vserver.ReadState(vserver.Paths{Root: h.root}, name)
		st = s
		return err == nil && s.Status == vserver.StatusRunning
	})
	eventually(t, "the services' output on the console", func() bool {
		return strings.Contains(out.String(), "flaky | flaky: up")
	})
	// What a terminal's Ctrl-C sends to the foreground process group.
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vhost run after Ctrl-C: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "outcome=poweroff") {
		t.Errorf("the guest did not power off in order:\n%s", out.String())
	}
	assertGone(t, h.root, name, st.Undo)
}

// hostIfTwins returns two vserver names long enough to have their host
// interface names hashed, and whose hashes collide.
func hostIfTwins() (string, string) {
	seen := map[string]string{}
	for i := 0; ; i++ {
		name := fmt.Sprintf("twins-%07d", i)
		hostIf := vctx.HostIfName(name)
		if other, ok := seen[hostIf]; ok {
			return other, name
		}
		seen[hostIf] = name
	}
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	h := newHost(t)
	cfgDir := filepath.Join(h.root, "etc/vhost/vservers")
	write := func(name, body string) {
		os.WriteFile(filepath.Join(cfgDir, name+".yaml"), []byte(body), 0o644)
	}
	write("noimage", "image: nosuch\nnetwork:\n  addresses: [10.77.0.15/24]\n")
	write("typo", "image: demo\nnetwork:\n  adresses: [10.77.0.15/24]\n")
	write("broken", "image: demo\nnetwork: [oops\n")
	write("badaddr", "image: demo\nnetwork:\n  addresses: [10.77.0.300/24]\n")
	write("first", "image: demo\ncontext: 7\nnetwork:\n  addresses: [10.77.0.19/24]\n")
	write("second", "image: demo\ncontext: 7\nnetwork:\n  addresses: [10.77.0.20/24, 10.77.0.19/24]\n")
	twin1, twin2 := hostIfTwins()
	write(twin1, "image: demo\nnetwork:\n  addresses: [10.77.0.17/24]\n")
	write(twin2, "image: demo\nnetwork:\n  addresses: [10.77.0.18/24]\n")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"start", "noimage"}, "noimage.yaml:1:8: image: "},
		{[]string{"start", "typo"}, "typo.yaml:3:3: network.adresses: unknown key"},
		{[]string{"start", "broken"}, "broken.yaml:"},
		{[]string{"start", "badaddr"}, "badaddr.yaml:3:15: network.addresses[0]: "},
		{[]string{"start", "second"}, "second.yaml:2:10: context: context id 7 is vserver first's too (" + cfgDir + "/first.yaml:2:10)"},
		{[]string{"start", "first"}, "first.yaml:4:15: network.addresses[0]: 10.77.0.19 is vserver second's address too (" + cfgDir + "/second.yaml:4:30)"},
		{[]string{"start", twin1}, twin1 + ".yaml: vservers " + twin1 + " and " + twin2 + " would both have the host interface " + vctx.HostIfName(twin1)},
		{[]string{"start", "../etc"}, `invalid vserver name "../etc"`},
		{[]string{"start", "a/b"}, `invalid vserver name "a/b"`},
		{[]string{"start", "nosuch"}, "no config file"},
		{[]string{"image", "build", "a/../b", "--from", "busybox"}, "invalid image name"},
		{[]string{"exec", "nosuch", "--", "true"}, "not running"},
		{[]string{"stop", "nosuch"}, "not running"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, code := h.vhost(tt.args...)
			if code == 0 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, output %q; want a failure saying %q", code, out, tt.want)
			}
		})
	}
	// Nothing was made: no run directory, no cgroup, no veth of any of them.
	if ents, _ := os.ReadDir(filepath.Join(h.root, "run/vhost")); len(ents) != 0 {
		t.Errorf("run directories left: %v", ents)
	}
	for _, n := range []string{"noimage", "typo", "broken", "badaddr", "first", "second", twin1} {
		assertGone(t, h.root, n, vctx.Undo{Cgroup: "vhost/" + n, HostIf: vctx.HostIfName(n)})
	}

	// Starting a running vserver is refused, and leaves it running.
	name := testName("twice")
	st := h.start(name, "10.77.0.16")
	if out, code := h.vhost("start", name); code == 0 || !strings.Contains(out, "already running") {
		t.Fatalf("second start: exit %d: %s", code, out)
	}
	if !vctx.Alive(st.Undo) || h.state(name).Undo.Pid != st.Undo.Pid {
		t.Fatal("the second start disturbed the running guest")
	}
	// Nor can its image be removed from under it.
	if out, code := h.vhost("image", "rm", "demo"); code == 0 || !strings.Contains(out, "in use") {
		t.Fatalf("image rm of a running vserver's image: exit %d: %s", code, out)
	}
}

// syncBuffer is a bytes.Buffer that a command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTwoVserversOnOneImageKeepTheirWritesApart(t *testing.T) {
	h := newHost(t)
	a, b := testName("cowa"), testName("cowb")
	h.start(a, "10.77.0.17")
	h.start(b, "10.77.0.18")
	h.ok("exec", a, "--", "sh", "-c", "echo mine > /root/note; rm /bin/cat")
	if out, code := h.vhost("exec", b, "--", "sh", "-c", "test -e /root/note || echo absent; ls /bin/cat"); code != 0 || !strings.Contains(out, "absent") {
		t.Fatalf("b sees a's writes: exit %d: %s", code, out)
	}
	img := filepath.Join(h.root, "var/lib/vhost/images/demo/rootfs")
	if _, err := os.Stat(filepath.Join(img, "root/note")); err == nil {
		t.Fatal("a's write reached the image")
	}
	if _, err := os.Lstat(filepath.Join(img, "bin/cat")); err != nil {
		t.Fatalf("a's delete reached the image: %v", err)
	}
	// What a guest wrote is still there after it boots again.
	st := h.state(a)
	h.ok("stop", a)
	assertGone(t, h.root, a, st.Undo)
	h.ok("start", a)
	if out := h.ok("exec", a, "--", "sh", "-c", "cat /root/note 2>&1 || busybox cat /root/note"); !strings.Contains(out, "mine") {
		t.Fatalf("after a reboot a lost its file: %s", out)
	}
}

func TestLimitsHoldAForkBombAndAMemoryHog(t *testing.T) {
	h := newHost(t)
	name, other := testName("lim"), testName("nbr")
	h.start(other, "10.77.0.22")
	cfg := "image: demo\nnetwork:\n  addresses: [10.77.0.21/24]\nlimits:\n  pids: 48\n  memory: 48M\nstop_timeout: 5s\n"
	os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"), []byte(cfg), 0o644)
	h.ok("start", name)
	st := h.state(name)
	t.Cleanup(func() { h.vhost("stop", name); assertGone(t, h.root, name, st.Undo) })
	g, err := cgroup.Open(st.Undo.Cgroup)
	if err != nil {
		t.Fatal(err)
	}

	// A fork bomb, bounded so that a broken limit can't hurt the host:
	// 200 sleepers asked for, at most 48 tasks allowed.
	h.vhost("exec", name, "--", "sh", "-c", "for i in $(seq 200); do sleep 20 >/dev/null 2>&1 & done 2>/dev/null; sleep 1")
	u, err := g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.Pids > 48 {
		t.Fatalf("%d tasks in a context limited to 48", u.Pids)
	}
	if n := kernelCounter(t, g, "pids.events", "max"); n == 0 {
		t.Fatal("the kernel refused no fork at the pids limit")
	}
	// The context is full: no fork is left to clean up from inside. The
	// sleepers are ours; end them by PID from the host.
	procs, _ := vctx.Procs(st.Undo)
	for _, p := range procs {
		if p.Comm == "sleep" {
			syscall.Kill(p.Pid, syscall.SIGKILL)
		}
	}
	eventually(t, "the sleepers gone", func() bool { u, _ := g.Usage(); return u.Pids < 20 })

	// A memory hog: the shell holds 100 MB in a 48M context.
	out, code := h.vhost("exec", name, "--", "sh", "-c", `x=$(head -c 100000000 /dev/zero | tr '\0' a); echo survived`)
	if code == 0 || strings.Contains(out, "survived") {
		t.Fatalf("the hog was not stopped: exit %d: %s", code, out)
	}
	if n := kernelCounter(t, g, "memory.events", "oom_kill") + kernelCounter(t, g, "memory.oom_control", "oom_kill"); n == 0 {
		t.Fatal("the kernel counts no OOM kill in the context")
	}
	if !vctx.Alive(st.Undo) {
		t.Fatal("the context's init died with the hog")
	}
	// The neighbour never noticed.
	ost := h.state(other)
	routedToGuest(t, "10.77.0.22", ost.Undo.HostIf)
	if page := get(t, "http://10.77.0.22/"); !strings.Contains(page, other) {
		t.Fatalf("neighbour's page = %q", page)
	}
	// And the figures the host shows are the kernel's: the cgroup's task
	// count is the threads of the namespace's processes.
	eventually(t, "status tasks = threads in the PID namespace", func() bool {
		var infos []vserver.Info
		json.Unmarshal([]byte(h.ok("status", "--json", name)), &infos)
		procs, _ := vctx.Procs(st.Undo)
		threads := 0
		for _, p := range procs {
			threads += p.Threads
		}
		return len(infos) == 1 && infos[0].Procs == len(procs) && infos[0].Usage.Pids == int64(threads)
	})
}

// kernelCounter reads key from a cgroup file that counts events, in
// whichever hierarchy of g has it.
func kernelCounter(t *testing.T, g *cgroup.Group, file, key string) int64 {
	t.Helper()
	var n int64
	for _, d := range g.Dirs() {
		b, err := os.ReadFile(filepath.Join(d, file))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, " "); ok && k == key {
				var x int64
				fmt.Sscan(v, &x)
				n += x
			}
		}
	}
	return n
}

func TestMonitorKilledAtAnyPointOfStartLeavesNothing(t *testing.T) {
	h := newHost(t)
	name := testName("mid")
	h.config(name, "10.77.0.23")
	h.killDuringStart(t, name, func(delay time.Duration) {
		if g, err := cgroup.Open("vhost/" + name); err == nil && len(g.Dirs()) > 0 {
			t.Fatalf("killed after %v: cgroup left: %v", delay, g.Dirs())
		}
		if _, err := netlink.LinkByName(vctx.HostIfName(name)); err == nil {
			t.Fatalf("killed after %v: veth left", delay)
		}
	})
	// And the vserver still starts cleanly afterwards.
	st := h.start(name, "10.77.0.23")
	routedToGuest(t, "10.77.0.23", st.Undo.HostIf)
	get(t, "http://10.77.0.23/")
}

// killDuringStart runs `vhost run name` (the monitor itself) and kills it
// after a growing delay, so that it dies before, during and after each step
// of the start; each time, `vhost cleanup` must leave nothing (assertGone,
// and check with the delay).
func (h *host) killDuringStart(t *testing.T, name string, check func(delay time.Duration)) {
	t.Helper()
	for _, delay := range []time.Duration{0, 1, 2, 4, 7, 12, 20, 35, 60, 100, 200} {
		delay *= time.Millisecond
		cmd := exec.Command(filepath.Join(binDir, "vhost"), "--root", h.root, "run", name)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		// Whatever it left, the record names it: cleanup removes it.
		var undo vctx.Undo
		if st, err := vserver.ReadState(vserver.Paths{Root: h.root}, name); err == nil {
			undo = st.Undo
		}
		if out, code := h.vhost("cleanup", name); code != 0 {
			t.Fatalf("killed after %v: cleanup: exit %d: %s", delay, code, out)
		}
		if undo.Cgroup == "" {
			undo = vctx.Undo{Cgroup: "vhost/" + name, HostIf: vctx.HostIfName(name)}
		}
		eventually(t, fmt.Sprintf("killed after %v: the setup stage gone", delay), func() bool {
			return !setupStageRunning(name)
		})
		assertGone(t, h.root, name, undo)
		check(delay)
	}
}

// setupStageRunning reports whether a setup stage (vhost re-executed with
// the hidden argument) is still alive on the host: one whose monitor died
// before handing over its config must exit by itself.
func setupStageRunning(name string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.HasPrefix(string(b), "vhost-setup\x00") {
			st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if !strings.Contains(string(st), ") Z ") {
				return true
			}
		}
	}
	return false
}

func TestCloneCopiesTheVserversOwnFiles(t *testing.T) {
	h := newHost(t)
	a, b := testName("cla"), testName("clb")
	st := h.start(a, "10.77.0.24")
	h.ok("exec", a, "--", "sh", "-c", "echo from-a > /root/note")
	if out, code := h.vhost("clone", a, b, "--address", "10.77.0.25/24"); code == 0 || !strings.Contains(out, "is running") {
		t.Fatalf("clone of a running vserver: exit %d: %s", code, out)
	}
	h.ok("stop", a)
	assertGone(t, h.root, a, st.Undo)
	if out, code := h.vhost("clone", a, b); code == 0 || !strings.Contains(out, "needs its own addresses") {
		t.Fatalf("clone without an address: exit %d: %s", code, out)
	}
	if out, code := h.vhost("clone", a, b, "--address", "10.77.0.24/24"); code == 0 || !strings.Contains(out, "address too") {
		t.Fatalf("clone onto a's own address: exit %d: %s", code, out)
	}
	h.ok("clone", a, b, "--address", "10.77.0.25/24")
	if out, code := h.vhost("clone", a, b, "--address", "10.77.0.26/24"); code == 0 || !strings.Contains(out, "exists already") {
		t.Fatalf("clone onto an existing vserver: exit %d: %s", code, out)
	}
	h.ok("start", b)
	stb := h.state(b)
	t.Cleanup(func() { h.vhost("stop", b); assertGone(t, h.root, b, stb.Undo) })
	out := h.ok("exec", b, "--", "sh", "-c", "hostname; cat /root/note")
	if out != b+"\nfrom-a\n" {
		t.Fatalf("in the clone: %q, want its own hostname and a's file", out)
	}
	routedToGuest(t, "10.77.0.25", stb.Undo.HostIf)
	if page := get(t, "http://10.77.0.25/"); !strings.Contains(page, b) {
		t.Fatalf("clone's page = %q", page)
	}
	// The clone's writes are its own.
	h.ok("exec", b, "--", "sh", "-c", "echo from-b > /root/note")
	if data, _ := os.ReadFile(filepath.Join(h.root, "var/lib/vhost/vservers", a, "upper/root/note")); string(data) != "from-a\n" {
		t.Fatalf("a's file is now %q", data)
	}
}

func TestEnterGivesAShellOnAGuestTerminal(t *testing.T) {
	h := newHost(t)
	name := testName("ent")
	h.start(name, "10.77.0.27")
	// script(1) gives vhost a terminal of the host's, as a user's would be.
	run := func(vhostArgs, input string) (string, int) {
		t.Helper()
		cmd := exec.Command("script", "-qec", filepath.Join(binDir, "vhost")+" --root "+h.root+" "+vhostArgs, "/dev/null")
		cmd.Stdin = strings.NewReader(input)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("script: %v", err)
		}
		return string(out), code
	}
	out, code := run("enter "+name, "tty; hostname; ls /proc/1/root >/dev/null 2>&1 && echo reach-init-root; exit 7\n")
	if code != 7 {
		t.Errorf("exit status %d, want the shell's 7:\n%s", code, out)
	}
	// The terminal is the guest's own (its devpts numbers from 0), not one
	// of the host's.
	if !strings.Contains(out, "/dev/pts/0\r\n"+name+"\r\n") {
		t.Errorf("enter: want the guest's /dev/pts/0 and hostname:\n%q", out)
	}
	out, _ = run("exec "+name+" -t -- sh -c 'test -t 0 && echo on-a-tty'", "")
	if !strings.Contains(out, "on-a-tty") {
		t.Errorf("exec -t: %q", out)
	}
}

func TestDualStackGuest(t *testing.T) {
	h := newHost(t)
	name := testName("six")
	cfg := "image: demo\nnetwork:\n  addresses: [10.77.0.28/24, fd77::28/64]\nstop_timeout: 5s\n"
	os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"), []byte(cfg), 0o644)
	h.ok("start", name)
	st := h.state(name)
	t.Cleanup(func() { h.vhost("stop", name); assertGone(t, h.root, name, st.Undo) })
	out := h.ok("exec", name, "--", "sh", "-c", "ip -o addr show dev eth0 | awk '{print $4}'; ip -6 route show default")
	if !strings.HasPrefix(out, "10.77.0.28/24\nfd77::28/64\n") || !strings.Contains(out, "default via fd77::1 dev eth0") {
		t.Fatalf("guest eth0 and v6 route:\n%s", out)
	}
	routedToGuest(t, "fd77::28", st.Undo.HostIf)
	if page := get(t, "http://[fd77::28]/"); !strings.Contains(page, name) {
		t.Fatalf("page over IPv6 = %q", page)
	}
}

func TestBindMountsStopSignalAndIOWeight(t *testing.T) {
	h := newHost(t)
	name := testName("mnt")
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "hello"), []byte("from the host\n"), 0o644)
	cfg := fmt.Sprintf(`image: demo
network:
  mode: none
mounts:
  - {source: %s, target: /srv/data/ro, read_only: true}
  - {source: %s, target: /var/lib/rw}
stop_signal: RTMIN+4
stop_timeout: 5s
`, data, data)
	os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"), []byte(cfg), 0o644)
	h.ok("start", name)
	st := h.state(name)
	out := h.ok("exec", name, "--", "sh", "-c", `cat /srv/data/ro/hello; (echo x > /srv/data/ro/new) 2>/dev/null && echo ro-writable || echo ro-denied; echo y > /var/lib/rw/new && echo rw-ok`)
	if out != "from the host\nro-denied\nrw-ok\n" {
		t.Errorf("bind mounts from the guest: %q", out)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "new")); string(b) != "y\n" {
		t.Errorf("the read-write mount's write did not reach the host: %q", b)
	}
	// The mount points were made in the vserver's own layer, not the image.
	if _, err := os.Stat(filepath.Join(h.root, "var/lib/vhost/vservers", name, "upper/srv/data/ro")); err != nil {
		t.Errorf("mount point not in the vserver's layer: %v", err)
	}
	// stop_signal RTMIN+4 is systemd's poweroff: vinit powers off on it.
	h.ok("stop", name)
	assertGone(t, h.root, name, st.Undo)
	log, _ := os.ReadFile(filepath.Join(h.root, "var/log/vhost", name+".log"))
	if !strings.Contains(string(log), "outcome=poweroff") || strings.Contains(string(log), "killing it") {
		t.Errorf("stop with RTMIN+4 was not an orderly poweroff:\n%s", log)
	}

	// io_weight: applied where the kernel can weigh I/O, refused where not.
	name2 := testName("iow")
	os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name2+".yaml"), []byte("image: demo\nnetwork:\n  mode: none\nlimits:\n  io_weight: 500\n"), 0o644)
	out, code := h.vhost("start", name2)
	if code == 0 {
		st2 := h.state(name2)
		t.Cleanup(func() { h.vhost("stop", name2); assertGone(t, h.root, name2, st2.Undo) })
		g, _ := cgroup.Open(st2.Undo.Cgroup)
		found := false
		for _, d := range g.Dirs() {
			for _, f := range []string{"io.weight", "io.bfq.weight", "blkio.weight", "blkio.bfq.weight"} {
				if b, err := os.ReadFile(filepath.Join(d, f)); err == nil && (strings.Contains(string(b), "500") || strings.Contains(string(b), "50")) {
					found = true
				}
			}
		}
		if !found {
			t.Error("io_weight accepted but no weight file holds it")
		}
	} else {
		if !strings.Contains(out, "io weight can't be enforced here") {
			t.Fatalf("io_weight refused without the reason: %s", out)
		}
		assertGone(t, h.root, name2, vctx.Undo{Cgroup: "vhost/" + name2})
	}
}

func TestSeccompNoneLiftsTheFilter(t *testing.T) {
	h := newHost(t)
	name := testName("nosec")
	os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"), []byte("image: demo\nnetwork:\n  mode: none\nseccomp: none\n"), 0o644)
	h.ok("start", name)
	st := h.state(name)
	t.Cleanup(func() { h.vhost("stop", name); assertGone(t, h.root, name, st.Undo) })
	// The same probe as in the demo test, which the filter answers "denied".
	out := h.ok("exec", name, "--", "sh", "-c", `grep '^Seccomp:' /proc/1/status | sed 's/.*://'
unshare -U true 2>/dev/null && echo userns=allowed || echo userns=denied`)
	if out != "\t0\nuserns=allowed\n" {
		t.Errorf("with seccomp: none: %q", out)
	}
}

func TestRunACommandInAFreshContext(t *testing.T) {
	h := newHost(t)
	name := testName("cmd")
	h.config(name, "10.77.0.29")
	cmd := exec.Command(filepath.Join(binDir, "vhost"), "--root", h.root, "run", name, "--", "sh", "-c",
		`echo "$(hostname) $(cat /proc/1/cmdline | tr '\0' ' ')"; ip -o -4 addr show dev eth0 | awk '{print $4}'; exit 5`)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Fatalf("vhost run -- CMD: %v, want CMD's exit status 5\n%s", err, out)
	}
	if want := name + " /sbin/vinit -- sh -c "; !strings.HasPrefix(string(out), want) || !strings.Contains(string(out), "\n10.77.0.29/24\n") {
		t.Fatalf("output %q: want the vserver's hostname, vinit as PID 1 and its address, and nothing of vhost's", out)
	}
	assertGone(t, h.root, name, vctx.Undo{Cgroup: "vhost/" + name, HostIf: vctx.HostIfName(name)})
}

func TestDiskLimitHoldsOrIsRefused(t *testing.T) {
	h := newHost(t)
	name, other := testName("dsk"), testName("dsko")
	cfgDir := filepath.Join(h.root, "etc/vhost/vservers")
	os.WriteFile(filepath.Join(cfgDir, name+".yaml"), []byte("image: demo\ncontext: 31\nnetwork:\n  mode: none\nlimits:\n  disk: 8M\n"), 0o644)
	exec.Command("modprobe", "xfs").Run() // /proc/fs/xfs appears with the module
	if _, err := os.Stat("/proc/fs/xfs/xqmstat"); err != nil {
		// No xfs quotas in this kernel (this build machine): the limit is
		// refused with the reason, and nothing is made.
		t.Log("no xfs quotas in this kernel: checking the refusal")
		out, code := h.vhost("start", name)
		if code == 0 || !strings.Contains(out, "limits.disk: can't be enforced") {
			t.Fatalf("start with a disk limit here: exit %d: %s", code, out)
		}
		if _, err := os.Stat(filepath.Join(h.root, "var/lib/vhost/vservers", name)); err == nil {
			t.Error("a refused start made the vserver's layer")
		}
		assertGone(t, h.root, name, vctx.Undo{Cgroup: "vhost/" + name})
		return
	}
	t.Log("xfs quotas: checking the limit")
	// The vservers' layers on an xfs with project quotas.
	dir := t.TempDir()
	img := filepath.Join(dir, "xfs.img")
	f, _ := os.Create(img)
	f.Truncate(300 << 20)
	f.Close()
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("mkfs.xfs", "-q", img)
	loop := run("losetup", "--find", "--show", img)
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	layers := filepath.Join(h.root, "var/lib/vhost/vservers")
	os.MkdirAll(layers, 0o700)
	run("mount", "-o", "prjquota", loop, layers)
	t.Cleanup(func() { syscall.Unmount(layers, 0) })

	h.ok("start", name)
	st := h.state(name)
	t.Cleanup(func() { h.vhost("stop", name); assertGone(t, h.root, name, st.Undo) })
	h.start(other, "10.77.0.31")
	// Guest root (without CAP_SYS_RESOURCE) writes 20 MB under an 8M limit.
	out, _ := h.vhost("exec", name, "--", "sh", "-c", "dd if=/dev/zero of=/root/big bs=64k count=320 2>&1; ls -l /root/big")
	if !strings.Contains(out, "Disk quota exceeded") && !strings.Contains(out, "No space left") {
		t.Fatalf("20 MB under an 8M disk limit:\n%s", out)
	}
	h.ok("exec", other, "--", "sh", "-c", "dd if=/dev/zero of=/root/big bs=64k count=160 2>/dev/null")
	var infos []vserver.Info
	json.Unmarshal([]byte(h.ok("status", "--json")), &infos)
	for _, in := range infos {
		switch in.Name {
		case name:
			if in.DiskLimit != 8<<20 || in.Disk <= 7<<20 || in.Disk > 8<<20 {
				t.Errorf("%s: disk %d of %d, want close to the 8M limit", in.Name, in.Disk, in.DiskLimit)
			}
		case other:
			if in.Disk < 10<<20 || in.DiskLimit != 0 {
				t.Errorf("%s: disk %d (limit %d), want its own 10 MB and no limit", in.Name, in.Disk, in.DiskLimit)
			}
		}
	}
}

// Shared mode, Linux-VServer's own: the host's network stack, each context
// held to its addresses. Loopback addresses keep every packet on this host.
func TestSharedModeBindsOnlyTheContextsAddresses(t *testing.T) {
	h := newHost(t)
	a, b := testName("sha"), testName("shb")
	for name, addr := range map[string]string{a: "127.77.0.2/32", b: "127.77.0.3/32"} {
		os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"),
			[]byte("image: demo\nnetwork:\n  mode: shared\n  addresses: ["+addr+"]\nstop_timeout: 5s\n"), 0o644)
		h.ok("start", name)
		st := h.state(name)
		t.Cleanup(func() { h.vhost("stop", name); assertGone(t, h.root, name, st.Undo) })
	}
	// Both web servers bound 0.0.0.0:80; each got its own address instead.
	for name, addr := range map[string]string{a: "127.77.0.2", b: "127.77.0.3"} {
		if r, err := netlink.RouteGet(net.ParseIP(addr)); err != nil || len(r) != 1 || r[0].LinkIndex != 1 {
			t.Fatalf("%s is not on this host's loopback: %v %v", addr, r, err)
		}
		if page := get(t, "http://"+addr+"/"); page != "hello from vserver "+name+"\n" {
			t.Errorf("http://%s/ = %q, want %s's page", addr, page, name)
		}
	}
	out, _ := h.vhost("exec", a, "--", "sh", "-c", `httpd -f -p 127.77.0.3:8081 2>&1; httpd -f -p 127.0.0.9:8081 2>&1; grep -c . /proc/net/dev`)
	if strings.Count(out, "Operation not permitted") != 2 {
		t.Errorf("binding another context's or any other address from %s:\n%s", a, out)
	}
	// No network namespace of its own: it sees the host's links.
	hostLinks, _ := netlink.LinkList()
	if !strings.HasSuffix(strings.TrimSpace(out), fmt.Sprint(len(hostLinks)+2)) {
		t.Errorf("the guest's /proc/net/dev is not the host's (%d links):\n%s", len(hostLinks), out)
	}
	// And without CAP_NET_RAW it can't step around the filter.
	out, _ = h.vhost("exec", a, "--", "sh", "-c", "grep CapBnd /proc/self/status")
	var bnd uint64
	fmt.Sscanf(strings.TrimPrefix(strings.TrimSpace(out), "CapBnd:"), "%x", &bnd)
	if bnd&(1<<13) != 0 { // CAP_NET_RAW
		t.Errorf("shared mode guest keeps CAP_NET_RAW: %s", out)
	}
}

func TestLongWorkShowsProgressOnATerminalOnly(t *testing.T) {
	h := newHost(t)
	// A tarball of the demo image, big enough to take a moment.
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	rootfs := filepath.Join(h.root, "var/lib/vhost/images/demo/rootfs")
	if out, err := exec.Command("tar", "-C", rootfs, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	// In a script: the result line and nothing else.
	if out := h.ok("image", "import", "quiet", tarball); out != "imported image quiet in "+filepath.Join(h.root, "var/lib/vhost/images/quiet")+"\n" {
		t.Errorf("import in a script printed %q", out)
	}
	// On a terminal (script(1) gives it one): a progress line, cleared.
	cmd := exec.Command("script", "-qec", filepath.Join(binDir, "vhost")+" --root "+h.root+" image import loud "+tarball, "/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("import on a terminal: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "\x1b[K") || !strings.Contains(string(out), "imported image loud") {
		t.Errorf("import on a terminal showed no progress line: %q", out)
	}
}

func TestKilledInitLeavesNothingEvenWithServiceCgroups(t *testing.T) {
	h := newHost(t)
	name := testName("kin")
	st := h.start(name, "10.77.0.32")
	// vinit has put each service in a cgroup of its own below the context's.
	eventually(t, "the web service in its own cgroup", func() bool {
		out, _ := h.vhost("exec", name, "--", "sh", "-c", "cat /proc/$(pidof httpd)/cgroup")
		return strings.Contains(out, "0::/web.service")
	})
	// The init dies without a chance to clean up: the monitor must.
	syscall.Kill(st.Undo.Pid, syscall.SIGKILL)
	eventually(t, "the monitor cleaned up", func() bool {
		_, err := os.Stat(filepath.Join(h.root, "run/vhost", name))
		return os.IsNotExist(err)
	})
	assertGone(t, h.root, name, st.Undo)
}

func TestBridgedGuestsShareTheBridgesSegment(t *testing.T) {
	h := newHost(t)
	// A bridge of this test's own, on 10.77.0.48/28.
	brName := fmt.Sprintf("vhbr%d", os.Getpid()%10000)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: brName}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.LinkDel(br) })
	brAddr, _ := netlink.ParseAddr("10.77.0.49/28")
	if err := netlink.AddrAdd(br, brAddr); err != nil {
		t.Fatal(err)
	}
	netlink.LinkSetUp(br)
	names := map[string]string{testName("bra"): "10.77.0.50", testName("brb"): "10.77.0.51"}
	for name, addr := range names {
		os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"), []byte(fmt.Sprintf(
			"image: demo\nnetwork:\n  addresses: [%s/28]\n  gateway: 10.77.0.49\n  bridge: %s\nstop_timeout: 5s\n", addr, brName)), 0o644)
		h.ok("start", name)
		st := h.state(name)
		t.Cleanup(func() { h.vhost("stop", name); assertGone(t, h.root, name, st.Undo) })
		l, err := netlink.LinkByName(st.Undo.HostIf)
		if err != nil || l.Attrs().MasterIndex != br.Attrs().Index {
			t.Fatalf("%s's veth is not on %s: %v %v", name, brName, l, err)
		}
	}
	for name, addr := range names {
		// Sent only along the bridge of this test.
		r, err := netlink.RouteGet(net.ParseIP(addr))
		if err != nil || len(r) != 1 || r[0].LinkIndex != br.Attrs().Index {
			t.Fatalf("route to %s: %v %v, want it through %s", addr, r, err, brName)
		}
		if page := get(t, "http://"+addr+"/"); page != "hello from vserver "+name+"\n" {
			t.Errorf("http://%s/ = %q", addr, page)
		}
	}
	// A bridge needs a gateway; a shared vserver has no veth for one.
	os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", "nogw.yaml"), []byte("image: demo\nnetwork:\n  addresses: [10.77.0.52/28]\n  bridge: "+brName+"\n"), 0o644)
	if out, code := h.vhost("start", "nogw"); code == 0 || !strings.Contains(out, "network.bridge: a bridged vserver needs network.gateway") {
		t.Errorf("bridge without a gateway: exit %d: %s", code, out)
	}
}
