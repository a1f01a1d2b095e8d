package strictyaml

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Unmarshaler is implemented by types that decode themselves from a node; its
// method is the one of yaml.v3's Unmarshaler, so such types work with both.
// It is not called for a null value. A plain error it returns is reported at
// the node, under the node's field path. An *Error (or an Errors, as from
// DecodeNode or ErrorAt) keeps its own position when it has one, and its Field
// is taken as relative to the node's path.
type Unmarshaler interface {
	UnmarshalYAML(n *yaml.Node) error
}

// Doc is a parsed document whose top level is a mapping.
type Doc struct {
	File string     // the name given to Parse, used in every error
	Root *yaml.Node // the top-level mapping
}

// Parse parses data, read from file, as a single YAML document that must be
// a mapping. The error, an Errors, says why it is not: a syntax error, an
// empty file, a top level that is not a mapping, or more than one document.
func Parse(file string, data []byte) (*Doc, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: file, Line: 1, Column: 1, Msg: "empty document"}}
		}
		return nil, Errors{syntaxError(file, err)}
	}
	n := &root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, Errors{{File: file, Line: n.Line, Column: n.Column, Msg: "empty document"}}
	}
	if n.Kind != yaml.MappingNode {
		return nil, Errors{{File: file, Line: n.Line, Column: n.Column, Msg: "want a mapping at the top level, got " + describe(n)}}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, Errors{syntaxError(file, err)}
	default:
		line, col := extra.Line, extra.Column
		if len(extra.Content) > 0 {
			line, col = extra.Content[0].Line, extra.Content[0].Column
		}
		return nil, Errors{{File: file, Line: line, Column: col, Msg: "more than one document; want exactly one"}}
	}
	return &Doc{File: file, Root: n}, nil
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 parse error, which carries a line but no
// column, into an *Error.
func syntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "syntax error: " + m[2]}
	}
	return &Error{File: file, Msg: "syntax error: " + msg}
}

// Decode stores the document in the struct (or map) v points to, and returns
// an Errors listing every unknown key, duplicate key and value of the wrong
// type, or nil. Values that are absent or null leave v's fields as they were,
// so v may hold defaults. Struct fields are named by their yaml tag, or else by
// their Go name in snake_case (WorkingDir is working_dir, PIDFile pid_file);
// a tag of "-" skips a field, ",inline" merges an embedded struct's fields.
// Besides Go's basic kinds, slices, maps with string keys, pointers and
// structs, it decodes time.Duration (Go syntax: 5s, 250ms), Unmarshaler and
// encoding.TextUnmarshaler types, and yaml.Node fields, which keep the raw
// node for the caller to decode later (with DecodeNode).
func (d *Doc) Decode(v any) error {
	dec := &decoder{file: d.File}
	dec.decodeAny(d.Root, v)
	return dec.errs.Err()
}

// DecodeNode decodes n strictly into v, like Doc.Decode. The errors it
// returns have no file, and their fields are relative to n; returned from an
// Unmarshaler, they are completed with the file and the node's path.
func DecodeNode(n *yaml.Node, v any) error {
	dec := &decoder{}
	dec.decodeAny(n, v)
	return dec.errs.Err()
}

// ErrorAt returns an error at n's position, for field (relative to n, such as
// "[2]" or "soft"; empty for n itself). Unmarshalers use it to point at a part
// of their node.
func ErrorAt(n *yaml.Node, field, format string, args ...any) *Error {
	n = resolve(n)
	return &Error{Line: n.Line, Column: n.Column, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Adopt turns err, returned by code that decoded the value at field itself
// (from a yaml.Node field), into errors of this document the way Decode does
// for an Unmarshaler: a plain error is placed at the value, an *Error or
// Errors keeps its position and has its Field taken as relative to field.
// It returns nil for a nil err.
func (d *Doc) Adopt(field string, err error) error {
	if err == nil {
		return nil
	}
	n, _ := d.lookup(field)
	dec := &decoder{file: d.File}
	dec.adopt(n, field, err)
	return dec.errs.Err()
}

// Node returns the value node at field, a dotted path such as
// network.addresses[1], or nil if the document has no such value.
func (d *Doc) Node(field string) *yaml.Node {
	n, rest := d.lookup(field)
	if rest != "" {
		return nil
	}
	return n
}

// Errorf returns an error for field, a dotted path, at the position of its
// value; when the document lacks the field (it has a default), at the
// position of the nearest enclosing value that is present.
func (d *Doc) Errorf(field, format string, args ...any) *Error {
	n, _ := d.lookup(field)
	return &Error{File: d.File, Line: n.Line, Column: n.Column, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// lookup walks field as far as the document goes, returning the last node
// reached and what is left of the path.
func (d *Doc) lookup(field string) (*yaml.Node, string) {
	n := d.Root
	rest := field
	for rest != "" {
		var next *yaml.Node
		var after string
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return n, rest
			}
			i, err := strconv.Atoi(rest[1:end])
			after = strings.TrimPrefix(rest[end+1:], ".")
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return n, rest
			}
			next = resolve(n.Content[i])
		} else {
			end := strings.IndexAny(rest, ".[")
			key := rest
			if end >= 0 {
				key, after = rest[:end], strings.TrimPrefix(rest[end:], ".")
			}
			if n.Kind != yaml.MappingNode {
				return n, rest
			}
			for _, p := range pairs(n, 0) {
				if p.key.Value == key {
					next = p.value
					break
				}
			}
			if next == nil {
				return n, rest
			}
		}
		n, rest = next, after
	}
	return n, ""
}

// maxDepth bounds nesting (and alias expansion) so that hostile input cannot
// exhaust the stack; maxNodes bounds the work an alias bomb can cause.
const (
	maxDepth = 200
	maxNodes = 1_000_000
	// maxMerged bounds the pairs gathered through merge keys for a mapping.
	maxMerged = 10_000
	// maxErrors bounds the errors reported for one document.
	maxErrors = 1000
)

type decoder struct {
	file  string
	errs  Errors
	nodes int
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Column: n.Column, Msg: "too many errors"})
	}
	if len(d.errs) > maxErrors {
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Column: n.Column, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decodeAny(n *yaml.Node, v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		d.errs = append(d.errs, &Error{File: d.file, Msg: fmt.Sprintf("cannot decode into %T: want a non-nil pointer", v)})
		return
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	d.decode(n, "", rv.Elem(), 0)
}

var (
	nodeType        = reflect.TypeFor[yaml.Node]()
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decode stores n in v, which is addressable, reporting problems under path.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value, depth int) {
	n = resolve(n)
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.errorf(n, path, "document too large: more than %d values (alias expansion?)", maxNodes)
		}
		return
	}
	if depth > maxDepth {
		d.errorf(n, path, "nested more than %d levels deep", maxDepth)
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	t := v.Type()
	switch {
	case t == nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	case t.Kind() == reflect.Pointer && t.Elem() == nodeType:
		v.Set(reflect.ValueOf(n))
		return
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, path, v.Elem(), depth+1)
		return
	case reflect.PointerTo(t).Implements(unmarshalerType):
		d.adopt(n, path, v.Addr().Interface().(Unmarshaler).UnmarshalYAML(n))
		return
	case reflect.PointerTo(t).Implements(textType):
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "want a string, got %s", describe(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.errorf(n, path, "%v", err)
		}
		return
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "want a duration like 5s or 250ms, got %s", describe(n))
			return
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.errorf(n, path, "want a duration like 5s or 250ms, got %s", describe(n))
			return
		}
		v.SetInt(int64(dur))
		return
	}

	switch t.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, path, v, depth)
	case reflect.Map:
		d.decodeMap(n, path, v, depth)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, fmt.Sprintf("%s[%d]", path, i), s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.errorf(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "want a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.errorf(n, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.errorf(n, path, "want an integer%s, got %s", intRange(t), describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var u uint64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&u) != nil || v.OverflowUint(u) {
			d.errorf(n, path, "want an integer%s, got %s", intRange(t), describe(n))
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			d.errorf(n, path, "want a number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(n, path, "cannot decode into Go type %s", t)
	}
}

func intRange(t reflect.Type) string {
	bits := t.Bits()
	if bits == 64 {
		return ""
	}
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr {
		return fmt.Sprintf(" from 0 to %d", uint64(1)<<bits-1)
	}
	return fmt.Sprintf(" from %d to %d", -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1)
}

// adopt reports an Unmarshaler's error.
func (d *decoder) adopt(n *yaml.Node, path string, err error) {
	if err == nil {
		return
	}
	var list Errors
	list.Append(err)
	for _, e := range list {
		e2 := *e
		if e2.File == "" {
			e2.File = d.file
		}
		if e2.Line == 0 {
			e2.Line, e2.Column = n.Line, n.Column
		}
		e2.Field = joinField(path, e2.Field)
		d.errs = append(d.errs, &e2)
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value, depth int) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", describe(n))
		return
	}
	fields := structFields(v.Type())
	for _, p := range d.pairsChecked(n, path) {
		key := p.key.Value
		f, ok := fields.byKey[key]
		if !ok {
			msg := "unknown key"
			if s := suggest(key, fields.keys); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			d.errorf(p.key, joinField(path, key), "%s", msg)
			continue
		}
		fv, ok := fieldByIndex(v, f)
		if !ok {
			d.errorf(p.key, joinField(path, key), "cannot decode into Go type %s: its inline field is an unexported pointer", v.Type())
			continue
		}
		d.decode(p.value, joinField(path, key), fv, depth+1)
	}
}

// fieldByIndex is v.FieldByIndex, allocating embedded pointers on the way.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value, depth int) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.errorf(n, path, "cannot decode into Go type %s: keys must be strings", t)
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for _, p := range d.pairsChecked(n, path) {
		field := joinField(path, p.key.Value)
		ev := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(reflect.ValueOf(p.key.Value).Convert(t.Key())); old.IsValid() {
			ev.Set(old)
		}
		d.decode(p.value, field, ev, depth+1)
		v.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(t.Key()), ev)
	}
}

type pair struct{ key, value *yaml.Node }

// pairsChecked returns the pairs of mapping n, reporting keys that are not
// scalars or that appear twice; only the first of duplicates is kept.
func (d *decoder) pairsChecked(n *yaml.Node, path string) []pair {
	var out []pair
	seen := make(map[string]*yaml.Node)
	for _, p := range pairs(n, 0) {
		if p.key.Kind != yaml.ScalarNode {
			d.errorf(p.key, path, "want a string key, got %s", describe(p.key))
			continue
		}
		if first, dup := seen[p.key.Value]; dup {
			if first.Line > 0 { // merged keys have no place in this mapping
				d.errorf(p.key, joinField(path, p.key.Value), "duplicate key (first at line %d)", first.Line)
			}
			continue
		}
		seen[p.key.Value] = p.key
		out = append(out, p)
	}
	return out
}

// pairs returns the key/value pairs of mapping n, with merge keys (<<)
// expanded: keys of n come first, then merged ones n does not have. Merging
// stops after maxMerged pairs, so that a merge bomb costs little.
func pairs(n *yaml.Node, depth int) []pair {
	budget := maxMerged
	return pairsBudget(n, depth, &budget)
}

func pairsBudget(n *yaml.Node, depth int, budget *int) []pair {
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" && depth < maxDepth {
			var srcs []*yaml.Node
			if v.Kind == yaml.SequenceNode {
				for _, s := range v.Content {
					srcs = append(srcs, resolve(s))
				}
			} else {
				srcs = []*yaml.Node{v}
			}
			for _, s := range srcs {
				if s.Kind == yaml.MappingNode && *budget > 0 {
					merged = append(merged, pairsBudget(s, depth+1, budget)...)
				}
			}
			continue
		}
		own = append(own, pair{k, v})
	}
	*budget -= len(own) + len(merged)
	if len(merged) == 0 {
		return own
	}
	have := make(map[string]bool, len(own))
	for _, p := range own {
		have[p.key.Value] = true
	}
	for _, p := range merged {
		if !have[p.key.Value] {
			have[p.key.Value] = true
			// A copy without position, so that duplicates are not blamed on it.
			k := *p.key
			k.Line, k.Column = 0, 0
			own = append(own, pair{&k, p.value})
		}
	}
	return own
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

// Describe names what a node holds, for "want X, got Y" messages: a mapping,
// a list, null, string "x", integer 5, number 1.5, boolean true.
func Describe(n *yaml.Node) string {
	return describe(resolve(n))
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str":
			return fmt.Sprintf("string %q", n.Value)
		case "!!int":
			return "integer " + n.Value
		case "!!float":
			return "number " + n.Value
		case "!!bool":
			return "boolean " + n.Value
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
	}
	return "an unexpected node"
}

type fieldSet struct {
	byKey map[string][]int
	keys  []string
}

var fieldCache sync.Map // reflect.Type -> *fieldSet

func structFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{byKey: make(map[string][]int)}
	addFields(fs, t, nil)
	fieldCache.Store(t, fs)
	return fs
}

func addFields(fs *fieldSet, t reflect.Type, index []int) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		idx := append(append([]int(nil), index...), i)
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(fs, ft, idx)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = SnakeCase(f.Name)
		}
		if _, dup := fs.byKey[name]; !dup {
			fs.keys = append(fs.keys, name)
		}
		fs.byKey[name] = idx
	}
}

// SnakeCase turns a Go name into the key Decode uses for it: WorkingDir is
// working_dir, PIDFile is pid_file, HTTPServer is http_server.
func SnakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prev := r[i-1]
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// suggest returns the known key closest to key if it is close enough to be a
// likely typo.
func suggest(key string, known []string) string {
	if len(key) > 64 {
		return ""
	}
	best, bestDist := "", 3
	for _, k := range known {
		if d := distance(key, k); d < bestDist || (d == bestDist && best != "" && k < best) {
			best, bestDist = k, d
		}
	}
	if bestDist > len(key)/2 {
		return ""
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
