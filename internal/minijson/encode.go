package minijson

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Object writes one JSON object's members, in the order they are added:
//
//	o := minijson.Begin(b)
//	o.String("name", name)
//	if pid != 0 { // omitempty
//		o.Int("pid", pid)
//	}
//	b = o.End()
type Object struct {
	b []byte
	n int // members written
}

// Begin starts an object at the end of b.
func Begin(b []byte) Object { return Object{b: append(b, '{')} }

// End closes the object and returns the buffer Begin was given, extended.
func (o *Object) End() []byte { return append(o.b, '}') }

// key writes the separator and the member's name.
func (o *Object) key(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = AppendString(o.b, k)
	o.b = append(o.b, ':')
}

// String adds a string member.
func (o *Object) String(k, v string) {
	o.key(k)
	o.b = AppendString(o.b, v)
}

// Int adds a number member.
func (o *Object) Int(k string, v int) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, int64(v), 10)
}

// Bool adds a true or false member.
func (o *Object) Bool(k string, v bool) {
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
}

// Time adds a time as time.Time's MarshalJSON writes it (RFC 3339 with
// nanoseconds as needed), which is what encoding/json writes. A year
// outside 0..9999 is an error, as it is there.
func (o *Object) Time(k string, t time.Time) error {
	v, err := t.MarshalJSON()
	if err != nil {
		return err
	}
	o.key(k)
	o.b = append(o.b, v...)
	return nil
}

// Value adds a member whose value value appends to the buffer it is given.
func (o *Object) Value(k string, value func(b []byte) ([]byte, error)) error {
	o.key(k)
	b, err := value(o.b)
	o.b = b
	return err
}

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as encoding/json escapes
// it by default (see the package documentation).
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0 // s[start:i] is still to be copied
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // the other control characters, and < > &
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but not valid JavaScript.
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Indent appends src, valid JSON, to dst laid out as json.Indent lays it
// out: each element of an array and member of an object on a line of its
// own, begun with prefix and one indent per level of nesting; "key": value
// with a space; empty arrays and objects as [] and {}.
func Indent(dst, src []byte, prefix, indent string) []byte {
	depth := 0
	open := false // after [ or {: the line break waits for what comes next
	newline := func() {
		dst = append(dst, '\n')
		dst = append(dst, prefix...)
		for range depth {
			dst = append(dst, indent...)
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		if open && c != ']' && c != '}' {
			open = false
			newline()
		}
		switch c {
		case '"':
			j := i + 1
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\\' {
					j++
				}
			}
			dst = append(dst, src[i:min(j+1, len(src))]...)
			i = j
		case '[', '{':
			dst = append(dst, c)
			depth++
			open = true
		case ']', '}':
			depth--
			if open {
				open = false
			} else {
				newline()
			}
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, c, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
