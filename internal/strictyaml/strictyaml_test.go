package strictyaml

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

type network struct {
	Mode      string
	Addresses []netip.Addr
	MTU       int
}

type config struct {
	Name     string
	Enabled  bool
	Count    int8
	Size     uint16
	Ratio    float64
	Timeout  time.Duration
	Tags     []string
	Labels   map[string]string
	Network  network
	Limit    *limit
	Sig      signal `yaml:"stop_signal"`
	Raw      yaml.Node
	Ignored  string `yaml:"-"`
	Extra    any
	WorkDir  string `yaml:"working_dir"`
	PIDFile  string
	internal string //lint:ignore U1000 present to test that unexported fields are not keys
}

type limit struct{ Soft, Hard int }

// signal decodes itself, to test Unmarshaler.
type signal int

func (s *signal) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "TERM":
		*s = 15
	case "KILL":
		*s = 9
	case "nested":
		return ErrorAt(n, "inner", "pointed at %s", "inner")
	case "list":
		return Errors{{Field: "a", Msg: "first"}, {Line: 99, Column: 9, Field: "b", Msg: "second"}}
	default:
		return fmt.Errorf("unknown signal %q", n.Value)
	}
	return nil
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "f.yaml:1:1: empty document"},
		{"comment only", "# nothing\n", "f.yaml:1:1: empty document"},
		{"null", "~\n", "f.yaml:1:1: empty document"},
		{"list", "- a\n- b\n", "f.yaml:1:1: want a mapping at the top level, got a list"},
		{"scalar", "hello\n", `f.yaml:1:1: want a mapping at the top level, got string "hello"`},
		{"syntax", "a: b\n c: d\n", "f.yaml:2: syntax error: mapping values are not allowed in this context"},
		{"tab", "a:\n\tb: c\n", "f.yaml:2: syntax error: found character that cannot start any token"},
		{"two documents", "a: 1\n---\nb: 2\n", "f.yaml:3:1: more than one document; want exactly one"},
		{"unclosed", "a: [1, 2\n", "f.yaml:1: syntax error: did not find expected ',' or ']'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("f.yaml", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%q) = %v, nil; want error %q", tt.in, doc, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse(%q) error:\ngot  %s\nwant %s", tt.in, got, tt.want)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Errorf("Parse error is %T, want Errors", err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"unknown key", "nmae: x\n", []string{"f.yaml:1:1: nmae: unknown key (did you mean name?)"}},
		{"unknown key no suggestion", "zzzzzz: x\n", []string{"f.yaml:1:1: zzzzzz: unknown key"}},
		{"unknown nested key", "network:\n  mode: x\n  adresses: []\n", []string{"f.yaml:3:3: network.adresses: unknown key (did you mean addresses?)"}},
		{"skipped field is unknown", "ignored: x\n", []string{"f.yaml:1:1: ignored: unknown key"}},
		{"unexported field is unknown", "internal: x\n", []string{"f.yaml:1:1: internal: unknown key"}},
		{"duplicate", "name: a\ncount: 1\nname: b\n", []string{"f.yaml:3:1: name: duplicate key (first at line 1)"}},
		{"duplicate in map", "labels:\n  a: 1\n  a: 2\n", []string{"f.yaml:3:3: labels.a: duplicate key (first at line 2)"}},
		{"string got list", "name: [a]\n", []string{"f.yaml:1:7: name: want a string, got a list"}},
		{"string got mapping", "name:\n  x: 1\n", []string{"f.yaml:2:3: name: want a string, got a mapping"}},
		{"bool got string", "enabled: yes\n", []string{`f.yaml:1:10: enabled: want true or false, got string "yes"`}},
		{"int got string", "count: \"5\"\n", []string{`f.yaml:1:8: count: want an integer from -128 to 127, got string "5"`}},
		{"int overflow", "count: 300\n", []string{"f.yaml:1:8: count: want an integer from -128 to 127, got integer 300"}},
		{"int got float", "count: 1.5\n", []string{"f.yaml:1:8: count: want an integer from -128 to 127, got number 1.5"}},
		{"uint negative", "size: -1\n", []string{"f.yaml:1:7: size: want an integer from 0 to 65535, got integer -1"}},
		{"float got bool", "ratio: true\n", []string{"f.yaml:1:8: ratio: want a number, got boolean true"}},
		{"duration without unit", "timeout: 5\n", []string{"f.yaml:1:10: timeout: want a duration like 5s or 250ms, got integer 5"}},
		{"duration got list", "timeout: [5s]\n", []string{"f.yaml:1:10: timeout: want a duration like 5s or 250ms, got a list"}},
		{"list got string", "tags: a b\n", []string{`f.yaml:1:7: tags: want a list, got string "a b"`}},
		{"list element", "tags: [a, [b], c]\n", []string{"f.yaml:1:11: tags[1]: want a string, got a list"}},
		{"map got list", "labels: [a]\n", []string{"f.yaml:1:9: labels: want a mapping, got a list"}},
		{"struct got string", "network: eth0\n", []string{`f.yaml:1:10: network: want a mapping, got string "eth0"`}},
		{"text unmarshaler", "network:\n  addresses: [10.0.0.1, nope]\n", []string{`f.yaml:2:25: network.addresses[1]: ParseAddr("nope"): unable to parse IP`}},
		{"pointer struct", "limit: {soft: 1, hrad: 2}\n", []string{"f.yaml:1:18: limit.hrad: unknown key (did you mean hard?)"}},
		{"unmarshaler error", "stop_signal: HUP\n", []string{`f.yaml:1:14: stop_signal: unknown signal "HUP"`}},
		{"unmarshaler ErrorAt", "stop_signal: nested\n", []string{"f.yaml:1:14: stop_signal.inner: pointed at inner"}},
		{"unmarshaler Errors", "stop_signal: list\n", []string{"f.yaml:1:14: stop_signal.a: first", "f.yaml:99:9: stop_signal.b: second"}},
		{"non-scalar key", "labels:\n  [a]: 1\n", []string{"f.yaml:2:3: labels: want a string key, got a list"}},
		{"anchor key", "zzbase: &b {mode: x}\n", []string{"f.yaml:1:1: zzbase: unknown key"}},
		{
			"all at once, sorted",
			"tags: x\nnmae: y\ncount: z\nnetwork:\n  mtu: big\n",
			[]string{
				`f.yaml:1:7: tags: want a list, got string "x"`,
				"f.yaml:2:1: nmae: unknown key (did you mean name?)",
				`f.yaml:3:8: count: want an integer from -128 to 127, got string "z"`,
				`f.yaml:5:8: network.mtu: want an integer, got string "big"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("f.yaml", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var c config
			err = doc.Decode(&c)
			if err == nil {
				t.Fatalf("Decode(%q) = nil, want errors %q", tt.in, tt.want)
			}
			got := strings.Split(err.Error(), "\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode(%q) errors (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	in := `
name: web
enabled: true
count: -3
size: 0x10
ratio: 2
timeout: 1m30s
tags: [a, "b c"]
labels: {x: "1", y: 2}
network:
  addresses: [10.0.0.1, "::1"]
  mtu: 1500
limit: {soft: 1, hard: 2}
stop_signal: KILL
raw: {anything: [goes]}
extra: {k: [1, 2]}
working_dir: /srv
pid_file: /run/x.pid
`
	doc, err := Parse("f.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	c := config{Network: network{Mode: "default"}, Tags: []string{"old"}}
	if err := doc.Decode(&c); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if c.Raw.Kind != yaml.MappingNode || c.Raw.Line != 15 {
		t.Errorf("Raw = kind %v line %d, want a mapping at line 15", c.Raw.Kind, c.Raw.Line)
	}
	c.Raw = yaml.Node{}
	want := config{
		Name: "web", Enabled: true, Count: -3, Size: 16, Ratio: 2, Timeout: 90 * time.Second,
		Tags:    []string{"a", "b c"},
		Labels:  map[string]string{"x": "1", "y": "2"},
		Network: network{Mode: "default", Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("::1")}, MTU: 1500},
		Limit:   &limit{Soft: 1, Hard: 2},
		Sig:     9,
		Extra:   map[string]any{"k": []any{1, 2}},
		WorkDir: "/srv",
		PIDFile: "/run/x.pid",
	}
	if diff := cmp.Diff(want, c, cmp.AllowUnexported(config{}), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
}

func TestDecodeNullKeepsDefaults(t *testing.T) {
	doc, err := Parse("f.yaml", []byte("name:\ntimeout: ~\nstop_signal: null\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := config{Name: "default", Timeout: time.Second, Sig: 15}
	if err := doc.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "default" || c.Timeout != time.Second || c.Sig != 15 {
		t.Errorf("got name %q timeout %v sig %d, want the defaults default 1s 15", c.Name, c.Timeout, c.Sig)
	}
}

func TestMergeKeys(t *testing.T) {
	in := `
base: &base
  mode: bridge
  mtu: 1400
network:
  <<: *base
  mtu: 9000
`
	type cfg struct {
		Base    yaml.Node
		Network network
	}
	doc, err := Parse("f.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var c cfg
	if err := doc.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Network.Mode != "bridge" || c.Network.MTU != 9000 {
		t.Errorf("network = %+v, want mode bridge (merged) and mtu 9000 (own key wins)", c.Network)
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [[], [], [], [], [], [], [], [], [], []]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	b.WriteString("tags: *a8\n")
	doc, err := Parse("f.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	type tree []tree
	var m map[string]tree
	err = doc.Decode(&m)
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Errorf("Decode of an alias bomb: got %v, want a document too large error", err)
	}
}

func TestErrorf(t *testing.T) {
	in := `
network:
  addresses:
    - 10.0.0.1
    - 10.0.0.300
  mode: bridge
`
	doc, err := Parse("f.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ field, want string }{
		{"network.addresses[1]", "f.yaml:5:7: network.addresses[1]: bad"},
		{"network.addresses[0]", "f.yaml:4:7: network.addresses[0]: bad"},
		{"network.addresses", "f.yaml:4:5: network.addresses: bad"},
		{"network.mode", "f.yaml:6:9: network.mode: bad"},
		{"network.mtu", "f.yaml:3:3: network.mtu: bad"}, // absent: the enclosing mapping
		{"network.addresses[7]", "f.yaml:4:5: network.addresses[7]: bad"},
		{"nothing.here", "f.yaml:2:1: nothing.here: bad"},
		{"", "f.yaml:2:1: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			if got := doc.Errorf(tt.field, "bad").Error(); got != tt.want {
				t.Errorf("Errorf(%q) = %q, want %q", tt.field, got, tt.want)
			}
		})
	}
	if n := doc.Node("network.addresses[1]"); n == nil || n.Value != "10.0.0.300" {
		t.Errorf("Node(network.addresses[1]) = %v, want the node 10.0.0.300", n)
	}
	if n := doc.Node("network.mtu"); n != nil {
		t.Errorf("Node(network.mtu) = %v, want nil", n)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "f", Line: 1, Column: 2, Field: "a.b", Msg: "m"}, "f:1:2: a.b: m"},
		{Error{File: "f", Line: 1, Field: "a", Msg: "m"}, "f:1: a: m"},
		{Error{File: "f", Msg: "m"}, "f: m"},
		{Error{Line: 3, Column: 4, Msg: "m"}, "3:4: m"},
		{Error{Field: "x", Msg: "m"}, "x: m"},
		{Error{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q, want %q", tt.e, got, tt.want)
		}
	}
}

func TestErrorsAppendSort(t *testing.T) {
	var es Errors
	if es.Err() != nil {
		t.Errorf("empty Errors.Err() = %v, want nil", es.Err())
	}
	es.Append(nil)
	es.Append((*Error)(nil))
	es.Append(Errors{nil})
	es.Append(&Error{File: "b", Line: 1, Msg: "b1"})
	es.Append(Errors{{File: "a", Line: 9, Column: 1, Msg: "a9"}, {File: "a", Line: 2, Column: 5, Msg: "a2c5"}})
	es.Append(&Error{File: "a", Line: 2, Column: 1, Msg: "a2c1"})
	es.Append(strconv.ErrRange)
	want := "value out of range\na:2:1: a2c1\na:2:5: a2c5\na:9:1: a9\nb:1: b1"
	if got := es.Err().Error(); got != want {
		t.Errorf("Errors:\ngot  %q\nwant %q", got, want)
	}
	if len(es) != 5 {
		t.Errorf("len = %d, want 5", len(es))
	}
	var e *Error
	if !errors.As(error(es), &e) {
		t.Errorf("errors.As(Errors, *Error) = false, want true")
	}
}

func TestSnakeCase(t *testing.T) {
	tests := map[string]string{
		"Name": "name", "WorkingDir": "working_dir", "PIDFile": "pid_file", "HTTPServer": "http_server",
		"ID": "id", "EnvFiles": "env_files", "IPv4": "i_pv4", "Rlimit2Max": "rlimit2_max",
	}
	for in, want := range tests {
		if got := SnakeCase(in); got != want {
			t.Errorf("SnakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeNode(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("soft: 1\nhrad: 2\n"), &n); err != nil {
		t.Fatal(err)
	}
	var l limit
	err := DecodeNode(&n, &l)
	if got, want := fmt.Sprint(err), "2:1: hrad: unknown key (did you mean hard?)"; got != want {
		t.Errorf("DecodeNode error = %q, want %q", got, want)
	}
	if l.Soft != 1 {
		t.Errorf("Soft = %d, want 1", l.Soft)
	}
	if err := DecodeNode(&n, l); err == nil {
		t.Errorf("DecodeNode into a non-pointer: got nil, want an error")
	}
}

func TestMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("m0: &m0 {a: 1, b: 2}\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "m%d: &m%d {<<: [*m%d, *m%d, *m%d, *m%d]}\n", i, i, i-1, i-1, i-1, i-1)
	}
	doc, err := Parse("f.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]int
	// Without a budget this takes 4^40 steps; a hang shows as the test
	// binary's timeout.
	if err := doc.Decode(&m); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got := m["m39"]; got["a"] != 1 || got["b"] != 2 {
		t.Errorf("m39 = %v, want map[a:1 b:2]", got)
	}
}

func TestInline(t *testing.T) {
	type Common struct {
		Name string
		Tags []string
	}
	type Limit struct{ Soft, Hard int }
	type cfg struct {
		Common `yaml:",inline"`
		*Limit `yaml:",inline"`
		Mode   string
	}
	doc, err := Parse("f.yaml", []byte("name: a\ntags: [x]\nsoft: 3\nmode: m\nnope: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	var c cfg
	err = doc.Decode(&c)
	if got, want := fmt.Sprint(err), "f.yaml:5:1: nope: unknown key (did you mean mode?)"; got != want {
		t.Errorf("Decode error = %q, want %q", got, want)
	}
	if c.Name != "a" || len(c.Tags) != 1 || c.Limit == nil || c.Soft != 3 || c.Mode != "m" {
		t.Errorf("Decode = %+v, want inlined fields set", c)
	}
}

func TestDescribe(t *testing.T) {
	tests := map[string]string{
		"a: x":      `string "x"`,
		"a: 'x'":    `string "x"`,
		"a: 5":      "integer 5",
		"a: 1.5":    "number 1.5",
		"a: true":   "boolean true",
		"a: ~":      "null",
		"a: [1]":    "a list",
		"a: {b: 1}": "a mapping",
		"a: !foo x": `!foo "x"`,
	}
	for in, want := range tests {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(in), &n); err != nil {
			t.Fatal(err)
		}
		if got := Describe(n.Content[0].Content[1]); got != want {
			t.Errorf("Describe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAdopt(t *testing.T) {
	doc, err := Parse("f.yaml", []byte("raw:\n  - a\n  - b\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, "<nil>"},
		{"plain error at the value", errors.New("bad"), "f.yaml:2:3: raw: bad"},
		{"relative field keeps its position", &Error{Line: 3, Column: 5, Field: "[1]", Msg: "bad b"}, "f.yaml:3:5: raw[1]: bad b"},
		{"no position takes the value's", Errors{{Field: "[0]", Msg: "x"}}, "f.yaml:2:3: raw[0]: x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(doc.Adopt("raw", tt.err)); got != tt.want {
				t.Errorf("Adopt = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzDecode checks that no input makes Parse or Decode panic, and that
// every error of Decode names the file and a position.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"name: a\ntags: [x, y]\nnetwork: {addresses: [10.0.0.1], mtu: 1500}\n",
		"a: &a {b: 1}\nc: *a\nlabels: {<<: *a}\n",
		"count: 1\ncount: 2\n",
		"limit: {soft: 1, hard: x}\nstop_signal: nested\n",
		"- a\n",
		"timeout: 5s\nextra: {x: [1, {y: 2}]}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse("f.yaml", data)
		if err != nil {
			return
		}
		var c config
		var es Errors
		if errors.As(doc.Decode(&c), &es) {
			for _, e := range es {
				if e.File != "f.yaml" || e.Line < 1 {
					t.Fatalf("error without file or line: %#v", e)
				}
			}
		}
	})
}
