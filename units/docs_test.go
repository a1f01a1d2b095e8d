package units

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDocExamples loads the example units of docs/units.md (the YAML blocks
// that start with "# /etc/vinit/units/NAME.yaml") as one directory: they
// must be valid, and their start order must be the one the page shows.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/units.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n# /etc/vinit/units/([^\n]+)\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 4 {
		t.Fatalf("found %d example units in docs/units.md, want at least 4", len(blocks))
	}
	dir := t.TempDir()
	for _, b := range blocks {
		if err := os.WriteFile(filepath.Join(dir, b[1]), []byte(b[2]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := LoadDir(dir)
	if err != nil {
		t.Fatalf("the examples of docs/units.md do not load:\n%v", err)
	}
	m := regexp.MustCompile(`(\d+) units OK\nstart order: ([^\n]+)`).FindStringSubmatch(string(doc))
	if m == nil {
		t.Fatal("docs/units.md shows no vinit check output with a start order")
	}
	if got := strings.Join(s.Order(), " "); got != m[2] {
		t.Errorf("start order of the examples = %q, docs/units.md says %q", got, m[2])
	}
	if m[1] != strconv.Itoa(s.Len()) {
		t.Errorf("the examples are %d units, docs/units.md says %s", s.Len(), m[1])
	}
}
