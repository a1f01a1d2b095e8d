package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestLinksNoSlog: nothing vinit links imports log/slog, whose init links
// encoding/json's encoder (about 300 KB of pages resident in every guest);
// vinit's packages log through internal/logfmt.
func TestLinksNoSlog(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if slices.Contains(deps, "log/slog") {
		imp, _ := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, ".").Output()
		var by []string
		for line := range strings.Lines(string(imp)) {
			if slices.Contains(strings.Fields(line)[1:], "log/slog") {
				by = append(by, strings.TrimSuffix(strings.Fields(line)[0], ":"))
			}
		}
		t.Errorf("vinit links log/slog, imported by %s", strings.Join(by, ", "))
	}
	if !slices.Contains(deps, "github.com/vservers/vserver/internal/logfmt") {
		t.Errorf("vinit does not link internal/logfmt: is this test still in cmd/vinit?")
	}
}
