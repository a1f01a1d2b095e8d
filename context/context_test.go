package context

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vservers/vserver/internal/cgroup"
)

var trampoline string // static init stand-in, built by TestMain

func TestMain(m *testing.M) {
	// In a VM without Go (../shared/tools/vmtest), the binary comes prebuilt.
	if t := os.Getenv("VHOST_TEST_TRAMPOLINE"); t != "" {
		trampoline = t
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "vctx-test")
	if err != nil {
		panic(err)
	}
	trampoline = filepath.Join(dir, "trampoline")
	build := exec.Command("go", "build", "-o", trampoline, "./internal/trampoline")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build trampoline:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it creates namespaces, cgroups and veth pairs (CI runs as root)")
	}
}

// busyboxRoot makes a minimal root directory from the host's static busybox.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox not found: apt-get install busybox-static")
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "sbin", "etc", "proc", "sys", "dev", "run", "tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "cat", "ls", "ip", "hostname", "ps", "grep", "mount", "mknod", "sleep", "echo", "wc"} {
		os.Symlink("busybox", filepath.Join(root, "bin", a))
	}
	return root
}

// testAddr is the guest address of these tests, from the project's one
// test range (10.77.0.0/24: cmd/vhost's tests take .11 to .60, these
// .230), routed only to the test's own veth.
var testAddr = netip.MustParsePrefix("10.77.0.230/24")

func TestStartShowsTheGuestOnlyItsContext(t *testing.T) {
	requireRoot(t)
	root := busyboxRoot(t)
	name := fmt.Sprintf("t%d", os.Getpid()%100000)
	script := `
echo "pid=$$"
echo "hostname=$(hostname)"
set -- /proc/[0-9]*; echo "procs=$#"
echo "addrs=$(ip -o addr show | grep -v ' lo ' | wc -l)"
ip -o -4 addr show dev eth0
grep CapBnd /proc/self/status
ls /oldroot 2>&1 | head -1
if mount -t tmpfs x /tmp 2>/dev/null; then echo mount=allowed; else echo mount=denied; fi
if mknod /tmp/sda b 8 0 2>/dev/null; then echo mknod=allowed; else echo mknod=denied; fi
cat /proc/kcore 2>/dev/null | wc -c | sed 's/^ */kcore=/'
echo 1 > /proc/sysrq-trigger 2>/dev/null && echo sysrq=writable || echo sysrq=denied
cat /proc/self/cgroup
`
	var out bytes.Buffer
	r, w, _ := os.Pipe()
	var saved []Undo
	spec := &Spec{
		Name: name, Hostname: "guest-" + name, Rootfs: root, Init: trampoline,
		InitArgs: []string{"/bin/sh", "-c", script},
		Network:  Network{Mode: NetIsolated, Addresses: []netip.Prefix{testAddr}},
		Cgroup:   "vhost-test/" + name,
		Stdout:   w, Stderr: w,
	}
	c, err := Start(spec, func(u Undo) error { saved = append(saved, u); return nil })
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { out.ReadFrom(r); close(done) }()

	// From the host: the route to the guest goes to our veth only.
	routes, err := netlink.RouteGet(testAddr.Addr().AsSlice())
	if err != nil || len(routes) != 1 {
		t.Fatalf("route to %s: %v %v", testAddr.Addr(), routes, err)
	}
	link, _ := netlink.LinkByIndex(routes[0].LinkIndex)
	if link == nil || link.Attrs().Name != HostIfName(name) {
		t.Fatalf("route to %s goes to %v, want %s", testAddr.Addr(), link, HostIfName(name))
	}

	ws, err := c.Wait()
	<-done
	if err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("guest script: %v %v\n%s", ws, err, out.String())
	}
	got := out.String()
	t.Logf("guest said:\n%s", got)
	for _, want := range []string{
		"pid=1\n", "hostname=guest-" + name + "\n", "procs=1\n", "addrs=1\n",
		"inet " + testAddr.String(), "mount=denied", "mknod=denied", "kcore=0", "sysrq=denied",
		"0::/\n", "No such file or directory",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("guest output lacks %q", want)
		}
	}
	var bnd uint64
	if i := strings.Index(got, "CapBnd:\t"); i < 0 {
		t.Error("no CapBnd line")
	} else {
		fmt.Sscanf(got[i+len("CapBnd:\t"):], "%x", &bnd)
	}
	for _, c := range []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_MKNOD", "CAP_SYS_PTRACE"} {
		if bnd&(1<<capByName[c]) != 0 {
			t.Errorf("bounding set %#x has %s", bnd, c)
		}
	}
	if bnd&(1<<capByName["CAP_SYS_BOOT"]) == 0 {
		t.Errorf("bounding set %#x lacks CAP_SYS_BOOT", bnd)
	}

	if len(saved) == 0 || saved[len(saved)-1].HostIf == "" || saved[len(saved)-1].Pid == 0 {
		t.Fatalf("undo records %+v lack the veth or pid", saved)
	}
	if err := Cleanup(c.Undo); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, c.Undo)
}

func TestStartFailureLeavesNothing(t *testing.T) {
	requireRoot(t)
	root := busyboxRoot(t)
	// /run as a file makes the setup stage fail after the cgroup and the
	// veth pair exist.
	os.Remove(filepath.Join(root, "run"))
	os.WriteFile(filepath.Join(root, "run"), nil, 0o644)
	name := fmt.Sprintf("f%d", os.Getpid()%100000)
	var last Undo
	_, err := Start(&Spec{
		Name: name, Rootfs: root, Init: trampoline, InitArgs: []string{"/bin/true"},
		Network: Network{Mode: NetIsolated, Addresses: []netip.Prefix{testAddr}},
		Cgroup:  "vhost-test/" + name,
	}, func(u Undo) error { last = u; return nil })
	if err == nil || !strings.Contains(err.Error(), "root filesystem") {
		t.Fatalf("Start = %v, want a root filesystem error", err)
	}
	assertNothingLeft(t, last)
	// Reaped, not left a zombie of the caller's.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", last.Pid)); last.Pid == 0 || err == nil {
		t.Errorf("the setup stage %d is still in /proc after a failed Start", last.Pid)
	}
}

func assertNothingLeft(t *testing.T, u Undo) {
	t.Helper()
	if Alive(u) {
		t.Errorf("init %d still running", u.Pid)
	}
	if g, err := cgroup.Open(u.Cgroup); err == nil && len(g.Dirs()) > 0 {
		t.Errorf("cgroup left: %v", g.Dirs())
	}
	if u.HostIf != "" {
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := netlink.LinkByName(u.HostIf)
			if err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("veth %s left", u.HostIf)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestExecJoinsEveryNamespaceAndProcsListsIt(t *testing.T) {
	requireRoot(t)
	root := busyboxRoot(t)
	name := fmt.Sprintf("e%d", os.Getpid()%100000)
	c, err := Start(&Spec{
		Name: name, Hostname: "in-" + name, Rootfs: root, Init: trampoline,
		InitArgs: []string{"/bin/sleep", "60"},
		Network:  Network{Mode: NetNone}, Cgroup: "vhost-test/" + name,
	}, func(Undo) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Cleanup(c.Undo); err != nil {
			t.Error(err)
		}
		c.Wait()
		assertNothingLeft(t, c.Undo)
	})

	r, w, _ := os.Pipe()
	p, err := Exec(c.Undo, &ExecSpec{
		Argv: []string{"sh", "-c", `until [ -n "$(tr -d '\0' </proc/1/cmdline)" ]; do :; done # empty while init is in execve
echo "pid=$$ host=$(hostname) init=$(cat /proc/1/cmdline | tr '\0' ' ') cwd=$(pwd)"; ls /proc/1/root/ >/dev/null && echo sees-init-root; sleep 5`},
		Env:    []string{"PATH=/bin"},
		Stdout: w, Stderr: w,
	})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Born in the context's cgroup: Exec put the caller there first.
	if g, err := cgroup.Open(c.Undo.Cgroup); err != nil {
		t.Fatal(err)
	} else if pids, _ := g.Pids(); !slices.Contains(pids, p.Pid) {
		t.Errorf("exec'd process %d is not in the context's cgroup %v", p.Pid, pids)
	}
	// And the caller went back where it was.
	if g, _ := cgroup.Open(c.Undo.Cgroup); g != nil {
		if pids, _ := g.Pids(); slices.Contains(pids, os.Getpid()) {
			t.Errorf("the caller %d stayed in the context's cgroup", os.Getpid())
		}
	}
	line := make([]byte, 200)
	n, _ := r.Read(line)
	got := string(line[:n])
	for _, want := range []string{"host=in-" + name, "/bin/sleep 60", "cwd=/"} {
		if !strings.Contains(got, want) {
			t.Errorf("exec'd command said %q, want %q in it", got, want)
		}
	}
	if strings.HasPrefix(got, "pid=1 ") {
		t.Errorf("exec'd command is PID 1: %q", got)
	}

	procs, err := Procs(c.Undo)
	if err != nil {
		t.Fatal(err)
	}
	var guestPids []int
	for _, pr := range procs {
		guestPids = append(guestPids, pr.GuestPid)
	}
	if len(procs) < 2 || procs[0].GuestPid != 1 || procs[0].Pid != c.Pid {
		t.Fatalf("Procs = %+v, want init (host %d, guest 1) first and the exec'd shell", procs, c.Pid)
	}
	if !slices.IsSorted(guestPids) {
		t.Errorf("Procs not in guest PID order: %v", guestPids)
	}
	found := false
	for _, pr := range procs {
		found = found || pr.Pid == p.Pid
	}
	if !found {
		t.Errorf("Procs lacks the exec'd shell %d: %v", p.Pid, guestPids)
	}
	p.Kill()
	p.Wait()
}

func TestImageSymlinksResolveInsideTheImage(t *testing.T) {
	requireRoot(t)
	root := busyboxRoot(t)
	// Merged /usr, as debootstrap makes it: /sbin is a relative link.
	os.MkdirAll(filepath.Join(root, "usr/sbin"), 0o755)
	os.Remove(filepath.Join(root, "sbin"))
	os.Symlink("usr/sbin", filepath.Join(root, "sbin"))
	// Hostile: /tmp and /run point at the host's directories.
	os.Remove(filepath.Join(root, "tmp"))
	os.MkdirAll(filepath.Join(root, "var/tmp"), 0o755)
	os.Symlink("/var/tmp/../../etc", filepath.Join(root, "tmp"))
	os.Remove(filepath.Join(root, "run"))
	os.MkdirAll(filepath.Join(root, "var/run"), 0o755)
	os.Symlink("../../../../../../var/run", filepath.Join(root, "run"))
	hostEtc, _ := os.ReadDir("/etc")

	name := fmt.Sprintf("l%d", os.Getpid()%100000)
	r, w, _ := os.Pipe()
	c, err := Start(&Spec{
		Name: name, Rootfs: root, Init: trampoline,
		InitArgs: []string{"/bin/sh", "-c", "ls -d /usr/sbin/vinit && mount | grep -c ' /etc \\| /run '"},
		Network:  Network{Mode: NetNone}, Cgroup: "vhost-test/" + name,
		Stdout: w, Stderr: w,
	}, func(Undo) error { return nil })
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	ws, _ := c.Wait()
	Cleanup(c.Undo)
	if !ws.Exited() || ws.ExitStatus() != 0 || !strings.HasPrefix(string(out), "/usr/sbin/vinit\n") {
		t.Errorf("guest: %v\n%s", ws, out)
	}
	// The links were followed inside the image: its /etc got the tmpfs.
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/vinit")); err != nil {
		t.Errorf("the init mount point is not in the image's /usr/sbin: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "var/run")); err != nil {
		t.Error(err)
	}
	if now, _ := os.ReadDir("/etc"); len(now) != len(hostEtc) {
		t.Errorf("the host's /etc changed: %d entries, were %d", len(now), len(hostEtc))
	}
}

func TestStartFailingAtTheNetworkReapsTheStage(t *testing.T) {
	requireRoot(t)
	name := fmt.Sprintf("g%d", os.Getpid()%100000)
	var last Undo
	_, err := Start(&Spec{
		Name: name, Rootfs: busyboxRoot(t), Init: trampoline, InitArgs: []string{"/bin/true"},
		Network: Network{Mode: NetIsolated, Addresses: []netip.Prefix{testAddr},
			Gateway: netip.MustParseAddr("10.77.0.1"), Bridge: "vhnosuchbr"},
		Cgroup: "vhost-test/" + name,
	}, func(u Undo) error { last = u; return nil })
	if err == nil || !strings.Contains(err.Error(), "vhnosuchbr") {
		t.Fatalf("Start = %v, want the missing bridge named", err)
	}
	assertNothingLeft(t, last)
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", last.Pid)); last.Pid == 0 || err == nil {
		t.Errorf("the setup stage %d is still in /proc after a failed Start", last.Pid)
	}
}

func TestUserNSMakesGuestRootAnUnprivilegedHostUser(t *testing.T) {
	requireRoot(t)
	root := busyboxRoot(t)
	name := fmt.Sprintf("u%d", os.Getpid()%100000)
	const base = 4001 << 16
	r, w, _ := os.Pipe()
	c, err := Start(&Spec{
		Name: name, Rootfs: root, Init: trampoline,
		// No overlay: the root itself is seen through an idmapped mount.
		InitArgs: []string{"/bin/sh", "-c", `cat /proc/self/uid_map | tr -s ' '; ls -lnd /bin/busybox /proc/1 | while read m l u g rest; do echo "$u:$g"; done
echo > /bin/by-guest; mknod /tmp/null c 1 3 2>/dev/null && echo mknod=allowed || echo mknod=denied; sleep 60`},
		Network: Network{Mode: NetNone}, Cgroup: "vhost-test/" + name,
		UserNS: &IDMap{HostBase: base, Size: 65536},
		Stdout: w, Stderr: w,
	}, func(Undo) error { return nil })
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		Cleanup(c.Undo)
		c.Wait()
		assertNothingLeft(t, c.Undo)
	})
	want := fmt.Sprintf(" 0 %d 65536\n0:0\n0:0\nmknod=denied\n", base)
	got := make([]byte, 0, 200)
	for buf := make([]byte, 200); len(got) < len(want); {
		n, err := r.Read(buf)
		if err != nil {
			break
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != want {
		t.Errorf("guest init said %q, want %q", got, want)
	}
	// On the host: init runs as the base; the root is the guest's own
	// (no overlay), seen through the map both ways: its files keep guest
	// ids on disk, guest root's new one too.
	if st, err := os.Stat(fmt.Sprintf("/proc/%d", c.Pid)); err != nil {
		t.Fatal(err)
	} else if uid := st.Sys().(*syscall.Stat_t).Uid; uid != base {
		t.Errorf("init's /proc entry belongs to %d, want %d", uid, base)
	}
	for file, uid := range map[string]uint32{"bin/busybox": 0, "bin/by-guest": 0} {
		if st, err := os.Stat(filepath.Join(root, file)); err != nil || st.Sys().(*syscall.Stat_t).Uid != uid {
			t.Errorf("%s on the host: %v, want owner %d", file, err, uid)
		}
	}

	// Exec lands in the user namespace, as guest root.
	out, w2, _ := os.Pipe()
	p, err := Exec(c.Undo, &ExecSpec{
		Argv: []string{"sh", "-c", "id -u; tr -s ' ' </proc/self/uid_map; grep CapBnd /proc/self/status"},
		Env:  []string{"PATH=/bin"}, Stdout: w2, Stderr: w2, Seccomp: true,
	})
	w2.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out)
	p.Wait()
	var bnd uint64
	for _, c := range DefaultCapabilities {
		bnd |= 1 << capByName[c]
	}
	if want := fmt.Sprintf("0\n 0 %d 65536\nCapBnd:\t%016x\n", base, bnd); string(b) != want {
		t.Errorf("exec'd command said %q, want %q", b, want)
	}
}

// TestStartAgainWhileTheLastPairGoes: after a guest's end, CleanupExited
// leaves its veth pair to the kernel, which deletes it with the network
// namespace in the background; a context of the same name started again at
// once, while the old pair may still be going, waits for it instead of
// failing on the name, and the old pair goes without vhost deleting it.
func TestStartAgainWhileTheLastPairGoes(t *testing.T) {
	requireRoot(t)
	root := busyboxRoot(t)
	name := fmt.Sprintf("a%d", os.Getpid()%100000)
	spec := func() *Spec {
		return &Spec{
			Name: name, Rootfs: root, Init: trampoline, InitArgs: []string{"/bin/true"},
			Network: Network{Mode: NetIsolated, Addresses: []netip.Prefix{testAddr}},
			Cgroup:  "vhost-test/" + name,
		}
	}
	var last Undo
	for round := range 5 {
		c, err := Start(spec(), func(u Undo) error { last = u; return nil })
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if _, err := c.Wait(); err != nil {
			t.Fatalf("round %d: wait: %v", round, err)
		}
		if err := CleanupExited(c.Undo); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	assertNothingLeft(t, last)
}
