package quota

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (mount, losetup, quotactl); run it as root")
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// mountXFS makes a sparse file, formats it as XFS, and mounts it through a
// loop device with options; the mount and the loop device are removed at
// the end of the test, whatever happens.
func mountXFS(t *testing.T, options string) string {
	t.Helper()
	return mountFS(t, "xfs", []string{"-q"}, options)
}

// mountFS makes a sparse image file, a filesystem of fstype on it (mkfs
// with mkfsArgs) and mounts it with options, all undone at the test's end.
func mountFS(t *testing.T, fstype string, mkfsArgs []string, options string) string {
	t.Helper()
	requireRoot(t)
	if _, err := exec.LookPath("mkfs." + fstype); err != nil {
		t.Fatalf("mkfs.%s missing: apt-get install -y xfsprogs e2fsprogs", fstype)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "xfs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	// 300 MiB is the smallest filesystem mkfs.xfs makes; sparse, it costs
	// a few megabytes.
	if err := f.Truncate(300 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run(t, "mkfs."+fstype, append(mkfsArgs, img)...)
	loop := run(t, "losetup", "--find", "--show", img)
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", loop).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v\n%s", loop, err, out)
		}
	})
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-t", fstype, loop, mnt}
	if options != "" {
		args = append([]string{"-o", options}, args...)
	}
	run(t, "mount", args...)
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return mnt
}

// fill writes n bytes to a new file p and syncs it, returning how many
// bytes were written and the first error.
func fill(path string, n int) (int, error) {
	// As a guest would: without CAP_SYS_RESOURCE, which lets a process
	// past the hard limits of VFS quotas (ext4's; xfs has no such rule).
	cmd := exec.Command("setpriv", "--bounding-set=-sys_resource", "--inh-caps=-sys_resource", "--",
		"dd", "if=/dev/zero", "of="+path, "bs=64k", fmt.Sprintf("count=%d", (n+65535)/65536), "conv=fsync", "status=none")
	out, err := cmd.CombinedOutput()
	var written int
	if fi, serr := os.Stat(path); serr == nil {
		written = int(fi.Size())
	}
	switch {
	case err == nil:
		return written, nil
	case bytes.Contains(out, []byte("Disk quota exceeded")):
		return written, syscall.EDQUOT
	case bytes.Contains(out, []byte("No space left on device")):
		return written, syscall.ENOSPC
	}
	return written, fmt.Errorf("%v: %s", err, out)
}

// noKernelQuota is the reason Supported gives on a kernel built without
// quota support for the filesystem (this build machine's kernel lacks
// CONFIG_XFS_QUOTA and CONFIG_QUOTA).
const noKernelQuota = "no quota support in this kernel"

func TestLimitOnXFS(t *testing.T) {
	requireRoot(t)
	// Nothing can be enforced on a kernel without xfs quotas: say so and
	// skip (the VM's stock Debian kernel has them, and scripts/vmtest.sh
	// fails on a skip there); the refusal is TestUnsupportedFilesystems.
	// (An xfs mounted without prjquota answers ENOSYS too, so the probe is
	// the kernel's own: /proc/fs/xfs/xqmstat exists with CONFIG_XFS_QUOTA.)
	probe := mountXFS(t, "")
	if _, err := os.Stat("/proc/fs/xfs/xqmstat"); err != nil {
		t.Skipf("SKIPPED, NOT PASSED: this kernel has no xfs quotas (no /proc/fs/xfs/xqmstat): %v", Supported(probe))
	}
	testLimit(t, mountXFS(t, "prjquota"))
}

// An ext4 made with the quota and project features holds project quotas
// on kernels with CONFIG_QUOTA (this build machine's has it).
func TestLimitOnExt4(t *testing.T) {
	if cfg, ok := kernelConfig(); ok && !strings.Contains(cfg, "\nCONFIG_QFMT_V2=y") {
		t.Skip("SKIPPED, NOT PASSED: this kernel lacks CONFIG_QFMT_V2, which ext4 quotas need (the VM of scripts/vmtest.sh has it)")
	}
	testLimit(t, mountFS(t, "ext4", []string{"-q", "-O", "quota,project", "-E", "quotatype=prjquota"}, "prjquota"))
}

// kernelConfig is the running kernel's build config, where it tells.
func kernelConfig() (string, bool) {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return "", false
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return "", false
	}
	b, err := io.ReadAll(z)
	return "\n" + string(b), err == nil
}

func testLimit(t *testing.T, mnt string) {
	t.Helper()
	if err := Supported(mnt); err != nil {
		t.Fatalf("Supported on %s with prjquota: %v", mnt, err)
	}
	limited := filepath.Join(mnt, "vserver1")
	other := filepath.Join(mnt, "vserver2")
	for _, d := range []string{limited, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const limit = 4 << 20
	if err := SetLimit(limited, 1001, limit); err != nil {
		t.Fatal(err)
	}

	// Below it: a subdirectory made later inherits the project.
	sub := filepath.Join(limited, "var/lib")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if id, err := ProjectID(sub); err != nil || id != 1001 {
		t.Errorf("project of %s: got %d, %v, want 1001 (inherited)", sub, id, err)
	}
	n, err := fill(filepath.Join(sub, "big"), 2*limit)
	// ext4 says EDQUOT; xfs says ENOSPC for project quotas, as if the
	// tree were a filesystem of its own.
	if !errors.Is(err, syscall.EDQUOT) && !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("writing %d bytes under a %d-byte limit: wrote %d, got %v, want EDQUOT or ENOSPC", 2*limit, limit, n, err)
	}
	if n > limit {
		t.Errorf("wrote %d bytes under a %d-byte limit", n, limit)
	}
	u, err := Get(limited, 1001)
	if err != nil {
		t.Fatal(err)
	}
	if u.LimitBytes != limit {
		t.Errorf("limit: got %d, want %d", u.LimitBytes, limit)
	}
	if u.Bytes == 0 || u.Bytes > limit {
		t.Errorf("usage: got %d bytes, want between 1 and %d", u.Bytes, limit)
	}
	if u.Inodes < 3 { // vserver1, var, lib, big
		t.Errorf("inodes: got %d, want at least 3", u.Inodes)
	}

	// Another tree is not held to it.
	if n, err := fill(filepath.Join(other, "big"), 2*limit); err != nil {
		t.Errorf("writing %d bytes outside the project: wrote %d, %v", 2*limit, n, err)
	}

	// Raising the limit lets writes go on; removing the file frees it.
	if err := SetLimit(limited, 1001, 16<<20); err != nil {
		t.Fatal(err)
	}
	if n, err := fill(filepath.Join(sub, "big2"), 2*limit); err != nil {
		t.Errorf("writing %d bytes after raising the limit to 16 MiB: wrote %d, %v", 2*limit, n, err)
	}
	before, _ := Get(limited, 1001)
	os.Remove(filepath.Join(sub, "big2"))
	after, err := Get(limited, 1001)
	if err != nil || after.Bytes >= before.Bytes {
		t.Errorf("usage after removing a file: got %d (%v), want below %d", after.Bytes, err, before.Bytes)
	}

	if err := SetLimit(limited, 0, limit); err == nil {
		t.Error("SetLimit with project id 0 succeeded, want it refused")
	}
	if u, err := Get(limited, 4242); err != nil || u != (Usage{}) {
		t.Errorf("unused project: got %+v, %v, want zero usage", u, err)
	}
}

func TestUnsupportedFilesystems(t *testing.T) {
	requireRoot(t)
	tmpfs := t.TempDir()
	run(t, "mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", tmpfs)
	t.Cleanup(func() {
		if err := syscall.Unmount(tmpfs, 0); err != nil {
			t.Errorf("unmount %s: %v", tmpfs, err)
		}
	})
	noQuota := mountXFS(t, "")
	tests := []struct {
		name, dir string
		want      []string // any of these: the second is the reason on a kernel without quotas
	}{
		{"tmpfs", tmpfs, []string{"tmpfs holds"}},
		{"xfs mounted without prjquota", noQuota, []string{"mount it with -o prjquota", noKernelQuota}},
		// The build machine's root fs: ext4 without the project feature.
		{"root filesystem", t.TempDir(), []string{"project quotas are off", noKernelQuota}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Supported(tt.dir)
			if !errors.Is(err, ErrUnsupported) || !slices.ContainsFunc(tt.want, func(w string) bool { return strings.Contains(err.Error(), w) }) {
				t.Fatalf("Supported: got %v, want ErrUnsupported saying one of %q", err, tt.want)
			}
			t.Log(err)
			err = SetLimit(tt.dir, 1001, 1<<20)
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("SetLimit: got %v, want ErrUnsupported", err)
			}
			if id, _ := ProjectID(tt.dir); id != 0 {
				t.Errorf("a refused SetLimit left project id %d on %s", id, tt.dir)
			}
		})
	}
}
