package images

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// requireRoot fails the test unless it runs as root: chroot needs it, and
// CI runs these tests as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (chroot, file ownership); run it as root")
	}
}

// requireBusybox fails unless the host has a static busybox.
func requireBusybox(t *testing.T) {
	t.Helper()
	if _, err := checkBusybox(DefaultBusybox); err != nil {
		t.Fatalf("%v", err)
	}
}

// buildTestImage builds a busybox image in a fresh store.
func buildTestImage(t *testing.T, name string, opt BusyboxOptions) (*Store, *Image) {
	t.Helper()
	requireBusybox(t)
	s := Open(filepath.Join(t.TempDir(), "images"), nil)
	img, err := s.BuildBusybox(name, opt)
	if err != nil {
		t.Fatalf("BuildBusybox(%q): %v", name, err)
	}
	return s, img
}

func (s *Store) mustGet(t *testing.T, name string) *Image {
	t.Helper()
	img, err := s.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// assertEmptyStore checks that the store holds no image and no staging
// directory: nothing but, at most, its lock file.
func assertEmptyStore(t *testing.T, s *Store) {
	t.Helper()
	ents, err := os.ReadDir(s.Dir())
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != lockFile {
			t.Errorf("store holds %s, want nothing", e.Name())
		}
	}
}
