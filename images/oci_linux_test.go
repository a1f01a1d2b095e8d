package images

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vservers/vserver/units"
)

// testLayout is an OCI image layout being written by a test.
type testLayout struct {
	dir    string
	layers []ocispec.Descriptor
	diffs  []digest.Digest
}

func newLayout(t *testing.T) *testLayout {
	t.Helper()
	l := &testLayout{dir: filepath.Join(t.TempDir(), "layout")}
	if err := os.MkdirAll(filepath.Join(l.dir, "blobs/sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *testLayout) blob(t *testing.T, b []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(b)
	if err := os.WriteFile(filepath.Join(l.dir, "blobs/sha256", d.Encoded()), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// layer adds a gzip layer of entries.
func (l *testLayout) layer(t *testing.T, entries ...entry) {
	t.Helper()
	plain := makeTar(t, entries...)
	if len(entries) > 0 && entries[0].name == "plain" { // an uncompressed layer
		d := l.blob(t, plain)
		l.layers = append(l.layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: int64(len(plain))})
		l.diffs = append(l.diffs, d)
		return
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(plain)
	zw.Close()
	d := l.blob(t, z.Bytes())
	l.layers = append(l.layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: int64(z.Len())})
	l.diffs = append(l.diffs, digest.FromBytes(plain))
}

func (l *testLayout) jsonBlob(t *testing.T, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: l.blob(t, b), Size: int64(len(b))}
}

// finish writes the config, manifest, index.json and oci-layout.
func (l *testLayout) finish(t *testing.T, c ocispec.ImageConfig) string {
	t.Helper()
	cfg := l.jsonBlob(t, ocispec.MediaTypeImageConfig, ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config:   c,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: l.diffs},
	})
	man := l.jsonBlob(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg, Layers: l.layers,
	})
	man.Annotations = map[string]string{ocispec.AnnotationRefName: "v1"}
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, Manifests: []ocispec.Descriptor{man}})
	os.WriteFile(filepath.Join(l.dir, "index.json"), idx, 0o644)
	os.WriteFile(filepath.Join(l.dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	return l.dir
}

// tree lists a rootfs as "path type" lines, leaving out what the import
// adds for vhost.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var got []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		switch rel {
		case ".", "proc", "sys", "dev", "run", "tmp", "etc/vinit", "etc/vinit/units", "var", "var/log", "var/log/vinit", "sbin", "sbin/vinit":
			return nil
		}
		kind := "file"
		switch {
		case fi.IsDir():
			kind = "dir"
		case fi.Mode()&os.ModeSymlink != 0:
			kind = "link"
		}
		got = append(got, rel+" "+kind)
		return nil
	})
	return got
}

func TestImportOCILayersWhiteoutsAndConfig(t *testing.T) {
	requireRoot(t)
	l := newLayout(t)
	l.layer(t,
		dir("etc/"), file("etc/a", "a"), file("etc/b", "b"),
		dir("keep/"), file("keep/x", "x"),
		dir("opq/"), file("opq/old", "old"), dir("opq/sub/"), file("opq/sub/old2", "old2"),
		dir("gone/"), file("gone/f", "f"),
		dir("becomesfile/"), file("becomesfile/f", "f"),
		file("becomesdir", "file"),
	)
	l.layer(t,
		file("etc/.wh.a", ""),
		file(".wh.gone", ""),
		// An entry of the same layer listed before the opaque marker stays.
		dir("opq/sub/"), file("opq/sub/new2", "new2"),
		file("opq/.wh..wh..opq", ""),
		file("opq/new", "new"),
		file("keep/y", "y"),
		file("becomesfile", "now a file"),
		dir("becomesdir/"), file("becomesdir/f", "f"),
		file(".wh.nothing-to-hide", ""),
	)
	layout := l.finish(t, ocispec.ImageConfig{
		Entrypoint:   []string{"/bin/httpd", "-f"},
		Cmd:          []string{"-p", "80"},
		Env:          []string{"PATH=/bin", "GREETING=hello world"},
		WorkingDir:   "/srv/www",
		User:         "33:33",
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
	})
	s := Open(filepath.Join(t.TempDir(), "images"), nil)
	img, err := s.ImportOCI("app", layout, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"becomesdir dir", "becomesdir/f file", "becomesfile file",
		"etc dir", "etc/b file", "etc/vinit/units/main.yaml file",
		"keep dir", "keep/x file", "keep/y file",
		"opq dir", "opq/new file", "opq/sub dir", "opq/sub/new2 file",
		"srv dir", "srv/www dir",
	}
	if diff := cmp.Diff(want, tree(t, img.Rootfs)); diff != "" {
		t.Errorf("rootfs after two layers (-want +got):\n%s", diff)
	}
	b, err := os.ReadFile(filepath.Join(img.Rootfs, MainUnit))
	if err != nil {
		t.Fatal(err)
	}
	u, err := units.Parse("main.yaml", b)
	if err != nil {
		t.Fatalf("main unit does not parse: %v\n%s", err, b)
	}
	if diff := cmp.Diff([]string{"/bin/httpd", "-f", "-p", "80"}, u.Exec); diff != "" {
		t.Errorf("exec (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"PATH=/bin", "GREETING=hello world"}, u.Env); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
	if u.User != "33" || u.Group != "33" || u.WorkingDir != "/srv/www" || u.Restart != units.RestartOnFailure {
		t.Errorf("got user %q group %q working_dir %q restart %q, want 33, 33, /srv/www, on-failure", u.User, u.Group, u.WorkingDir, u.Restart)
	}
	if !strings.Contains(u.Description, "80/tcp") {
		t.Errorf("description %q does not name the exposed port 80/tcp", u.Description)
	}
	if m := img.Manifest; m.Arch != "amd64" || !strings.HasPrefix(m.Source, "oci "+layout+" v1@sha256:") {
		t.Errorf("manifest: got arch %q source %q, want amd64 and oci %s v1@sha256:...", m.Arch, m.Source, layout)
	}
}

func TestImportOCIRefuses(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		mangle  func(t *testing.T, l *testLayout) // after finish
		entries [][]entry
		want    string
	}{
		{
			name:    "layer blob altered",
			entries: [][]entry{{file("plain", ""), file("a", "secret")}},
			mangle: func(t *testing.T, l *testLayout) {
				p := filepath.Join(l.dir, "blobs/sha256", l.layers[0].Digest.Encoded())
				b, _ := os.ReadFile(p)
				os.WriteFile(p, bytes.Replace(b, []byte("secret"), []byte("SECRET"), 1), 0o644)
			},
			want: "does not match its digest",
		},
		{
			name:    "gzip layer altered",
			entries: [][]entry{{file("a", "a")}},
			mangle: func(t *testing.T, l *testLayout) {
				p := filepath.Join(l.dir, "blobs/sha256", l.layers[0].Digest.Encoded())
				b, _ := os.ReadFile(p)
				b[len(b)-5] ^= 0xff // gzip's CRC catches this before the digest does
				os.WriteFile(p, b, 0o644)
			},
			want: "layer 0",
		},
		{
			name:    "layer blob truncated",
			entries: [][]entry{{file("a", "a")}},
			mangle: func(t *testing.T, l *testLayout) {
				p := filepath.Join(l.dir, "blobs/sha256", l.layers[0].Digest.Encoded())
				b, _ := os.ReadFile(p)
				os.WriteFile(p, b[:len(b)-1], 0o644)
			},
			want: "layer 0",
		},
		{
			name:    "manifest altered",
			entries: [][]entry{{file("a", "a")}},
			mangle: func(t *testing.T, l *testLayout) {
				var idx ocispec.Index
				b, _ := os.ReadFile(filepath.Join(l.dir, "index.json"))
				json.Unmarshal(b, &idx)
				p := filepath.Join(l.dir, "blobs/sha256", idx.Manifests[0].Digest.Encoded())
				m, _ := os.ReadFile(p)
				os.WriteFile(p, bytes.Replace(m, []byte(`"schemaVersion":2`), []byte(`"schemaVersion":3`), 1), 0o644)
			},
			want: "content has digest",
		},
		{
			name:    "symlink escape across layers",
			entries: [][]entry{{symlink("evil", "/etc")}, {file("evil/passwd", "x")}},
			want:    "resolves outside the rootfs",
		},
		{
			name:    "whiteout through a symlink",
			entries: [][]entry{{symlink("evil", "../../..")}, {file("evil/.wh.etc", "")}},
			want:    "resolves outside the rootfs",
		},
		{
			name:    "dot-dot whiteout",
			entries: [][]entry{{file("a", "a")}, {file("../.wh.x", "")}},
			want:    `".." component`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := newSandbox(t)
			before := sb.snapshot(t)
			l := newLayout(t)
			for _, es := range tt.entries {
				l.layer(t, es...)
			}
			layout := l.finish(t, ocispec.ImageConfig{Cmd: []string{"/bin/true"}})
			if tt.mangle != nil {
				tt.mangle(t, l)
			}
			_, err := sb.s.ImportOCI("bad", layout, ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ImportOCI: got %v, want an error containing %q", err, tt.want)
			}
			assertEmptyStore(t, sb.s)
			if after := sb.snapshot(t); after != before {
				t.Errorf("outside the store changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// TestImportDockerArchive imports the format of docker save before Docker
// 25: ID.json configs, LAYERID/layer.tar, a repeated layer as a symlink.
func TestImportDockerArchive(t *testing.T) {
	requireRoot(t)
	l1 := makeTar(t, dir("bin/"), file("bin/app", "APPCONTENT"), file("bin/old", "old"))
	l2 := makeTar(t, file("bin/.wh.old", ""))
	cfg, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config:   ocispec.ImageConfig{Cmd: []string{"/bin/app"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(l1), digest.FromBytes(l2), digest.FromBytes(l1)}},
	})
	id := digest.FromBytes(cfg).Encoded()
	man, _ := json.Marshal([]dockerEntry{{Config: id + ".json", RepoTags: []string{"app:1"}, Layers: []string{"l1/layer.tar", "l2/layer.tar", "l3/layer.tar"}}})
	archive := makeTar(t,
		file("manifest.json", string(man)), file(id+".json", string(cfg)),
		dir("l1/"), file("l1/layer.tar", string(l1)),
		dir("l2/"), file("l2/layer.tar", string(l2)),
		dir("l3/"), symlink("l3/layer.tar", "../l1/layer.tar"),
	)
	p := filepath.Join(t.TempDir(), "app.tar")
	os.WriteFile(p, archive, 0o644)
	if ok, err := IsOCI(p); !ok || err != nil {
		t.Fatalf("IsOCI(docker save archive): got %v, %v, want true", ok, err)
	}
	s := Open(filepath.Join(t.TempDir(), "images"), nil)
	img, err := s.ImportOCI("app", p, ImportOptions{Ref: "app:1"})
	if err != nil {
		t.Fatal(err)
	}
	// The third layer (l1 again) brings bin/old back.
	if diff := cmp.Diff([]string{"bin dir", "bin/app file", "bin/old file", "etc dir", "etc/vinit/units/main.yaml file"}, tree(t, img.Rootfs)); diff != "" {
		t.Errorf("rootfs (-want +got):\n%s", diff)
	}

	t.Run("wrong diff_id", func(t *testing.T) {
		bad := bytes.Replace(archive, []byte("APPCONTENT"), []byte("appcontent"), 1)
		p := filepath.Join(t.TempDir(), "bad.tar")
		os.WriteFile(p, bad, 0o644)
		if _, err := s.ImportOCI("bad", p, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "does not match its digest") {
			t.Fatalf("got %v, want a digest mismatch", err)
		}
		if _, err := s.Get("bad"); err == nil {
			t.Error("a failed import left an image")
		}
	})
}

func TestExportOCIImageRoundTrip(t *testing.T) {
	requireRoot(t)
	s, _ := buildTestImage(t, "bb", BusyboxOptions{})
	vinit := DefaultBusybox // any static binary will do as the payload
	for _, dst := range []string{"layout", "layout.tar"} {
		t.Run(dst, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), dst)
			if err := s.ExportOCIImage("bb", p, OCIImageOptions{Vinit: vinit}); err != nil {
				t.Fatal(err)
			}
			if err := s.ExportOCIImage("bb", p, OCIImageOptions{Vinit: vinit}); err == nil {
				t.Error("a second export to the same path succeeded, want it refused")
			}
			back := "back-" + strings.ReplaceAll(dst, ".", "-")
			img, err := s.ImportOCI(back, p, ImportOptions{Ref: "latest"})
			if err != nil {
				t.Fatal(err)
			}
			// The entrypoint is vinit: no main unit, the image's units stay.
			if _, err := os.Lstat(filepath.Join(img.Rootfs, MainUnit)); !os.IsNotExist(err) {
				t.Errorf("main unit after importing a vinit image: %v, want none", err)
			}
			got, _ := os.ReadFile(filepath.Join(img.Rootfs, "sbin/vinit"))
			want, _ := os.ReadFile(vinit)
			if !bytes.Equal(got, want) {
				t.Errorf("/sbin/vinit: %d bytes, want the %d of %s", len(got), len(want), vinit)
			}
			if target, err := os.Readlink(filepath.Join(img.Rootfs, "bin/ls")); err != nil || target != "/bin/busybox" {
				t.Errorf("bin/ls: got %q, %v, want a link to /bin/busybox", target, err)
			}
			if fi, err := os.Stat(filepath.Join(img.Rootfs, "etc/shadow")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("etc/shadow: %v, %v, want mode 0600", fi, err)
			}
		})
	}
}

// Layout tar entries are found however the archive spells them.
func TestTarFilesNames(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(p, makeTar(t, file("./oci-layout", "1"), file("/index.json", "2"), file("../evil", "3"),
		symlink("blobs/link", "../oci-layout"), symlink("loop", "loop")), 0o644)
	f, err := openTarFiles(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, want := range map[string]bool{"oci-layout": true, "index.json": true, "blobs/link": true, "evil": false, "../evil": false, "loop": false} {
		if got := f.exists(name); got != want {
			t.Errorf("exists(%q): got %v, want %v", name, got, want)
		}
	}
}
