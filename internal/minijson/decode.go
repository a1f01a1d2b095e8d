package minijson

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is how deep arrays and objects may nest, as in encoding/json.
const maxDepth = 10000

// Error is a syntax error, or a value of the wrong type for the schema.
type Error struct {
	Offset int    // in the input, of the byte at fault
	Msg    string // what was wrong
}

func (e *Error) Error() string { return fmt.Sprintf("json: %s (at byte %d)", e.Msg, e.Offset) }

// Decoder reads one JSON value. Its methods each read the next value as
// the type they are named for; the caller, who knows the schema, calls the
// one that fits, or Skip.
type Decoder struct {
	data  []byte
	off   int
	depth int
	key   string // the member being read, for errors
}

// Decode reads data, one JSON value with nothing but whitespace around it,
// with value, which must read that value with one of the Decoder's methods.
func Decode(data []byte, value func(*Decoder) error) error {
	d := &Decoder{data: data}
	if err := value(d); err != nil {
		return err
	}
	d.space()
	if d.off < len(d.data) {
		return d.unexpected("after the value")
	}
	return nil
}

// Object reads an object and calls member with each key, in order, to read
// its value. A null is no object: member is not called.
func (d *Decoder) Object(member func(key string) error) error {
	d.space()
	if d.null() {
		return nil
	}
	if err := d.want('{', "object"); err != nil {
		return err
	}
	if err := d.push(); err != nil {
		return err
	}
	d.space()
	if d.peek() == '}' {
		d.off++
		d.depth--
		return nil
	}
	for {
		d.space()
		if d.peek() != '"' {
			return d.unexpected("looking for the beginning of an object key")
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		d.space()
		if d.peek() != ':' {
			return d.unexpected("after an object key")
		}
		d.off++
		d.key = key
		if err := member(key); err != nil {
			return err
		}
		d.space()
		switch d.peek() {
		case ',':
			d.off++
		case '}':
			d.off++
			d.depth--
			return nil
		default:
			return d.unexpected("after an object member")
		}
	}
}

// Array reads an array and calls elem with the index of each element, in
// order, to read it. It returns how many there were, or -1 for a null.
func (d *Decoder) Array(elem func(i int) error) (int, error) {
	d.space()
	if d.null() {
		return -1, nil
	}
	if err := d.want('[', "array"); err != nil {
		return 0, err
	}
	if err := d.push(); err != nil {
		return 0, err
	}
	d.space()
	if d.peek() == ']' {
		d.off++
		d.depth--
		return 0, nil
	}
	key := d.key
	for i := 0; ; i++ {
		d.key = key
		if err := elem(i); err != nil {
			return i, err
		}
		d.space()
		switch d.peek() {
		case ',':
			d.off++
		case ']':
			d.off++
			d.depth--
			return i + 1, nil
		default:
			return i, d.unexpected("after an array element")
		}
	}
}

// String reads a string into p. A null leaves p as it was.
func (d *Decoder) String(p *string) error {
	d.space()
	if d.null() {
		return nil
	}
	if d.peek() != '"' {
		return d.mismatch("string")
	}
	s, err := d.str()
	if err != nil {
		return err
	}
	*p = s
	return nil
}

// Int reads an integer into p. A null leaves p as it was.
func (d *Decoder) Int(p *int) error {
	d.space()
	if d.null() {
		return nil
	}
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		return d.mismatch("number")
	}
	start := d.off
	if err := d.number(); err != nil {
		return err
	}
	n, err := strconv.ParseInt(string(d.data[start:d.off]), 10, strconv.IntSize)
	if err != nil {
		return d.errorAt(start, "%s: %s is not an integer in int's range", d.what(), d.data[start:d.off])
	}
	*p = int(n)
	return nil
}

// Bool reads true or false into p. A null leaves p as it was.
func (d *Decoder) Bool(p *bool) error {
	d.space()
	if d.null() {
		return nil
	}
	switch {
	case d.literal("true"):
		*p = true
	case d.literal("false"):
		*p = false
	default:
		return d.mismatch("boolean")
	}
	return nil
}

// Raw reads any value and returns its text, as encoding/json hands a value
// to an UnmarshalJSON method.
func (d *Decoder) Raw() ([]byte, error) {
	d.space()
	start := d.off
	if err := d.Skip(); err != nil {
		return nil, err
	}
	return d.data[start:d.off], nil
}

// Skip reads any value and drops it.
func (d *Decoder) Skip() error {
	d.space()
	switch c := d.peek(); {
	case c == '{':
		return d.Object(func(string) error { return d.Skip() })
	case c == '[':
		_, err := d.Array(func(int) error { return d.Skip() })
		return err
	case c == '"':
		_, err := d.str()
		return err
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	case d.literal("true"), d.literal("false"), d.literal("null"):
		return nil
	}
	return d.unexpected("looking for the beginning of a value")
}

// Fail returns an error at the value just read, saying it is wrong: for
// what the schema's own rules refuse.
func (d *Decoder) Fail(err error) error {
	return d.errorAt(d.off, "%s: %v", d.what(), err)
}

func (d *Decoder) push() error {
	d.depth++
	if d.depth > maxDepth {
		return d.errorAt(d.off-1, "nested deeper than %d", maxDepth)
	}
	return nil
}

func (d *Decoder) space() {
	for d.off < len(d.data) {
		switch d.data[d.off] {
		case ' ', '\t', '\n', '\r':
			d.off++
		default:
			return
		}
	}
}

// peek is the next byte, or 0 at the end.
func (d *Decoder) peek() byte {
	if d.off < len(d.data) {
		return d.data[d.off]
	}
	return 0
}

// literal reads lit if it comes next.
func (d *Decoder) literal(lit string) bool {
	if len(d.data)-d.off >= len(lit) && string(d.data[d.off:d.off+len(lit)]) == lit {
		d.off += len(lit)
		return true
	}
	return false
}

func (d *Decoder) null() bool { return d.literal("null") }

// want reads c, which begins a value of the type named what.
func (d *Decoder) want(c byte, what string) error {
	if d.peek() != c {
		return d.mismatch(what)
	}
	d.off++
	return nil
}

// number reads a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *Decoder) number() error {
	digits := func() bool {
		start := d.off
		for d.off < len(d.data) && '0' <= d.data[d.off] && d.data[d.off] <= '9' {
			d.off++
		}
		return d.off > start
	}
	if d.peek() == '-' {
		d.off++
	}
	switch c := d.peek(); {
	case c == '0':
		d.off++
	case '1' <= c && c <= '9':
		digits()
	default:
		return d.unexpected("in a number, looking for a digit")
	}
	if d.peek() == '.' {
		d.off++
		if !digits() {
			return d.unexpected("after the decimal point of a number")
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.off++
		if c := d.peek(); c == '+' || c == '-' {
			d.off++
		}
		if !digits() {
			return d.unexpected("in the exponent of a number")
		}
	}
	return nil
}

// str reads a string, at its opening quote, and returns what it says.
func (d *Decoder) str() (string, error) {
	d.off++ // the opening quote
	start := d.off
	plain := true // no escapes and valid UTF-8: the text is the string
	for {
		if d.off >= len(d.data) {
			return "", d.unexpected("in a string")
		}
		switch c := d.data[d.off]; {
		case c == '"':
			s := d.data[start:d.off]
			d.off++
			if plain {
				return string(s), nil
			}
			return unquote(s), nil
		case c == '\\':
			plain = false
			d.off++
			switch d.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.off++
			case 'u':
				d.off++
				for range 4 {
					if !isHex(d.peek()) {
						return "", d.unexpected(`in a \u escape`)
					}
					d.off++
				}
			default:
				return "", d.unexpected("in a string escape")
			}
		case c < 0x20:
			return "", d.unexpected("in a string")
		case c < utf8.RuneSelf:
			d.off++
		default:
			r, size := utf8.DecodeRune(d.data[d.off:])
			if r == utf8.RuneError && size == 1 {
				plain = false
			}
			d.off += size
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unquote decodes s, the inside of a string already checked by str, as
// encoding/json does: a lone surrogate and each byte of invalid UTF-8 are
// U+FFFD.
func unquote(s []byte) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' {
			switch e := s[i+1]; e {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2 = hex4(s[i+2:])
					}
					if p := utf16.DecodeRune(r, r2); p != utf8.RuneError {
						r = p
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
				continue
			default: // " \ /
				b = append(b, e)
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		b = utf8.AppendRune(b, r) // RuneError for a bad byte
		i += size
	}
	return string(b)
}

// hex4 is the value of the four hex digits that begin s.
func hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// what names the value being read, for errors.
func (d *Decoder) what() string {
	if d.key == "" {
		return "the value"
	}
	return strconv.Quote(d.key)
}

// mismatch is the error for a value of the wrong type.
func (d *Decoder) mismatch(want string) error {
	got := ""
	switch c := d.peek(); {
	case c == '{':
		got = "an object"
	case c == '[':
		got = "an array"
	case c == '"':
		got = "a string"
	case c == '-' || '0' <= c && c <= '9':
		got = "a number"
	case c == 't' || c == 'f':
		got = "a boolean"
	default:
		return d.unexpected("looking for the beginning of a value")
	}
	return d.errorAt(d.off, "%s: want %s %s, got %s", d.what(), article(want), want, got)
}

func article(s string) string {
	if s[0] == 'a' || s[0] == 'o' {
		return "an"
	}
	return "a"
}

// unexpected is the syntax error at the next byte.
func (d *Decoder) unexpected(context string) error {
	if d.off >= len(d.data) {
		return d.errorAt(d.off, "unexpected end of input %s", context)
	}
	return d.errorAt(d.off, "invalid character %s %s", quoteByte(d.data[d.off]), context)
}

func quoteByte(c byte) string {
	if c >= utf8.RuneSelf {
		return fmt.Sprintf("byte 0x%02x", c)
	}
	return strconv.QuoteRune(rune(c))
}

func (d *Decoder) errorAt(off int, format string, args ...any) error {
	return &Error{Offset: off, Msg: fmt.Sprintf(format, args...)}
}
