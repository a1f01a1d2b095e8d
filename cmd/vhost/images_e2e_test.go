package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vservers/vserver/internal/vserver"
)

// These tests check vhost's OCI import and export against the real tools
// of Debian (umoci, skopeo, podman) and boot a debootstrap'd Debian image
// running nginx. Addresses 10.77.0.40-49 are theirs.

// tool fails the test unless the program is installed.
func tool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s missing: apt-get install -y %s", name, pkg)
	}
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startImage starts vserver name on image at addr, stopping it at the end
// of the test and checking that nothing is left.
func (h *host) startImage(name, image, addr string) *vserver.State {
	h.t.Helper()
	cfg := fmt.Sprintf("image: %s\nhostname: %s\nnetwork:\n  addresses: [%s/24]\nlimits:\n  pids: 256\nstop_timeout: 10s\n", image, name, addr)
	if err := os.WriteFile(filepath.Join(h.root, "etc/vhost/vservers", name+".yaml"), []byte(cfg), 0o644); err != nil {
		h.t.Fatal(err)
	}
	h.ok("start", name)
	st := h.state(name)
	h.t.Cleanup(func() {
		h.vhost("stop", name)
		assertGone(h.t, h.root, name, st.Undo)
	})
	return st
}

func (h *host) rootfs(image string) string {
	return filepath.Join(h.root, "var/lib/vhost/images", image, "rootfs")
}

// TestUmociImageImportsAndBoots builds an OCI image with umoci (a busybox
// rootfs, a layer whiting out its units, a layer with a web page, and a
// config whose process is busybox httpd), imports it with vhost, boots it,
// and fetches the page from the main unit vhost made of the config. The
// same image converted by skopeo to a docker save archive imports too.
func TestUmociImageImportsAndBoots(t *testing.T) {
	h := newHost(t)
	tool(t, "umoci", "umoci")
	tool(t, "skopeo", "skopeo")
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	runTool(t, "umoci", "init", "--layout", layout)
	runTool(t, "umoci", "new", "--image", layout+":web")
	runTool(t, "umoci", "insert", "--image", layout+":web", h.rootfs("demo"), "/")
	runTool(t, "umoci", "insert", "--image", layout+":web", "--whiteout", "/etc/vinit/units")
	page := filepath.Join(dir, "www")
	os.MkdirAll(page, 0o755)
	os.WriteFile(filepath.Join(page, "index.html"), []byte("served from an umoci image\n"), 0o644)
	runTool(t, "umoci", "insert", "--image", layout+":web", page, "/srv/www")
	runTool(t, "umoci", "config", "--image", layout+":web",
		"--config.entrypoint", "/usr/sbin/httpd", "--config.cmd", "-f",
		"--config.cmd", "-p", "--config.cmd", "80", "--config.cmd", "-h", "--config.cmd", "/srv/www",
		"--config.env", "GREETING=hello", "--config.workingdir", "/srv", "--config.exposedports", "80/tcp")

	h.ok("image", "import", "web", layout, "--ref", "web")
	if _, err := os.Stat(filepath.Join(h.rootfs("web"), "etc/vinit/units/web.yaml")); !os.IsNotExist(err) {
		t.Errorf("the demo's unit survived umoci's whiteout of /etc/vinit/units: %v", err)
	}
	unit, err := os.ReadFile(filepath.Join(h.rootfs("web"), "etc/vinit/units/main.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/usr/sbin/httpd", "/srv/www", "GREETING=hello", "working_dir: /srv", "80/tcp"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("main.yaml lacks %q:\n%s", want, unit)
		}
	}

	name, addr := testName("oci"), "10.77.0.40"
	st := h.startImage(name, "web", addr)
	routedToGuest(t, addr, st.Undo.HostIf)
	if got, want := get(t, "http://"+addr+"/"), "served from an umoci image\n"; got != want {
		t.Errorf("GET / from the imported image's main unit: got %q, want %q", got, want)
	}

	t.Run("docker archive from skopeo", func(t *testing.T) {
		archive := filepath.Join(dir, "web.tar")
		runTool(t, "skopeo", "copy", "oci:"+layout+":web", "docker-archive:"+archive+":web:1")
		h.ok("image", "import", "web-docker", archive)
		got, err := os.ReadFile(filepath.Join(h.rootfs("web-docker"), "srv/www/index.html"))
		if err != nil || string(got) != "served from an umoci image\n" {
			t.Errorf("page in the image imported from skopeo's docker archive: %q, %v", got, err)
		}
	})

	t.Run("tampered blob", func(t *testing.T) {
		bad := filepath.Join(dir, "bad")
		runTool(t, "cp", "-a", layout, bad)
		blobs, _ := filepath.Glob(filepath.Join(bad, "blobs/sha256/*"))
		var biggest string
		var size int64
		for _, b := range blobs {
			if fi, _ := os.Stat(b); fi.Size() > size {
				biggest, size = b, fi.Size()
			}
		}
		f, err := os.OpenFile(biggest, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("x"))
		f.Close()
		out, code := h.vhost("image", "import", "bad", bad, "--ref", "web")
		if code != 1 || !strings.Contains(out, "layer") {
			t.Errorf("importing a layout with a tampered layer: exit %d, %q, want exit 1 naming the layer", code, out)
		}
		if _, err := os.Stat(filepath.Join(h.root, "var/lib/vhost/images/bad")); !os.IsNotExist(err) {
			t.Errorf("a failed import left an image: %v", err)
		}
	})
}

// TestExportedOCIImageRunsUnderOtherTools exports an image with vhost and
// has skopeo inspect it and umoci unpack it, and podman run it with vinit
// as PID 1.
func TestExportedOCIImageRunsUnderOtherTools(t *testing.T) {
	h := newHost(t)
	tool(t, "umoci", "umoci")
	tool(t, "skopeo", "skopeo")
	dir := t.TempDir()
	layout := filepath.Join(dir, "demo")
	h.ok("image", "export", "demo", "--oci-image", layout, "--vinit", filepath.Join(binDir, "vinit"))

	var info struct {
		Architecture, Os string
		Layers           []string
	}
	if err := json.Unmarshal([]byte(runTool(t, "skopeo", "inspect", "oci:"+layout+":latest")), &info); err != nil {
		t.Fatal(err)
	}
	if info.Os != "linux" || info.Architecture == "" || len(info.Layers) != 1 {
		t.Errorf("skopeo inspect: got %+v, want linux, an architecture, one layer", info)
	}
	var cfg struct{ Config struct{ Entrypoint []string } }
	json.Unmarshal([]byte(runTool(t, "skopeo", "inspect", "--config", "oci:"+layout+":latest")), &cfg)
	if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/sbin/vinit" {
		t.Errorf("entrypoint: got %q, want /sbin/vinit", got)
	}

	bundle := filepath.Join(dir, "bundle")
	runTool(t, "umoci", "unpack", "--image", layout+":latest", bundle)
	vi, _ := os.Stat(filepath.Join(binDir, "vinit"))
	if fi, err := os.Stat(filepath.Join(bundle, "rootfs/sbin/vinit")); err != nil || fi.Size() != vi.Size() {
		t.Errorf("umoci unpack: /sbin/vinit is %v (%v), want the %d bytes of vinit", fi, err, vi.Size())
	}
	if _, err := os.Stat(filepath.Join(bundle, "rootfs/etc/vinit/units/web.yaml")); err != nil {
		t.Errorf("umoci unpack: the demo's unit is missing: %v", err)
	}

	t.Run("tar", func(t *testing.T) {
		tarball := filepath.Join(dir, "demo.tar")
		h.ok("image", "export", "demo", "--oci-image", tarball, "--vinit", filepath.Join(binDir, "vinit"))
		runTool(t, "skopeo", "inspect", "oci-archive:"+tarball+":latest")
	})
}
