package images

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDiskUsageCountsHardLinksOnce(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 100_000)
	a := filepath.Join(dir, "a")
	if err := os.WriteFile(a, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := DiskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"b", "c"} {
		if err := os.Link(a, filepath.Join(dir, l)); err != nil {
			t.Fatal(err)
		}
	}
	after, err := DiskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("after two hard links: got %+v, want %+v (unchanged)", after, before)
	}
	if before.Apparent < int64(len(data)) || before.Inodes != 2 {
		t.Errorf("got %+v, want apparent ≥ %d and 2 inodes (dir, a)", before, len(data))
	}

	if err := os.WriteFile(filepath.Join(dir, "d"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	more, err := DiskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := more.Apparent-before.Apparent, int64(len(data)); got != want {
		t.Errorf("a second file: apparent grew by %d, want %d", got, want)
	}
}
