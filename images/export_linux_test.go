package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runCrun runs the bundle with Debian's crun and returns its output. crun
// 1.8 refuses a host with both cgroup v1 controllers and a cgroup2 mount
// ("cgroups in hybrid mode not supported"), so on such a host it runs in a
// private mount namespace with /sys/fs/cgroup/unified unmounted.
func runCrun(t *testing.T, bundle string) string {
	t.Helper()
	out, err := crunRun(t, bundle)
	if err != nil {
		t.Fatalf("crun run %s: %v\n%s", bundle, err, out)
	}
	return out
}

// crunRun is runCrun that returns crun's error instead of failing.
func crunRun(t *testing.T, bundle string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("crun"); err != nil {
		t.Fatalf("this test needs crun (apt-get install -y crun): %v", err)
	}
	id := fmt.Sprintf("vhost-images-test-%d", os.Getpid())
	script := `if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit; fi
exec crun run --bundle "$1" "$2"`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", bundle, id)
	out, err := cmd.CombinedOutput()
	// crun run deletes the container when it ends; make sure of it.
	exec.Command("crun", "delete", "--force", id).Run()
	return string(out), err
}

func TestExportOCIBundleRunsInCrun(t *testing.T) {
	requireRoot(t)
	s, _ := buildTestImage(t, "bb", BusyboxOptions{Hostname: "oci1"})
	vinitSize := func(t *testing.T, bin string) string {
		fi, err := os.Stat(bin)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(fi.Size())
	}

	t.Run("busybox as init", func(t *testing.T) {
		bundle := filepath.Join(t.TempDir(), "bundle")
		err := s.ExportOCIBundle("bb", bundle, OCIOptions{
			Vinit: DefaultBusybox, // any static binary will do to check the copy
			Args:  []string{"/bin/sh", "-c", "echo pid $$; hostname; ls /sys/class/net; stat -c %s /sbin/vinit; ls -A /run; ls -A /tmp; mount | grep -c ' /tmp type tmpfs'"},
		})
		if err != nil {
			t.Fatal(err)
		}
		got := runCrun(t, bundle)
		want := "pid 1\noci1\nlo\n" + vinitSize(t, DefaultBusybox) + "\n1\n"
		if got != want {
			t.Errorf("in crun: got %q, want %q (PID 1, the hostname, only lo, vinit copied, empty tmpfs)", got, want)
		}
		// The image itself is untouched: its /sbin/vinit is still empty.
		if fi, err := os.Stat(filepath.Join(s.mustGet(t, "bb").Rootfs, "sbin/vinit")); err != nil || fi.Size() != 0 {
			t.Errorf("image's /sbin/vinit after export: %v, %v, want an empty file", fi, err)
		}
	})

	t.Run("vinit", func(t *testing.T) {
		vinit := filepath.Join(t.TempDir(), "vinit")
		build := exec.Command("go", "build", "-o", vinit, "github.com/vservers/vserver/cmd/vinit")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build cmd/vinit: %v\n%s", err, out)
		}
		bundle := filepath.Join(t.TempDir(), "bundle")
		err := s.ExportOCIBundle("bb", bundle, OCIOptions{
			Vinit: vinit,
			Args:  []string{"/sbin/vinit", "--", "/bin/sh", "-c", "tr '\\0' ' ' </proc/1/cmdline; echo"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := runCrun(t, bundle), "/sbin/vinit -- /bin/sh -c"; !strings.HasPrefix(got, want) {
			t.Errorf("PID 1's command line in crun: got %q, want it to start with %q", got, want)
		}
	})

	t.Run("vinit with its units", func(t *testing.T) {
		vinit := filepath.Join(t.TempDir(), "vinit")
		build := exec.Command("go", "build", "-o", vinit, "github.com/vservers/vserver/cmd/vinit")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build cmd/vinit: %v\n%s", err, out)
		}
		units := t.TempDir()
		os.WriteFile(filepath.Join(units, "first.yaml"), []byte("kind: oneshot\nexec: [sh, -c, \"echo first-ran\"]\n"), 0o644)
		os.WriteFile(filepath.Join(units, "probe.yaml"), []byte(`requires: [first]
exec: [sh, -c, "echo pid1=$(tr '\\0' ' ' </proc/1/cmdline); vinit ctl status; kill -TERM 1"]
`), 0o644)
		s2, _ := buildTestImage(t, "withunits", BusyboxOptions{Units: units})
		bundle := filepath.Join(t.TempDir(), "bundle")
		if err := s2.ExportOCIBundle("withunits", bundle, OCIOptions{Vinit: vinit}); err != nil {
			t.Fatal(err)
		}
		// vinit powers the container off when probe TERMs it; crun reports
		// how its init ended (reboot(2) in a PID namespace: killed by SIGINT),
		// so its exit status is not the point: the console is.
		got, _ := crunRun(t, bundle)
		t.Logf("console:\n%s", got)
		for _, want := range []string{"first | first-ran", "probe | pid1=/sbin/vinit", "probe | NAME", "first", "exited"} {
			if !strings.Contains(got, want) {
				t.Errorf("console of vinit's units in crun lacks %q:\n%s", want, got)
			}
		}
	})
}

func TestExportOCIBundleConfig(t *testing.T) {
	requireRoot(t)
	s, _ := buildTestImage(t, "bb", BusyboxOptions{})
	bundle := filepath.Join(t.TempDir(), "bundle")
	if err := s.ExportOCIBundle("bb", bundle, OCIOptions{Vinit: DefaultBusybox}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, n := range spec.Linux.Namespaces {
		ns = append(ns, string(n.Type))
	}
	if diff := cmp.Diff([]string{"pid", "network", "ipc", "uts", "mount"}, ns); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/sbin/vinit"}, spec.Process.Args); diff != "" {
		t.Errorf("process args (-want +got):\n%s", diff)
	}
	if spec.Hostname != "bb" || spec.Root.Path != "rootfs" || !spec.Process.NoNewPrivileges {
		t.Errorf("got hostname %q, root %q, no_new_privs %v, want bb, rootfs, true", spec.Hostname, spec.Root.Path, spec.Process.NoNewPrivileges)
	}
}

func TestExportOCIBundleRefuses(t *testing.T) {
	requireRoot(t)
	s, _ := buildTestImage(t, "bb", BusyboxOptions{})
	parent := t.TempDir()
	exists := filepath.Join(parent, "exists")
	if err := os.Mkdir(exists, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, image, dir string
		opt              OCIOptions
		want             string
	}{
		{"existing dir", "bb", exists, OCIOptions{Vinit: DefaultBusybox}, "file already exists"},
		{"dynamic vinit", "bb", filepath.Join(parent, "b1"), OCIOptions{Vinit: "/bin/ls"}, "CGO_ENABLED=0"},
		{"no vinit", "bb", filepath.Join(parent, "b2"), OCIOptions{}, "no vinit"},
		{"unknown image", "nope", filepath.Join(parent, "b3"), OCIOptions{Vinit: DefaultBusybox}, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.ExportOCIBundle(tt.image, tt.dir, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ExportOCIBundle: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	ents, _ := os.ReadDir(parent)
	if len(ents) != 1 || ents[0].Name() != "exists" {
		t.Errorf("after failed exports %s holds %v, want only \"exists\"", parent, ents)
	}
}

func TestCopyTree(t *testing.T) {
	requireRoot(t)
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "d/e"), 0o750))
	must(os.WriteFile(filepath.Join(src, "d/f"), []byte("data"), 0o640))
	must(os.Chmod(filepath.Join(src, "d/f"), 0o4750|fs.ModeSetuid))
	must(os.Lchown(filepath.Join(src, "d/f"), 33, 33))
	must(os.Link(filepath.Join(src, "d/f"), filepath.Join(src, "g")))
	must(os.Symlink("/d/f", filepath.Join(src, "l")))
	dst := filepath.Join(t.TempDir(), "copy")
	must(copyTree(dst, src))

	for _, p := range []string{"d", "d/e", "d/f", "g", "l"} {
		a, err := os.Lstat(filepath.Join(src, p))
		must(err)
		b, err := os.Lstat(filepath.Join(dst, p))
		must(err)
		if a.Mode() != b.Mode() || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()) {
			t.Errorf("%s: got %v %d %v, want %v %d %v", p, b.Mode(), b.Size(), b.ModTime(), a.Mode(), a.Size(), a.ModTime())
		}
	}
	f, _ := os.Stat(filepath.Join(dst, "d/f"))
	g, _ := os.Stat(filepath.Join(dst, "g"))
	if !os.SameFile(f, g) {
		t.Error("d/f and g: got two inodes, want one (a hard link)")
	}
	if err := copyTree(dst, src); !errors.Is(err, fs.ErrExist) {
		t.Errorf("copyTree onto an existing dir: got %v, want ErrExist", err)
	}
}
