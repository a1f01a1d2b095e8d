package images

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHostMirror(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // relative to the apt dir
		want  string
	}{
		{"deb822 prefers the plain suite", map[string]string{
			"sources.list.d/debian.sources": "Types: deb\n# http://snapshot.example/archive\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n\n" +
				"Types: deb deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n",
		}, "http://mirror.example/debian"},
		{"deb822 disabled and deb-src skipped", map[string]string{
			"sources.list.d/a.sources": "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\nTypes: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n",
			"sources.list.d/b.sources": "Types: deb\nURIs: http://on.example/debian\nSuites: bookworm\n",
		}, "http://on.example/debian"},
		{"one-line with options", map[string]string{
			"sources.list": "# deb http://commented.example/debian bookworm main\n" +
				"deb-src http://src.example/debian bookworm main\n" +
				"deb [arch=amd64 signed-by=/k.gpg] http://line.example/debian bookworm main\n",
		}, "http://line.example/debian"},
		{"only security", map[string]string{
			"sources.list": "deb http://sec.example/debian-security bookworm-security main\n",
		}, "http://sec.example/debian-security"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := HostMirror(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("HostMirror: got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := HostMirror(t.TempDir()); err == nil {
		t.Error("HostMirror of an empty apt dir: got nil, want an error")
	}
}
