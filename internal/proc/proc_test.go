package proc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and a ')' of its own.
	line := "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615"
	st, err := parseStat(4242, line)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stat{State: 'S', PPid: 1, Pgrp: 4242, Session: 4242, StartTime: 987654}); st != want {
		t.Fatalf("got %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2"} {
		if _, err := parseStat(1, bad); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func TestReadStatOfSelf(t *testing.T) {
	st, err := ReadStat(os.Getpid())
	if err != nil || st.State != 'R' || st.PPid != os.Getppid() || st.StartTime == 0 {
		t.Fatalf("ReadStat(self) = %+v, %v", st, err)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), nil, 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	tests := []struct {
		file string
		env  []string
		want string
		err  bool
	}{
		{"tool", []string{"PATH=/nonexistent:" + dir}, exe, false},
		{"tool", []string{"PATH=/a", "PATH=" + dir}, exe, false}, // the last PATH counts, as in os/exec
		{"data", []string{"PATH=" + dir}, "", true},              // not executable
		{"sub", []string{"PATH=" + dir}, "", true},               // a directory
		{"sh", nil, "/usr/bin/sh", false},                        // DefaultPath
		{"./rel/x", nil, "./rel/x", false},                       // with a slash: as is
		{"nosuch-command", []string{"PATH=" + dir}, "", true},
	}
	for _, tt := range tests {
		got, err := LookPath(tt.file, tt.env)
		if tt.err {
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("LookPath(%q, %q) = %q, %v; want an os.ErrNotExist", tt.file, tt.env, got, err)
			}
			continue
		}
		if got != tt.want && !(tt.file == "sh" && got == "/bin/sh") {
			t.Errorf("LookPath(%q, %q) = %q, %v; want %q", tt.file, tt.env, got, err, tt.want)
		}
	}
}
