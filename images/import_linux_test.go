package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
)

// entry is one tar entry for a test archive.
type entry struct {
	name, link string
	typ        byte
	body       string
	mode       int64
	uid, gid   int
	major      int64
	minor      int64
}

func file(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, body: body, mode: 0o644}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) entry {
	return entry{name: name, typ: tar.TypeSymlink, link: to, mode: 0o777}
}
func hardlink(name, to string) entry { return entry{name: name, typ: tar.TypeLink, link: to} }

var testMtime = time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)

// makeTar returns a tar archive of entries.
func makeTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, Size: int64(len(e.body)), ModTime: testMtime,
			Devmajor: e.major, Devminor: e.minor, Format: tar.FormatPAX,
		}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sandbox is a temp dir holding a store and, next to it, a directory
// "outside" with a canary file that no import may touch.
type sandbox struct {
	base, outside, canary string
	s                     *Store
}

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	base := t.TempDir()
	sb := &sandbox{base: base, outside: filepath.Join(base, "outside"), canary: filepath.Join(base, "outside", "canary")}
	if err := os.Mkdir(sb.outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sb.canary, []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The store exists beforehand: creating it would change base's link count.
	sb.s = Open(filepath.Join(base, "images"), nil)
	if err := os.Mkdir(sb.s.Dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	return sb
}

// snapshot describes every file under the sandbox except the store: path,
// type, mode, link count, owner and content hash.
func (sb *sandbox) snapshot(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(sb.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == sb.s.Dir() {
			return fs.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&b, "%s %v nlink=%d uid=%d", p, fi.Mode(), st.Nlink, st.Uid)
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " sha256=%x", sha256.Sum256(data))
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// rootfsUp is the ".." path that leads ".." lead from a staging rootfs
// (STORE/.staging-X/rootfs) to the sandbox base.
const rootfsUp = "../../../"

func TestImportHostileArchives(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		entries func(sb *sandbox) []entry
		wantErr string
	}{
		{"dotdot", func(sb *sandbox) []entry {
			return []entry{file("../outside/pwned", "x")}
		}, `".." component`},
		{"dotdot nested", func(sb *sandbox) []entry {
			return []entry{dir("a/"), file("a/../../outside/pwned", "x")}
		}, `".." component`},
		{"absolute symlink parent", func(sb *sandbox) []entry {
			return []entry{symlink("evil", sb.outside), file("evil/pwned", "x")}
		}, "outside the rootfs"},
		{"relative symlink parent", func(sb *sandbox) []entry {
			return []entry{symlink("evil", rootfsUp+"outside"), file("evil/pwned", "x")}
		}, "outside the rootfs"},
		{"symlink parent of a directory", func(sb *sandbox) []entry {
			return []entry{symlink("evil", sb.outside), dir("evil/sub/")}
		}, "outside the rootfs"},
		{"chained symlinks", func(sb *sandbox) []entry {
			return []entry{dir("a/"), symlink("a/up", ".."), symlink("b", "a/up/a/up/"+rootfsUp+"outside"), file("b/pwned", "x")}
		}, "outside the rootfs"},
		{"hard link through a symlink", func(sb *sandbox) []entry {
			return []entry{symlink("evil", sb.outside), hardlink("h", "evil/canary")}
		}, "outside the rootfs"},
		{"hard link with dotdot", func(sb *sandbox) []entry {
			return []entry{hardlink("h", rootfsUp+"outside/canary")}
		}, `".." component`},
		{"hard link to an absolute host path", func(sb *sandbox) []entry {
			return []entry{hardlink("h", sb.canary)}
		}, "no such file"},
		{"device node", func(sb *sandbox) []entry {
			return []entry{{name: "dev/mem", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 1}}
		}, "device node refused"},
		{"block device", func(sb *sandbox) []entry {
			return []entry{{name: "sda", typ: tar.TypeBlock, mode: 0o666, major: 8, minor: 0}}
		}, "device node refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := newSandbox(t)
			before := sb.snapshot(t)
			archive := makeTar(t, append([]entry{file("ok", "fine")}, tt.entries(sb)...)...)
			_, err := sb.s.Import("evil", bytes.NewReader(archive), ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Import: got %v, want an error containing %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(before, sb.snapshot(t)); diff != "" {
				t.Errorf("the host changed (-before +after):\n%s", diff)
			}
			if _, err := sb.s.Get("evil"); !errors.Is(err, ErrNotExist) {
				t.Errorf("Get after a failed import: got %v, want ErrNotExist", err)
			}
			assertEmptyStore(t, sb.s)
		})
	}
}

// A symbolic link the archive replaces with a file is replaced, never
// written through.
func TestImportReplacesSymlinkNotTarget(t *testing.T) {
	requireRoot(t)
	sb := newSandbox(t)
	before := sb.snapshot(t)
	archive := makeTar(t, symlink("f", sb.canary), file("f", "guest data"), symlink("d", sb.outside), dir("d/"))
	img, err := sb.s.Import("img", bytes.NewReader(archive), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, sb.snapshot(t)); diff != "" {
		t.Errorf("the host changed (-before +after):\n%s", diff)
	}
	if got, err := os.ReadFile(filepath.Join(img.Rootfs, "f")); err != nil || string(got) != "guest data" {
		t.Errorf("rootfs/f: got %q, %v, want %q", got, err, "guest data")
	}
	if fi, err := os.Lstat(filepath.Join(img.Rootfs, "d")); err != nil || !fi.IsDir() {
		t.Errorf("rootfs/d: got %v, %v, want a directory", fi, err)
	}
}

func TestImportDevicesAllowed(t *testing.T) {
	requireRoot(t)
	sb := newSandbox(t)
	archive := makeTar(t, entry{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3})
	img, err := sb.s.Import("img", bytes.NewReader(archive), ImportOptions{AllowDevices: true})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(img.Rootfs, "dev/null"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode()&fs.ModeCharDevice == 0 || st.Rdev != 0x103 || fi.Mode().Perm() != 0o666 {
		t.Errorf("dev/null: got mode %v rdev %#x, want a 0666 character device 1:3", fi.Mode(), st.Rdev)
	}
}

func TestImportFormats(t *testing.T) {
	requireRoot(t)
	archive := makeTar(t,
		dir("./"),
		dir("./usr/"), dir("./usr/bin/"),
		entry{name: "./usr/bin/su", typ: tar.TypeReg, body: "#!/bin/sh\n", mode: 0o4755},
		entry{name: "./home/user/notes", typ: tar.TypeReg, body: "hi", mode: 0o600, uid: 1000, gid: 1000},
		symlink("./bin", "usr/bin"),
		hardlink("./usr/bin/su2", "./usr/bin/su"),
		entry{name: "./run/fifo", typ: tar.TypeFifo, mode: 0o620},
		file("/etc/abs", "absolute names are relative to the rootfs"),
	)
	var gz, zs bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(archive)
	zw.Close()
	ze, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	ze.Write(archive)
	ze.Close()

	for _, tc := range []struct {
		name string
		data []byte
	}{{"plain", archive}, {"gzip", gz.Bytes()}, {"zstd", zs.Bytes()}} {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			path := filepath.Join(sb.base, "rootfs.tar")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			img, err := sb.s.ImportFile("img", path, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := img.Manifest.Source, "tar "+path; got != want { // path is absolute
				t.Errorf("manifest source: got %q, want %q", got, want)
			}
			checks := []struct {
				path     string
				mode     fs.FileMode
				uid      uint32
				nlink    uint64
				wantBody string
			}{
				{"usr/bin/su", 0o755 | fs.ModeSetuid, 0, 2, "#!/bin/sh\n"},
				{"home/user/notes", 0o600, 1000, 1, "hi"},
				{"bin", fs.ModeSymlink | 0o777, 0, 1, ""},
				{"run/fifo", fs.ModeNamedPipe | 0o620, 0, 1, ""},
				{"etc/abs", 0o644, 0, 1, "absolute names are relative to the rootfs"},
				{"usr/bin", fs.ModeDir | 0o755, 0, 2, ""},
			}
			for _, c := range checks {
				p := filepath.Join(img.Rootfs, c.path)
				fi, err := os.Lstat(p)
				if err != nil {
					t.Errorf("%v", err)
					continue
				}
				st := fi.Sys().(*syscall.Stat_t)
				if fi.Mode() != c.mode || st.Uid != c.uid || uint64(st.Nlink) != c.nlink {
					t.Errorf("%s: got mode %v uid %d nlink %d, want %v %d %d", c.path, fi.Mode(), st.Uid, st.Nlink, c.mode, c.uid, c.nlink)
				}
				if !fi.ModTime().Equal(testMtime) && c.path != "usr/bin" {
					t.Errorf("%s: got mtime %v, want %v", c.path, fi.ModTime(), testMtime)
				}
				if c.wantBody != "" {
					if got, _ := os.ReadFile(p); string(got) != c.wantBody {
						t.Errorf("%s: got %q, want %q", c.path, got, c.wantBody)
					}
				}
			}
			if fi, err := os.Stat(filepath.Join(img.Rootfs, "usr/bin")); err == nil && !fi.ModTime().Equal(testMtime) {
				t.Errorf("usr/bin: got mtime %v, want %v (directory times set last)", fi.ModTime(), testMtime)
			}
		})
	}
}

func TestImportRejectsGarbage(t *testing.T) {
	sb := newSandbox(t)
	for _, data := range [][]byte{[]byte("not a tar archive at all, just text that is long enough"), {0x1f, 0x8b, 0, 0}} {
		if _, err := sb.s.Import("img", bytes.NewReader(data), ImportOptions{}); err == nil {
			t.Errorf("Import(%q): got nil, want an error", data)
		}
	}
	assertEmptyStore(t, sb.s)
}

// FuzzImportTar imports arbitrary bytes and checks that, whatever the
// outcome, nothing outside the store changed and a failed import left
// nothing behind.
//
// Run it with a short -fuzzminimizetime: temporary directory names make
// coverage vary from run to run, and the default minimization (60 s per new
// input) then stalls the fuzzer:
//
//	go test -run '^$' -fuzz FuzzImportTar -fuzztime 10s -fuzzminimizetime 1s ./images/
func FuzzImportTar(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Fatal("FuzzImportTar needs root (owners, device checks); run it as root")
	}
	abs := "/tmp/vhost-fuzz-outside" // an absolute path that must never appear
	for _, seed := range [][]entry{
		{file("a", "x"), dir("d/"), symlink("l", "a"), hardlink("h", "a")},
		{file("../escape", "x")},
		{symlink("evil", abs), file("evil/pwned", "x")},
		{symlink("evil", rootfsUp+"outside"), file("evil/pwned", "x")},
		{hardlink("h", rootfsUp+"outside/canary")},
		{symlink("f", rootfsUp+"outside/canary"), file("f", "y")},
		{{name: "dev/mem", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 1}},
	} {
		f.Add(makeTar(f, seed...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sb := newSandbox(t)
		before := sb.snapshot(t)
		img, err := sb.s.Import("fz", bytes.NewReader(data), ImportOptions{})
		if diff := cmp.Diff(before, sb.snapshot(t)); diff != "" {
			t.Fatalf("the host changed (-before +after):\n%s", diff)
		}
		if _, serr := os.Lstat(abs); serr == nil {
			t.Fatalf("%s exists", abs)
		}
		if err != nil {
			assertEmptyStore(t, sb.s)
			return
		}
		filepath.WalkDir(img.Rootfs, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type()&fs.ModeDevice != 0 {
				t.Errorf("%s: a device node, though devices were not allowed", p)
			}
			return nil
		})
	})
}

// The manifest's arch comes from the image's /bin/sh, resolved inside the
// rootfs: an absolute symlink to the host's busybox is not followed on the
// host.
func TestImportArch(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	sb := newSandbox(t)
	bb, err := os.ReadFile(DefaultBusybox)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		entries []entry
		want    string
	}{
		{"busybox", []entry{dir("bin/"), {name: "bin/busybox", typ: tar.TypeReg, body: string(bb), mode: 0o755}, symlink("bin/sh", "/bin/busybox")}, runtime.GOARCH},
		{"host link", []entry{dir("bin/"), symlink("bin/sh", DefaultBusybox)}, ""},
		{"none", []entry{file("x", "")}, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := sb.s.Import(fmt.Sprint("a", i), bytes.NewReader(makeTar(t, tt.entries...)), ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if img.Manifest.Arch != tt.want {
				t.Errorf("arch: got %q, want %q", img.Manifest.Arch, tt.want)
			}
		})
	}
}

// Imports get the mount points vhost needs, and a symbolic link where the
// host mounts is refused.
func TestImportPreparesMountPoints(t *testing.T) {
	requireRoot(t)
	t.Run("added", func(t *testing.T) {
		sb := newSandbox(t)
		archive := makeTar(t, dir("usr/"), dir("usr/sbin/"), symlink("sbin", "usr/sbin"), file("etc/motd", "hi"))
		img, err := sb.s.Import("img", bytes.NewReader(archive), ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			path string
			mode fs.FileMode
		}{
			{"proc", fs.ModeDir | 0o555}, {"sys", fs.ModeDir | 0o555}, {"dev", fs.ModeDir | 0o755},
			{"run", fs.ModeDir | 0o755}, {"tmp", fs.ModeDir | fs.ModeSticky | 0o777},
			{"etc/vinit/units", fs.ModeDir | 0o755}, {"var/log/vinit", fs.ModeDir | 0o755},
			{"usr/sbin/vinit", 0o755}, // through the archive's relative sbin link
		} {
			fi, err := os.Lstat(filepath.Join(img.Rootfs, c.path))
			if err != nil {
				t.Errorf("%v", err)
			} else if fi.Mode() != c.mode {
				t.Errorf("/%s: got mode %v, want %v", c.path, fi.Mode(), c.mode)
			}
		}
	})
	for _, tt := range []struct {
		name    string
		entries func(sb *sandbox) []entry
	}{
		{"proc link", func(sb *sandbox) []entry { return []entry{symlink("proc", sb.outside)} }},
		{"relative dev link", func(sb *sandbox) []entry { return []entry{dir("etc/"), symlink("dev", "etc")} }},
		{"vinit link", func(sb *sandbox) []entry { return []entry{dir("sbin/"), symlink("sbin/vinit", sb.canary)} }},
		{"tmp file", func(sb *sandbox) []entry { return []entry{file("tmp", "")} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sb := newSandbox(t)
			before := sb.snapshot(t)
			_, err := sb.s.Import("img", bytes.NewReader(makeTar(t, tt.entries(sb)...)), ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), "prepare /") {
				t.Fatalf("Import: got %v, want a prepare error", err)
			}
			if diff := cmp.Diff(before, sb.snapshot(t)); diff != "" {
				t.Errorf("the host changed (-before +after):\n%s", diff)
			}
			assertEmptyStore(t, sb.s)
		})
	}
}
