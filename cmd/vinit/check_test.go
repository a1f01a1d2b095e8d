package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var checkBin struct {
	once sync.Once
	path string
	err  error
}

// checkVinit builds vinit once for the check tests.
func checkVinit(t *testing.T) string {
	t.Helper()
	checkBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "vinit-check-test-")
		if err != nil {
			checkBin.err = err
			return
		}
		checkBin.path = filepath.Join(dir, "vinit")
		cmd := exec.Command("go", "build", "-o", checkBin.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			checkBin.err = errors.New(string(out))
		}
	})
	if checkBin.err != nil {
		t.Fatalf("build vinit: %v", checkBin.err)
	}
	return checkBin.path
}

func TestCheck(t *testing.T) {
	bin := checkVinit(t)
	tests := []struct {
		name       string
		files      map[string]string // nil: no directory
		args       []string          // after "check"; "DIR" is replaced
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{
			name: "ok",
			files: map[string]string{
				"db.yaml":  "exec: /usr/sbin/db\n",
				"app.yaml": "exec: /srv/app\nrequires: [db]\n",
				"log.yaml": "exec: /sbin/log\nbefore: [db]\n",
			},
			args:       []string{"DIR"},
			wantStdout: "3 units OK\nstart order: log db app\n",
		},
		{
			name:       "one",
			files:      map[string]string{"db.yaml": "exec: /usr/sbin/db\n"},
			args:       []string{"DIR"},
			wantStdout: "1 unit OK\nstart order: db\n",
		},
		{
			name:       "empty directory",
			files:      map[string]string{},
			args:       []string{"DIR"},
			wantStdout: "0 units OK\n",
		},
		{
			name: "errors",
			files: map[string]string{
				"a.yaml": "exec: /bin/a\nrequires: [b]\n",
				"b.yaml": "exec: /bin/b\nafter: [a]\nbogus: 1\n",
				"c.yaml": "exec: /bin/c\nwants: [nope]\n",
			},
			args:     []string{"DIR"},
			wantCode: 1,
			wantStderr: "DIR/a.yaml:2:12: requires[0]: unit \"b\" has errors\n" +
				"DIR/b.yaml:3:1: bogus: unknown key\n" +
				"DIR/c.yaml:2:9: wants[0]: unknown unit \"nope\"\n",
		},
		{
			name:       "missing directory",
			args:       []string{"DIR"},
			wantCode:   1,
			wantStderr: "vinit check: read units directory: open DIR: no such file or directory\n",
		},
		{
			name:     "two arguments",
			files:    map[string]string{},
			args:     []string{"DIR", "DIR"},
			wantCode: 2,
		},
		{
			name:     "unknown flag",
			files:    map[string]string{},
			args:     []string{"-x", "DIR"},
			wantCode: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "units")
			if tt.files != nil {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for name, data := range tt.files {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			args := []string{"check"}
			for _, a := range tt.args {
				if a == "DIR" {
					a = dir
				}
				args = append(args, a)
			}
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if got := stdout.String(); got != tt.wantStdout {
				t.Errorf("stdout:\ngot  %q\nwant %q", got, tt.wantStdout)
			}
			got := string(bytes.ReplaceAll(stderr.Bytes(), []byte(dir), []byte("DIR")))
			if tt.wantCode == 2 {
				if !bytes.Contains(stderr.Bytes(), []byte("usage: vinit check [DIR]")) {
					t.Errorf("stderr %q does not show the usage", got)
				}
			} else if got != tt.wantStderr {
				t.Errorf("stderr:\ngot  %q\nwant %q", got, tt.wantStderr)
			}
		})
	}
}
