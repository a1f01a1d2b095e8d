package strictyaml

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a document, at a position. Line and Column count
// from 1; zero means unknown. Field is the dotted path of the value, such as
// network.addresses[1]; empty means the document as a whole.
type Error struct {
	File   string
	Line   int
	Column int
	Field  string
	Msg    string
}

// Error returns file:line:col: field: msg, leaving out the parts that are
// empty or zero.
func (e *Error) Error() string {
	var b strings.Builder
	pos := e.File
	if e.Line > 0 {
		pos += fmt.Sprintf(":%d", e.Line)
		if e.Column > 0 {
			pos += fmt.Sprintf(":%d", e.Column)
		}
	}
	if pos != "" {
		b.WriteString(strings.TrimPrefix(pos, ":"))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is a list of problems, reported one per line.
type Errors []*Error

// Error returns every error on its own line, sorted as by Sort (the list
// itself is left as it is).
func (es Errors) Error() string {
	sorted := slices.Clone(es)
	sorted.Sort()
	lines := make([]string, len(sorted))
	for i, e := range sorted {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives errors.Is and errors.As every error of the list.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Append adds err to the list: nothing if it is nil, every element if it is
// an Errors, itself if it is an *Error, and an *Error carrying its text
// otherwise.
func (es *Errors) Append(err error) {
	switch err := err.(type) {
	case nil:
	case *Error:
		if err != nil {
			*es = append(*es, err)
		}
	case Errors:
		for _, e := range err {
			es.Append(e)
		}
	default:
		*es = append(*es, &Error{Msg: err.Error()})
	}
}

// Sort orders the list by file, line, column and field, keeping the order of
// errors at the same place.
func (es Errors) Sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Field, b.Field),
		)
	})
}

// Err returns nil for an empty list, and the list sorted otherwise. Use it to
// return an Errors as an error, so that an empty list is a nil error.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	es.Sort()
	return es
}

// joinField appends a key to a field path.
func joinField(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" {
		return path
	}
	if strings.HasPrefix(key, "[") {
		return path + key
	}
	return path + "." + key
}
