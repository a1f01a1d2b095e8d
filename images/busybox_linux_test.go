package images

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// inChroot runs argv chrooted into root and returns its combined output.
func inChroot(t *testing.T, root string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chroot %s %q: %v\n%s", root, argv, err, out)
	}
	return string(out)
}

func TestBuildBusyboxRuns(t *testing.T) {
	requireRoot(t)
	units := t.TempDir()
	if err := os.WriteFile(filepath.Join(units, "web.yaml"), []byte("name: web\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, img := buildTestImage(t, "bb", BusyboxOptions{Units: units, Hostname: "guest1"})

	out := inChroot(t, img.Rootfs, "/bin/sh", "-c", "ls /bin && cat /etc/hostname")
	if !strings.Contains(out, "busybox\n") {
		t.Errorf("ls /bin in the image: got %q, want it to list busybox", out)
	}
	if !strings.HasSuffix(out, "guest1\n") {
		t.Errorf("cat /etc/hostname in the image: got %q, want it to end in guest1", out)
	}
	// Applets across the tree work, and users resolve.
	if got := inChroot(t, img.Rootfs, "/usr/bin/id", "-u", "www-data"); got != "33\n" {
		t.Errorf("id -u www-data: got %q, want %q", got, "33\n")
	}
	if got := inChroot(t, img.Rootfs, "/bin/cat", "/etc/vinit/units/web.yaml"); got != "name: web\n" {
		t.Errorf("copied unit: got %q, want %q", got, "name: web\n")
	}

	checks := []struct {
		path string
		mode fs.FileMode // type and permission bits
	}{
		{"tmp", fs.ModeDir | fs.ModeSticky | 0o777},
		{"root", fs.ModeDir | 0o700},
		{"proc", fs.ModeDir | 0o555},
		{"var/log/vinit", fs.ModeDir | 0o755},
		{"etc/shadow", 0o600},
		{"etc/vinit/units/web.yaml", 0o644},
		{"sbin/vinit", 0o755},
		{"bin/busybox", 0o755},
		{"usr/bin/wget", fs.ModeSymlink | 0o777},
	}
	for _, c := range checks {
		fi, err := os.Lstat(filepath.Join(img.Rootfs, c.path))
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if got := fi.Mode() & (fs.ModeType | fs.ModePerm | fs.ModeSticky); got != c.mode {
			t.Errorf("/%s: got mode %v, want %v", c.path, got, c.mode)
		}
	}
	if fi, err := os.Stat(filepath.Join(img.Rootfs, "sbin/vinit")); err == nil && fi.Size() != 0 {
		t.Errorf("/sbin/vinit: got size %d, want an empty mount point", fi.Size())
	}
	// The host's busybox is built for the host.
	if got, want := img.Manifest.Arch, runtime.GOARCH; got != want {
		t.Errorf("manifest arch: got %q, want %q", got, want)
	}
	if !strings.HasPrefix(img.Manifest.Source, "busybox 1.") || !strings.HasSuffix(img.Manifest.Source, " from /bin/busybox") {
		t.Errorf("manifest source: got %q, want \"busybox 1.x from /bin/busybox\"", img.Manifest.Source)
	}
}

func TestBuildBusyboxRefusesDynamic(t *testing.T) {
	s := Open(t.TempDir(), nil)
	// The test binary itself is an ELF; /bin/ls on Debian is dynamic.
	_, err := s.BuildBusybox("dyn", BusyboxOptions{Busybox: "/bin/ls"})
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("BuildBusybox with /bin/ls: got %v, want a \"dynamically linked\" error", err)
	}
	_, err = s.BuildBusybox("missing", BusyboxOptions{Busybox: "/nonexistent/busybox"})
	if err == nil || !strings.Contains(err.Error(), "apt-get install busybox-static") {
		t.Fatalf("BuildBusybox with a missing binary: got %v, want advice to install busybox-static", err)
	}
	assertEmptyStore(t, s)
}

func TestBuildExistingFails(t *testing.T) {
	requireRoot(t)
	s, img := buildTestImage(t, "bb", BusyboxOptions{})
	marker := filepath.Join(img.Rootfs, "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.BuildBusybox("bb", BusyboxOptions{Hostname: "other"})
	if !errors.Is(err, ErrExist) {
		t.Fatalf("second BuildBusybox: got %v, want ErrExist", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the existing image changed: %v", err)
	}
	if got := s.mustGet(t, "bb").Manifest.Hostname; got != "bb" {
		t.Errorf("manifest hostname: got %q, want %q (unchanged)", got, "bb")
	}
}

func TestBuildFailureLeavesNothing(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	s := Open(filepath.Join(t.TempDir(), "images"), nil)
	var staged string
	testHookBeforeCommit = func(dir string) error {
		staged = dir
		if _, err := os.Stat(filepath.Join(dir, "rootfs/bin/busybox")); err != nil {
			t.Errorf("hook ran before the rootfs was staged: %v", err)
		}
		return errors.New("injected failure")
	}
	t.Cleanup(func() { testHookBeforeCommit = nil })
	_, err := s.BuildBusybox("bb", BusyboxOptions{})
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("BuildBusybox: got %v, want the injected failure", err)
	}
	if staged == "" {
		t.Fatal("the hook never ran")
	}
	assertEmptyStore(t, s)
}

// TestBuildKilledLeavesNoImage kills a real build process after it staged
// its image and before the rename, then checks that no image appeared and
// that the next build removes the staging directory.
func TestBuildKilledLeavesNoImage(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	dir := filepath.Join(t.TempDir(), "images")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=build-and-hang", "HELPER_STORE="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "staged ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: got %q, %v, want a \"staged DIR\" line", line, err)
	}
	stagingDir := strings.TrimSpace(strings.TrimPrefix(line, "staged "))

	s := Open(dir, nil)
	// While the builder lives, Clean must leave its staging directory alone.
	if err := s.Clean(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stagingDir); err != nil {
		t.Fatalf("Clean removed a live build's staging directory: %v", err)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := s.Get("victim"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Get after a killed build: got %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(stagingDir); err != nil {
		t.Fatalf("staging directory of the killed build: %v, want it still there until the next build", err)
	}
	if _, err := s.BuildBusybox("next", BusyboxOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stagingDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("staging directory after the next build: got %v, want it removed", err)
	}
	if _, err := s.Get("victim"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Get victim: got %v, want ErrNotExist", err)
	}
}

const helperEnv = "VHOST_IMAGES_TEST_HELPER"

// TestMain lets the test binary play a build process that hangs, for
// TestBuildKilledLeavesNoImage.
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "build-and-hang":
		testHookBeforeCommit = func(dir string) error {
			fmt.Printf("staged %s\n", dir)
			for {
				time.Sleep(time.Hour) // until killed
			}
		}
		_, err := Open(os.Getenv("HELPER_STORE"), nil).BuildBusybox("victim", BusyboxOptions{})
		fmt.Fprintf(os.Stderr, "helper: build returned %v\n", err)
		os.Exit(1)
	}
}
