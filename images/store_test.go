package images

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGetUnknown(t *testing.T) {
	s := Open(t.TempDir(), nil)
	_, err := s.Get("nope")
	if !errors.Is(err, ErrNotExist) {
		t.Fatalf("Get(nope): got %v, want ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Get(nope): got %q, want the name in the error", err)
	}
	if _, err := s.Get("../etc"); err == nil || errors.Is(err, ErrNotExist) {
		t.Errorf("Get(../etc): got %v, want an invalid-name error", err)
	}
}

func TestListRemove(t *testing.T) {
	requireRoot(t)
	s, _ := buildTestImage(t, "b", BusyboxOptions{})
	if _, err := s.BuildBusybox("a", BusyboxOptions{}); err != nil {
		t.Fatal(err)
	}
	// A directory that is not an image is reported, and hides nothing.
	if err := os.Mkdir(filepath.Join(s.Dir(), "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	imgs, err := s.List()
	if err == nil || !strings.Contains(err.Error(), `"broken"`) {
		t.Errorf("List: got error %v, want one naming the broken image", err)
	}
	var names []string
	for _, img := range imgs {
		names = append(names, img.Name)
	}
	if diff := cmp.Diff([]string{"a", "b"}, names); diff != "" {
		t.Errorf("List names (-want +got):\n%s", diff)
	}

	inUse := func(name string) bool { return name == "a" }
	if err := s.Remove("a", RemoveOptions{InUse: inUse}); !errors.Is(err, ErrInUse) {
		t.Fatalf("Remove(a) while in use: got %v, want ErrInUse", err)
	}
	if _, err := s.Get("a"); err != nil {
		t.Fatalf("image a after a refused Remove: %v", err)
	}
	// "broken" has no manifest and is still removable.
	for _, n := range []string{"a", "b", "broken"} {
		if err := s.Remove(n, RemoveOptions{}); err != nil {
			t.Fatalf("Remove(%s): %v", n, err)
		}
	}
	if err := s.Remove("a", RemoveOptions{}); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Remove(a) twice: got %v, want ErrNotExist", err)
	}
	imgs, err = s.List()
	if err != nil || len(imgs) != 0 {
		t.Fatalf("List after removing all: got %v, %v, want none", imgs, err)
	}
	assertEmptyStore(t, s)
}

func TestBuildRefusesBadNames(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "images"), nil)
	for _, name := range []string{"", "../etc", "a/b", ".staging-x", "UPPER"} {
		if _, err := s.BuildBusybox(name, BusyboxOptions{}); err == nil || !strings.Contains(err.Error(), "invalid image name") {
			t.Errorf("BuildBusybox(%q): got %v, want an invalid-name error", name, err)
		}
		if _, err := s.Import(name, strings.NewReader(""), ImportOptions{}); err == nil || !strings.Contains(err.Error(), "invalid image name") {
			t.Errorf("Import(%q): got %v, want an invalid-name error", name, err)
		}
		if err := s.Remove(name, RemoveOptions{}); err == nil || !strings.Contains(err.Error(), "invalid image name") {
			t.Errorf("Remove(%q): got %v, want an invalid-name error", name, err)
		}
	}
	if _, err := os.Stat(s.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("store after refused names: got %v, want it never created", err)
	}
}

func TestListMissingStore(t *testing.T) {
	imgs, err := Open(filepath.Join(t.TempDir(), "none"), nil).List()
	if err != nil || len(imgs) != 0 {
		t.Fatalf("List of a missing store: got %v, %v, want nothing", imgs, err)
	}
}
