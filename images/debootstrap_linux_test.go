package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// debootstrapImage is the cached image's name; bump the suffix when
// BuildDebootstrap changes what it produces.
const debootstrapImage = "bookworm-minbase-v1"

// cachedDebootstrap returns a debootstrap-built image from a store under
// $VHOST_TEST_CACHE (default /var/cache/vhost-test), building it first if
// the cache lacks it: the build takes minutes, so it happens once per
// machine.
func cachedDebootstrap(t *testing.T) *Image {
	t.Helper()
	requireRoot(t)
	cache := os.Getenv("VHOST_TEST_CACHE")
	if cache == "" {
		cache = "/var/cache/vhost-test"
	}
	s := Open(filepath.Join(cache, "images"), nil)
	if img, err := s.Get(debootstrapImage); err == nil {
		return img
	}
	units := t.TempDir()
	if err := os.WriteFile(filepath.Join(units, "hello.yaml"), []byte("name: hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	img, err := s.BuildDebootstrap(debootstrapImage, DebootstrapOptions{Units: units, Include: []string{"netbase"}, Output: &out})
	if err != nil {
		t.Fatalf("BuildDebootstrap: %v\n%s", err, out.String())
	}
	return img
}

func TestBuildDebootstrap(t *testing.T) {
	img := cachedDebootstrap(t)
	if got := inChroot(t, img.Rootfs, "/bin/sh", "-c", "cat /etc/debian_version /etc/hostname /etc/vinit/units/hello.yaml"); !strings.HasPrefix(got, "12.") ||
		!strings.HasSuffix(got, debootstrapImage+"\nname: hello\n") {
		t.Errorf("in the image: got %q, want Debian 12, hostname %s and the unit", got, debootstrapImage)
	}
	// --include installed netbase; minbase alone would not have it.
	if got := inChroot(t, img.Rootfs, "/usr/bin/dpkg-query", "-W", "-f=${Status}", "netbase"); got != "install ok installed" {
		t.Errorf("netbase: got status %q, want installed", got)
	}
	fi, err := os.Stat(filepath.Join(img.Rootfs, "sbin/vinit"))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
		t.Errorf("/sbin/vinit: got %v, %v, want an empty regular file", fi, err)
	}
	if m, err := mountsBelow(img.Dir); err != nil || len(m) != 0 {
		t.Errorf("mounts left below the image: %v, %v", m, err)
	}
	if !strings.HasPrefix(img.Manifest.Source, "debootstrap minbase bookworm from http") || img.Manifest.Arch == "" {
		t.Errorf("manifest: got %+v, want a debootstrap source and an arch", img.Manifest)
	}
}
