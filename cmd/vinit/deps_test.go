package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// heavy are packages vinit must not link: it is PID 1 of every guest, and
// the pages of its binary are resident in every one (the kernel maps 64
// KiB around each page touched, and nearly every window is). Each line
// says what replaces the package.
var heavy = map[string]string{
	"log/slog":      "internal/logfmt: slog's init links encoding/json's encoder",
	"encoding/json": "supervisor/wire.go on internal/minijson",
	"net":           "internal/sock; no DNS resolver in PID 1",
	"net/http":      "nothing: vinit serves no HTTP",
}

// TestLinksNothingHeavy: nothing vinit links imports the packages above,
// like tailscale's deptest.
func TestLinksNothingHeavy(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	importers := map[string][]string{}
	var deps []string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		pkg := strings.TrimSuffix(f[0], ":")
		deps = append(deps, pkg)
		for _, imp := range f[1:] {
			if _, ok := heavy[imp]; ok {
				importers[imp] = append(importers[imp], pkg)
			}
		}
	}
	for pkg, instead := range heavy {
		if by := importers[pkg]; len(by) > 0 {
			t.Errorf("vinit links %s, imported by %s (use %s)", pkg, strings.Join(by, ", "), instead)
		}
	}
	for _, want := range []string{"github.com/vservers/vserver/internal/logfmt", "github.com/vservers/vserver/internal/sock", "github.com/vservers/vserver/supervisor"} {
		if !slices.Contains(deps, want) {
			t.Errorf("vinit does not link %s: is this test still in cmd/vinit?", want)
		}
	}
}
