package images

import (
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRemoveRefusesMounted(t *testing.T) {
	requireRoot(t)
	s, img := buildTestImage(t, "bb", BusyboxOptions{})
	proc := filepath.Join(img.Rootfs, "proc")
	if err := unix.Mount("tmpfs", proc, "tmpfs", 0, ""); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", proc, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(proc, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", proc, err)
		}
	})
	if err := s.Remove("bb", RemoveOptions{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("Remove with a mount inside: got %v, want ErrInUse", err)
	}
	if _, err := s.Get("bb"); err != nil {
		t.Fatalf("image after a refused Remove: %v", err)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/a", "/a"},
		{`/a\040b`, "/a b"},
		{`/a\134b`, `/a\b`},
		{`/a\04`, `/a\04`},
	}
	for _, tt := range tests {
		if got := unescapeMountinfo(tt.in); got != tt.want {
			t.Errorf("unescapeMountinfo(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
