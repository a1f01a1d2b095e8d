package units

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/tools/txtar"

	"github.com/vservers/vserver/internal/strictyaml"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/*.txtar")

// TestGolden loads each testdata/*.txtar as a units directory (every file but
// "want"; a file name ending in / makes a directory, "NAME -> TARGET" a
// symbolic link) and compares what
// LoadDir says with the want section: the errors, one per line, then the
// start order, then for each unit of the set its predecessors and
// dependents, and, when the archive holds a single valid unit, that unit as
// JSON.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.txtar")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var want []byte
			wantAt := -1
			for i, f := range ar.Files {
				if f.Name == "want" {
					want, wantAt = f.Data, i
					continue
				}
				if name, target, ok := strings.Cut(f.Name, " -> "); ok {
					if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
						t.Fatal(err)
					}
					continue
				}
				path := filepath.Join(dir, f.Name)
				if strings.HasSuffix(f.Name, "/") {
					if err := os.MkdirAll(path, 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.WriteFile(path, f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := loadReport(t, dir)
			if *update {
				if wantAt < 0 {
					ar.Files = append(ar.Files, txtar.File{Name: "want"})
					wantAt = len(ar.Files) - 1
				}
				ar.Files[wantAt].Data = got
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if wantAt < 0 {
				t.Fatalf("%s has no want section; run go test -update", file)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("LoadDir of %s:\ngot:\n%s\nwant:\n%s", file, got, want)
			}
		})
	}
}

func loadReport(t *testing.T, dir string) []byte {
	t.Helper()
	s, err := LoadDir(dir)
	var b bytes.Buffer
	if err != nil {
		var es strictyaml.Errors
		if !errors.As(err, &es) {
			t.Fatalf("LoadDir error is %T, want strictyaml.Errors: %v", err, err)
		}
		b.WriteString(strings.ReplaceAll(err.Error(), dir+"/", ""))
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "order: %s\n", strings.Join(s.Order(), " "))
	for _, n := range s.Order() {
		fmt.Fprintf(&b, "%s: predecessors [%s] dependents [%s]\n", n,
			strings.Join(s.Predecessors(n), " "), strings.Join(s.Dependents(n), " "))
	}
	if err == nil && s.Len() == 1 {
		u := s.Get(s.Names()[0])
		u2 := *u
		u2.File = strings.TrimPrefix(u.File, dir+"/")
		j, err := json.MarshalIndent(jsonValue(reflect.ValueOf(u2)), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteString("\n")
	}
	return b.Bytes()
}

// jsonValue turns v into something encoding/json prints readably: durations
// and signals as the unit format writes them, the umask in octal.
func jsonValue(v reflect.Value) any {
	switch v.Type() {
	case reflect.TypeFor[time.Duration]():
		return time.Duration(v.Int()).String()
	case reflect.TypeFor[unix.Signal]():
		return SignalString(unix.Signal(v.Int()))
	case reflect.TypeFor[*uint32]():
		if v.IsNil() {
			return nil
		}
		return fmt.Sprintf("%03o", v.Elem().Uint())
	}
	switch v.Kind() {
	case reflect.Struct:
		m := make(map[string]any)
		for i := range v.NumField() {
			m[v.Type().Field(i).Name] = jsonValue(v.Field(i))
		}
		return m
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		m := make(map[string]any)
		for _, k := range v.MapKeys() {
			m[k.String()] = jsonValue(v.MapIndex(k))
		}
		return m
	}
	return v.Interface()
}
