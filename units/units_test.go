package units

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/strictyaml"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "  a  b\tc\n", want: []string{"a", "b", "c"}},
		{in: `a 'b c' "d e"`, want: []string{"a", "b c", "d e"}},
		{in: `'it''s'`, want: []string{"its"}},
		{in: `"a\"b\\c\$d"`, want: []string{`a"b\c$d`}},
		{in: `"keep \n and \x"`, want: []string{`keep \n and \x`}},
		{in: `a\ b \'c`, want: []string{"a b", "'c"}},
		{in: `''`, want: []string{""}},
		{in: `x'$HOME'"y"`, want: []string{"x$HOMEy"}},
		{in: "a\\\nb", want: []string{"ab"}},
		{in: `'open`, wantErr: "unterminated single quote (at offset 0)"},
		{in: `a "open`, wantErr: "unterminated double quote (at offset 2)"},
		{in: `a\`, wantErr: "backslash at the end of the command (at offset 1)"},
		{in: `a | b`, wantErr: "unquoted '|': no shell runs the command, so nothing is expanded or redirected; quote it, or use [sh, -c, '...'] (at offset 2)"},
		{in: `a;b`, wantErr: "unquoted ';': "},
		{in: `echo $HOME`, wantErr: "unquoted '$': "},
		{in: `echo "$HOME"`, wantErr: `'$' inside double quotes: nothing is expanded; escape it (\$) or use single quotes (at offset 6)`},
		{in: "echo `id`", wantErr: "unquoted '`': "},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := SplitWords(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("SplitWords(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("SplitWords(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("SplitWords(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want unix.Signal
		ok   bool
	}{
		{"TERM", unix.SIGTERM, true},
		{"SIGTERM", unix.SIGTERM, true},
		{"sigint", unix.SIGINT, true},
		{"hup", unix.SIGHUP, true},
		{"9", unix.SIGKILL, true},
		{"34", 34, true}, // SIGRTMIN
		{"64", 64, true},
		{"0", 0, false},
		{"65", 0, false},
		{"-1", 0, false},
		{"SIG", 0, false},
		{"NOPE", 0, false},
		{"RTMIN", 34, true},
		{"SIGRTMIN+4", 38, true}, // systemd's poweroff
		{"rtmin+30", 64, true},
		{"RTMAX-2", 62, true},
		{"RTMIN+31", 0, false},
		{"RTMIN-1", 0, false},
		{"RTMAX+1", 0, false},
		{"RTMIN+x", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSignal(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidName(t *testing.T) {
	tests := map[string]bool{
		"a": true, "web-1": true, "getty@tty1": true, "a.b_c": true, "9": true,
		"": false, "-a": false, ".a": false, "a b": false, "a/b": false, "ä": false,
		strings.Repeat("x", 64): true, strings.Repeat("x", 65): false,
	}
	for in, want := range tests {
		if got := ValidName(in); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseErrorsAreAllPositioned(t *testing.T) {
	_, err := Parse("/etc/vinit/units/web.yaml", []byte("exec: []\nkind: nope\nbogus: 1\n"))
	var es strictyaml.Errors
	if !errors.As(err, &es) {
		t.Fatalf("Parse error = %T %v, want strictyaml.Errors", err, err)
	}
	want := "/etc/vinit/units/web.yaml:1:7: exec: empty command\n" +
		`/etc/vinit/units/web.yaml:2:7: kind: unknown kind "nope": want simple, exec, notify, oneshot or forking` + "\n" +
		"/etc/vinit/units/web.yaml:3:1: bogus: unknown key"
	if got := err.Error(); got != want {
		t.Errorf("Parse error:\ngot  %s\nwant %s", got, want)
	}
}

func TestParseName(t *testing.T) {
	tests := []struct {
		file, data string
		want       string // name, or "" for an error
	}{
		{"/u/web.yaml", "exec: x\n", "web"},
		{"web.yaml", "name: web\nexec: x\n", "web"},
		{"web.yaml", "name: other\nexec: x\n", ""},
		{"web.yml", "exec: x\n", ""},
		{"web", "exec: x\n", ""},
		{"/u/.yaml", "exec: x\n", ""},
	}
	for _, tt := range tests {
		u, err := Parse(tt.file, []byte(tt.data))
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("Parse(%q, %q) = %q, want an error", tt.file, tt.data, u.Name)
		case tt.want != "" && err != nil:
			t.Errorf("Parse(%q, %q): %v", tt.file, tt.data, err)
		case tt.want != "" && u.Name != tt.want:
			t.Errorf("Parse(%q, %q) name = %q, want %q", tt.file, tt.data, u.Name, tt.want)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/fuzz/FuzzParse/*")
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, f := range files {
		data := fuzzSeed(t, f)
		u, err := Parse("seed.yaml", data)
		if err != nil {
			continue
		}
		ok++
		roundTrip(t, u)
	}
	if ok < 3 {
		t.Fatalf("only %d valid seeds in testdata/fuzz/FuzzParse, want at least 3", ok)
	}
}

func roundTrip(t *testing.T, u *Unit) {
	t.Helper()
	out, err := Marshal(u)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	u2, err := Parse(filepath.Base(u.File), out)
	if err != nil {
		t.Fatalf("Parse of Marshal output failed: %v\n%s", err, out)
	}
	if !Equal(u, u2) {
		t.Fatalf("Parse(Marshal(u)) is not Equal to u (-u +u2):\n%s\nYAML:\n%s", cmp.Diff(u, u2), out)
	}
}

func TestEqualDiff(t *testing.T) {
	mk := func(file, name string, exec ...string) *Unit {
		u, err := Parse(file, []byte("exec: ["+strings.Join(exec, ", ")+"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if u.Name != name {
			t.Fatalf("name %q, want %q", u.Name, name)
		}
		return u
	}
	a1, a2 := mk("/x/a.yaml", "a", "/bin/a"), mk("/y/a.yaml", "a", "/bin/a")
	if !Equal(a1, a2) {
		t.Errorf("Equal of units that differ only in File = false, want true")
	}
	a3 := *a1
	a3.Requires = []string{}
	if !Equal(a1, &a3) {
		t.Errorf("Equal of nil and empty Requires = false, want true")
	}
	a3.StopTimeout = time.Second
	if Equal(a1, &a3) {
		t.Errorf("Equal of units with different StopTimeout = true, want false")
	}
	if Equal(a1, nil) || !Equal(nil, nil) {
		t.Errorf("Equal with nil: got %v, %v; want false, true", Equal(a1, nil), Equal(nil, nil))
	}

	old, err := NewSet(a1, mk("b.yaml", "b", "/bin/b"), mk("c.yaml", "c", "/bin/c"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := NewSet(a2, mk("c.yaml", "c", "/bin/c2"), mk("d.yaml", "d", "/bin/d"))
	if err != nil {
		t.Fatal(err)
	}
	added, removed, changed := Diff(old, cur)
	got := [][]string{added, removed, changed}
	want := [][]string{{"d"}, {"b"}, {"c"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	added, removed, changed = Diff(nil, old)
	if diff := cmp.Diff([][]string{{"a", "b", "c"}, nil, nil}, [][]string{added, removed, changed}); diff != "" {
		t.Errorf("Diff(nil, set) (-want +got):\n%s", diff)
	}
}

func TestNewSet(t *testing.T) {
	u := func(name string, requires ...string) *Unit {
		return &Unit{Name: name, File: name + ".yaml", Exec: []string{"/bin/" + name}, Requires: requires}
	}
	s, err := NewSet(u("a"), u("b", "a"), u("c", "b"), u("b"), u("d", "nope"), u("e", "d"))
	want := `b.yaml: unit "b" defined twice` + "\n" +
		`d.yaml: requires[0]: unknown unit "nope"` + "\n" +
		`e.yaml: requires[0]: unit "d" is left out`
	if err == nil || err.Error() != want {
		t.Errorf("NewSet error:\ngot  %v\nwant %s", err, want)
	}
	if got := s.Names(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Names() = %q, want [a b c]", got)
	}
	if got := s.Dependents("a"); !slices.Equal(got, []string{"c", "b"}) {
		t.Errorf("Dependents(a) = %q, want [c b] (stop order)", got)
	}
	if got := s.Get("d"); got != nil {
		t.Errorf("Get(d) = %v, want nil", got)
	}
}

func TestLoadDirMissing(t *testing.T) {
	s, err := LoadDir(filepath.Join(t.TempDir(), "none"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadDir of a missing directory: got %v, want an error wrapping ErrNotExist", err)
	}
	// The nil set it returns is empty.
	if s.Len() != 0 || s.Names() != nil || s.Get("a") != nil || s.Order() != nil || s.Predecessors("a") != nil || s.Dependents("a") != nil {
		t.Errorf("nil Set is not empty")
	}
}

// fuzzSeed reads the value of a "go test fuzz v1" file with one []byte.
func fuzzSeed(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, v, ok := strings.Cut(string(data), "\n")
	v = strings.TrimSpace(v)
	if !ok || !strings.HasPrefix(v, "[]byte(") || !strings.HasSuffix(v, ")") {
		t.Fatalf("%s: not a go test fuzz v1 file with one []byte", file)
	}
	s, err := unquote(strings.TrimSuffix(strings.TrimPrefix(v, "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return []byte(s)
}

// TestReadyTCP: ready.tcp is host:port, with brackets around an IPv6
// address, and a port from 1 to 65535; the rules are net.SplitHostPort's.
func TestReadyTCP(t *testing.T) {
	for _, c := range []struct{ tcp, err string }{
		{"127.0.0.1:5432", ""},
		{"[::1]:80", ""},
		{"[fe80::1%eth0]:80", ""},
		{"db.example:5432", ""},
		{":80", ""},
		{"localhost", `ready.tcp: want host:port, got "localhost"`},
		{"::1:80", `ready.tcp: want host:port, got "::1:80"`},
		{"[::1]80", `ready.tcp: want host:port, got "[::1]80"`},
		{"a]:80", `ready.tcp: want host:port, got "a]:80"`},
		{"127.0.0.1:0", `ready.tcp: want a port number from 1 to 65535, got "0"`},
		{"[::1]:65536", `ready.tcp: want a port number from 1 to 65535, got "65536"`},
		{"db:postgres", `ready.tcp: want a port number from 1 to 65535, got "postgres"`},
	} {
		_, err := Parse("t.yaml", []byte("exec: [sleep, \"1\"]\nready: {tcp: \""+c.tcp+"\"}\n"))
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: got %v, want %q", c.tcp, err, c.err)
		}
	}
}
