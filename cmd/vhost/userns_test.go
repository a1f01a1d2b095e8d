package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/internal/cgroup"
	"github.com/vservers/vserver/internal/proc"
)

// Guest uids and gids 0..65535 are host ids base.. in these tests: auto
// derives base from the context id (id × 65536).
func userNSBase(ctx int) int { return ctx << 16 }

// hostUID is the real uid of host process pid, from /proc.
func hostUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Uid:"); ok {
			f := strings.Fields(v)
			uid, _ := strconv.Atoi(f[0])
			return uid
		}
	}
	t.Fatalf("no Uid line for %d", pid)
	return -1
}

func owner(t *testing.T, path string) (uid, gid int) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return int(st.Uid), int(st.Gid)
}

func TestUserNamespaceGuestRootIsNotHostRoot(t *testing.T) {
	h := newHost(t)
	name, addr, ctx := testName("uns"), "10.77.0.53", 53
	base := userNSBase(ctx)

	// A unit of the guest's www-data, beside the demo's services.
	units := t.TempDir()
	ents, _ := os.ReadDir("../../examples/demo/units")
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join("../../examples/demo/units", e.Name()))
		os.WriteFile(filepath.Join(units, e.Name()), b, 0o644)
	}
	os.WriteFile(filepath.Join(units, "www.yaml"), []byte("exec: [/bin/sleep, \"4242\"]\nuser: www-data\nrestart: always\n"), 0o644)
	h.ok("image", "build", "unsimg", "--from", "busybox", "--units", units)

	// Host files bound in: a host root secret as it is, and a directory
	// seen through the guest's map.
	data := t.TempDir()
	secret := filepath.Join(data, "secret")
	os.WriteFile(secret, []byte("host root only\n"), 0o600)
	shared := filepath.Join(data, "shared")
	os.Mkdir(shared, 0o755)
	os.WriteFile(filepath.Join(shared, "from-host"), []byte("hi\n"), 0o644)

	// Capabilities that in the host's user namespace would read any file,
	// make device nodes and load modules; no seccomp filter to stop the
	// calls earlier: only the user namespace stands in the way.
	caps := append(append([]string{}, vctx.DefaultCapabilities...), "CAP_MKNOD", "CAP_SYS_MODULE", "CAP_DAC_READ_SEARCH")
	cfg := fmt.Sprintf(`image: unsimg
context: %d
network:
  addresses: [%s/24]
user_namespace: auto
capabilities: [%s]
seccomp: none
mounts:
  - {source: %s, target: /srv/secret}
  - {source: %s, target: /srv/shared, idmap: true}
stop_timeout: 10s
`, ctx, addr, strings.Join(caps, ", "), secret, shared)
	os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"), []byte(cfg), 0o644)
	h.ok("start", name)
	st := h.state(name)
	t.Cleanup(func() { h.vhost("stop", name); assertGone(t, h.root, name, st.Undo) })

	// From the host: the guest's init runs as host uid base, not root.
	if uid := hostUID(t, st.Undo.Pid); uid != base {
		t.Errorf("guest init's host uid %d, want the map's base %d", uid, base)
	}
	// The page is served all the same.
	routedToGuest(t, addr, st.Undo.HostIf)
	if page := get(t, "http://"+addr+"/"); page != "hello from vserver "+name+"\n" {
		t.Errorf("page = %q", page)
	}

	// Inside: root, with the map, the image's files root's.
	out := h.ok("exec", name, "--", "sh", "-c", `id -u; cat /proc/self/uid_map /proc/self/gid_map | tr -s ' ' | sed 's/^ //'
stat -c '%u:%g %n' /bin/busybox /etc/passwd /
echo mine > /root/by-guest-root`)
	want := fmt.Sprintf("0\n0 %d 65536\n0 %d 65536\n0:0 /bin/busybox\n0:0 /etc/passwd\n0:0 /\n", base, base)
	if out != want {
		t.Errorf("guest's view:\n%s\nwant:\n%s", out, want)
	}
	// The image was not chowned; what guest root wrote is host uid base's.
	img := filepath.Join(h.root, "var/lib/vhost/images/unsimg/rootfs")
	if u, g := owner(t, filepath.Join(img, "bin/busybox")); u != 0 || g != 0 {
		t.Errorf("the image's busybox is owned by %d:%d on the host, want 0:0 as built", u, g)
	}
	upper := filepath.Join(h.root, "var/lib/vhost/vservers", name, "upper")
	if u, g := owner(t, filepath.Join(upper, "root/by-guest-root")); u != base || g != base {
		t.Errorf("guest root's file is owned by %d:%d on the host, want %d:%d", u, g, base, base)
	}

	// What capabilities would allow in the host's user namespace, guest
	// root can't do in its own, though it holds them.
	out, _ = h.vhost("exec", name, "--", "sh", "-c", `grep CapEff /proc/self/status
stat -c '%u:%g' /srv/secret
cat /srv/secret 2>&1
mknod /tmp/sda b 8 0 2>&1
insmod /bin/busybox 2>&1
echo x > /srv/secret 2>&1`)
	var eff uint64
	if _, err := fmt.Sscanf(strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]), "CapEff:\t%x", &eff); err != nil {
		t.Fatalf("no CapEff in %q", out)
	}
	for _, c := range []uint{unix.CAP_MKNOD, unix.CAP_SYS_MODULE, unix.CAP_DAC_READ_SEARCH, unix.CAP_DAC_OVERRIDE} {
		if eff&(1<<c) == 0 {
			t.Errorf("capability %d not in the guest's effective set: the test proves nothing", c)
		}
	}
	if strings.Contains(out, "host root only") {
		t.Errorf("guest root read the host's root-only file:\n%s", out)
	}
	for _, w := range []string{"65534:65534\n", "cat: can't open '/srv/secret': Permission denied", "mknod: /tmp/sda: Operation not permitted",
		"can't create /srv/secret: Permission denied"} {
		if !strings.Contains(out, w) {
			t.Errorf("guest output lacks %q:\n%s", w, out)
		}
	}
	// Host root with CAP_SYS_MODULE would get "invalid module format".
	if _, err := os.Stat("/proc/modules"); err != nil {
		t.Log("this kernel loads no modules at all: insmod's refusal shows nothing here")
	} else if !strings.Contains(out, "insmod: can't insert '/bin/busybox': Operation not permitted") {
		t.Errorf("insmod was not refused for lack of privilege:\n%s", out)
	}

	// The idmapped directory: the host's root files are guest root's, and
	// what guest root makes there is host root's again.
	out = h.ok("exec", name, "--", "sh", "-c", "stat -c '%u:%g' /srv/shared/from-host; echo back > /srv/shared/from-guest")
	if out != "0:0\n" {
		t.Errorf("the idmapped mount's host file in the guest: %q, want 0:0", out)
	}
	if u, g := owner(t, filepath.Join(shared, "from-guest")); u != 0 || g != 0 {
		t.Errorf("guest root's file in the idmapped mount is %d:%d on the host, want 0:0", u, g)
	}

	// vinit's services: each in a cgroup of its own (the context's is
	// delegated to guest root), and www's under the guest's www-data,
	// which is host uid base+33.
	eventually(t, "www running as www-data, in its cgroup", func() bool {
		ps, _ := vctx.Procs(st.Undo)
		for _, p := range ps {
			if p.Cmdline == "/bin/sleep 4242" {
				cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.Pid))
				return hostUID(t, p.Pid) == base+33 && strings.Contains(string(cg), "/www.service\n")
			}
		}
		return false
	})
	if out := h.ok("exec", name, "--", "sh", "-c", "cat /proc/$(pidof httpd)/cgroup | grep '^0::'; ps -o user,args | grep 'sleep 424[2]'"); !strings.Contains(out, "0::/web.service\n") || !strings.Contains(out, "www-data") {
		t.Errorf("services in the guest:\n%s", out)
	}
	g, _ := cgroup.Open(st.Undo.Cgroup)
	if u, _ := owner(t, g.UnifiedDir()); u != base {
		t.Errorf("the context's cgroup2 directory belongs to %d, want guest root (%d)", u, base)
	}

	// vhost ctl and enter land in the user namespace too.
	if out := h.ok("ctl", name, "status"); !strings.Contains(out, "www ") || !strings.Contains(out, "running") {
		t.Errorf("vhost ctl status:\n%s", out)
	}
	cmd := exec.Command("script", "-qec", filepath.Join(binDir, "vhost")+" --root "+h.root+" enter "+name, "/dev/null")
	cmd.Stdin = strings.NewReader("tty; id -u; cat /proc/self/uid_map; exit 3\n")
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("enter: %v\n%s", err, b)
	}
	if s := strings.ReplaceAll(string(b), "\r", ""); !strings.Contains(s, "/dev/pts/0\n0\n") || !strings.Contains(s, fmt.Sprintf(" %d ", base)) {
		t.Errorf("enter: want a guest terminal, uid 0 and the map:\n%q", b)
	}

	// Stop, and boot again on the same layer: what it wrote is still its.
	h.ok("stop", name)
	assertGone(t, h.root, name, st.Undo)
	h.ok("start", name)
	st = h.state(name)
	if out := h.ok("exec", name, "--", "sh", "-c", "stat -c '%u %n' /root/by-guest-root; cat /root/by-guest-root"); out != "0 /root/by-guest-root\nmine\n" {
		t.Errorf("after a reboot: %q", out)
	}
}

func TestUserNamespaceBadRangesAreRefused(t *testing.T) {
	h := newHost(t)
	cfgDir := filepath.Join(h.root, "etc/vhost/vservers")
	write := func(name, body string) {
		os.WriteFile(filepath.Join(cfgDir, name+".yaml"), []byte(body), 0o644)
	}
	const none = "image: demo\nnetwork:\n  mode: none\n"
	write("zero", none+"user_namespace:\n  base: 0\n")
	write("past", none+"user_namespace: {base: 4294967000, size: 65536}\n")
	write("noctx", none+"user_namespace: auto\n")
	write("typo", none+"user_namespace:\n  base: 100000\n  sise: 10\n")
	write("word", none+"user_namespace: yes\n")
	write("nomap", none+"mounts:\n  - {source: /tmp, target: /mnt, idmap: true}\n")
	write("auto57", "image: demo\ncontext: 57\nnetwork:\n  mode: none\nuser_namespace: auto\n")
	write("over", none+"user_namespace: {base: 3735552, size: 100}\n") // within auto57's 57 << 16 onward
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"start", "zero"}, "zero.yaml:5:9: user_namespace.base: want a host uid from 1 to 4294967294, got 0"},
		{[]string{"start", "past"}, "past.yaml:4:42: user_namespace.size: want 1 to 295 ids from base 4294967000, got 65536"},
		{[]string{"start", "noctx"}, "noctx.yaml:4:17: user_namespace: auto derives the range from the context id"},
		{[]string{"start", "typo"}, "typo.yaml:6:3: user_namespace.sise: unknown key"},
		{[]string{"start", "word"}, "word.yaml:4:17: user_namespace: want auto or a mapping"},
		{[]string{"start", "nomap"}, "nomap.yaml:5:41: mounts[0].idmap: needs a user namespace"},
		{[]string{"start", "over"}, "over.yaml:4:17: user_namespace: host ids 3735552 to 3735651 overlap vserver auto57's, 3735552 to 3801087 (" + cfgDir + "/auto57.yaml:5:17)"},
		{[]string{"start", "auto57"}, "auto57.yaml:5:17: user_namespace: host ids 3735552 to 3801087 overlap vserver over's"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, code := h.vhost(tt.args...)
			if code == 0 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, output %q; want a failure saying %q", code, out, tt.want)
			}
		})
	}
	for _, n := range []string{"zero", "past", "noctx", "typo", "word", "nomap", "auto57", "over"} {
		assertGone(t, h.root, n, vctx.Undo{Cgroup: "vhost/" + n})
	}

	// A layer written without a user namespace is not silently handed to
	// a guest root that would own none of it.
	name := testName("unl")
	write(name, none)
	h.ok("run", name, "--", "sh", "-c", "echo host-root > /root/note")
	write(name, "image: demo\ncontext: 58\nnetwork:\n  mode: none\nuser_namespace: auto\n")
	out, code := h.vhost("start", name)
	if code == 0 || !strings.Contains(out, name+".yaml:5:17: user_namespace: the vserver's own files") || !strings.Contains(out, "written without a user namespace") {
		t.Fatalf("start over a layer of host root's: exit %d: %s", code, out)
	}
	assertGone(t, h.root, name, vctx.Undo{Cgroup: "vhost/" + name})
}

func TestUserNamespaceRefusesAFilesystemItCantIdmap(t *testing.T) {
	h := newHost(t)
	name := testName("unr")
	// ramfs has no idmapped mounts on any kernel.
	dir := t.TempDir()
	if err := unix.Mount("ramfs", dir, "ramfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	cfg := fmt.Sprintf("image: demo\ncontext: 59\nnetwork:\n  addresses: [10.77.0.59/24]\nuser_namespace: auto\nmounts:\n  - {source: %s, target: /mnt, idmap: true}\n", dir)
	os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"), []byte(cfg), 0o644)
	out, code := h.vhost("start", name)
	if code == 0 || !strings.Contains(out, "mount "+dir+" is on ramfs, which can't be idmapped on Linux ") {
		t.Fatalf("start with an idmapped ramfs: exit %d: %s", code, out)
	}
	assertGone(t, h.root, name, vctx.Undo{Cgroup: "vhost/" + name, HostIf: vctx.HostIfName(name)})
	eventually(t, "the setup stage gone", func() bool { return !setupStageRunning(name) })
}

func TestUserNamespaceMonitorKilledAtAnyPointOfStartLeavesNothing(t *testing.T) {
	h := newHost(t)
	name := testName("unk")
	cfg := "image: demo\ncontext: 60\nnetwork:\n  addresses: [10.77.0.60/24]\nuser_namespace: auto\nstop_timeout: 10s\n"
	os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"), []byte(cfg), 0o644)
	h.killDuringStart(t, name, func(delay time.Duration) {
		// Nothing runs as the guest's host uids any more.
		if pids := pidsOfUIDs(userNSBase(60), 65536); len(pids) > 0 {
			t.Fatalf("killed after %v: processes of the guest's uids left: %v", delay, pids)
		}
	})
	h.ok("start", name)
	st := h.state(name)
	t.Cleanup(func() { h.vhost("stop", name); assertGone(t, h.root, name, st.Undo) })
	routedToGuest(t, "10.77.0.60", st.Undo.HostIf)
	get(t, "http://10.77.0.60/")
}

// pidsOfUIDs lists the host's processes whose real uid is in base..base+size-1.
func pidsOfUIDs(base, size int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name(), &st) != nil {
			continue
		}
		if s, err := proc.ReadStat(pid); err == nil && s.State != 'Z' && int(st.Uid) >= base && int(st.Uid) < base+size {
			pids = append(pids, pid)
		}
	}
	return pids
}
