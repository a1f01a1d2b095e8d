package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// debianTarball is a Debian bookworm (minbase, with nginx-light) made by
// vhost image build --from debootstrap, once per machine: debootstrap takes
// minutes. Later runs import the cached tarball. Bump the suffix when the
// build changes.
func debianTarball(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("VHOST_TEST_CACHE")
	if cache == "" {
		cache = "/var/cache/vhost-test"
	}
	tarball := filepath.Join(cache, "debian-nginx-v1.tar")
	if _, err := os.Stat(tarball); err == nil {
		return tarball
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Fatal("debootstrap missing: apt-get install -y debootstrap")
	}
	build := &host{t: t, root: filepath.Join(cache, "debian-nginx-root")}
	os.RemoveAll(build.root) // what an interrupted build left
	t.Cleanup(func() { os.RemoveAll(build.root) })
	t.Log("building a Debian image with debootstrap: minutes, once per machine")
	build.ok("image", "build", "deb", "--from", "debootstrap", "--include", "nginx-light")
	tmp := tarball + ".tmp"
	// Without the device nodes of Debian's /dev: the context makes its
	// own /dev, and the importer refuses device nodes by default.
	out, err := exec.Command("tar", "-C", filepath.Join(build.root, "var/lib/vhost/images/deb/rootfs"), "--exclude=./dev/*", "-cf", tmp, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, tarball); err != nil {
		t.Fatal(err)
	}
	return tarball
}

func TestDebianGuestServesWithItsOwnNginx(t *testing.T) {
	h := newHost(t)
	tarball := debianTarball(t)
	h.ok("image", "import", "debian", tarball)
	name, addr := testName("deb"), "10.77.0.41"
	os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"),
		[]byte("image: debian\nnetwork:\n  addresses: ["+addr+"/24]\nstop_timeout: 20s\n"), 0o644)
	// The unit is the vserver's own: it goes into its layer, not the image.
	units := filepath.Join(h.root, "var/lib/vhost/vservers", name, "upper/etc/vinit/units")
	os.MkdirAll(units, 0o755)
	os.WriteFile(filepath.Join(units, "nginx.yaml"), []byte(`description: Debian's nginx
exec: [/usr/sbin/nginx, -g, "daemon off;"]
ready:
  tcp: 127.0.0.1:80
restart: on-failure
`), 0o644)
	h.ok("start", name)
	st := h.state(name)
	t.Cleanup(func() { h.vhost("stop", name); assertGone(t, h.root, name, st.Undo) })

	routedToGuest(t, addr, st.Undo.HostIf)
	if page := get(t, "http://"+addr+"/"); !strings.Contains(page, "Welcome to nginx!") {
		t.Fatalf("page from %s = %q", addr, page)
	}
	out := h.ok("exec", name, "--", "sh", "-c", "cat /etc/debian_version; tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/[0-9]*/comm")
	if !strings.HasPrefix(out, "12.") || !strings.Contains(out, "\n/sbin/vinit \n") || !strings.Contains(out, "\nnginx\n") {
		t.Errorf("inside the Debian guest:\n%s", out)
	}
	// Ready once vinit's own TCP probe (every 100 ms) has seen the port.
	eventually(t, "nginx ready in vinit ctl status", func() bool {
		out := h.ok("ctl", name, "status")
		return strings.Contains(out, "nginx") && strings.Contains(out, "running")
	})
}
