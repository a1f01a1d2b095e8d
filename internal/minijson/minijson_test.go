package minijson

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var strs = []string{
	"", "plain", `quote " and backslash \`, "tab\tnewline\nreturn\rbs\bff\f",
	"\x00\x01\x1f\x7f", "<a href='x'>&amp;</a>", "\u2028\u2029", "é ü 日本 🙂",
	"bad \xff byte", "\xed\xa0\x80 surrogate in UTF-8", "cut \xe6\x97", "/slash",
}

func TestAppendString(t *testing.T) {
	for _, s := range strs {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	}
}

func TestObject(t *testing.T) {
	when := time.Date(2026, 12, 1, 9, 30, 1, 120000000, time.UTC)
	o := Begin([]byte("x"))
	o.String("name", "a\"b")
	o.Int("n", -3)
	o.Bool("ok", true)
	if err := o.Time("at", when); err != nil {
		t.Fatal(err)
	}
	o.Value("list", func(b []byte) ([]byte, error) { return append(b, "[1,2]"...), nil })
	want := `x{"name":"a\"b","n":-3,"ok":true,"at":"2026-12-01T09:30:01.12Z","list":[1,2]}`
	if got := string(o.End()); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	o = Begin(nil)
	if err := o.Time("at", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("year 10000: no error; encoding/json refuses it")
	}
	if o := Begin(nil); string(o.End()) != "{}" {
		got := string(o.End())
		t.Errorf("empty object: %s", got)
	}
}

func TestDecodeString(t *testing.T) {
	ins := []string{
		`"plain"`, `"\"\\\/\b\f\n\r\t"`, `"\u0041\u00e9\u65e5"`, `"\ud83d\ude42"`,
		`"\ud83d"`, `"\ude42"`, `"\ud83d\u0041"`, `"\ud83d\ud83d\ude42"`, `"\uD83D\uDE42"`,
		"\"bad \xff byte\"", "\"\xed\xa0\x80\"", `"\u0000"`, ` "space around" `,
	}
	for _, in := range ins {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		var got string
		if err := Decode([]byte(in), func(d *Decoder) error { return d.String(&got) }); err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{``, "unexpected end of input looking for the beginning of a value (at byte 0)"},
		{`{"a":1,}`, `invalid character '}' looking for the beginning of an object key (at byte 7)`},
		{`{"a" 1}`, `invalid character '1' after an object key (at byte 5)`},
		{`{"a":1} x`, `invalid character 'x' after the value (at byte 8)`},
		{`{"a":01}`, `invalid character '1' after an object member (at byte 6)`},
		{`{"a":"\x"}`, `invalid character 'x' in a string escape (at byte 7)`},
		{"{\"a\":\"\n\"}", `invalid character '\n' in a string (at byte 6)`},
		{`{"a":"x`, `unexpected end of input in a string (at byte 7)`},
		{`{"a":tru}`, `invalid character 't' looking for the beginning of a value (at byte 5)`},
		{`{"a":1.}`, `invalid character '}' after the decimal point of a number (at byte 7)`},
		{`{"a":-}`, `invalid character '}' in a number, looking for a digit (at byte 6)`},
		{`{"n":"1"}`, `"n": want a number, got a string (at byte 5)`},
		{`{"n":1.5}`, `"n": 1.5 is not an integer in int's range (at byte 5)`},
		{`{"n":99999999999999999999}`, `"n": 99999999999999999999 is not an integer in int's range (at byte 5)`},
		{`{"s":1}`, `"s": want a string, got a number (at byte 5)`},
		{`{"b":"true"}`, `"b": want a boolean, got a string (at byte 5)`},
		{`[]`, `the value: want an object, got an array (at byte 0)`},
		{"\xff", `invalid character byte 0xff looking for the beginning of a value (at byte 0)`},
		{strings.Repeat(`{"x":`, maxDepth+1), "nested deeper than 10000 (at byte 50000)"},
	} {
		var n int
		var s string
		var b bool
		err := Decode([]byte(c.in), func(d *Decoder) error {
			return d.Object(func(key string) error {
				switch key {
				case "n":
					return d.Int(&n)
				case "s":
					return d.String(&s)
				case "b":
					return d.Bool(&b)
				}
				return d.Skip()
			})
		})
		var e *Error
		if !errors.As(err, &e) || err.Error() != "json: "+c.want {
			t.Errorf("%.40q: got %v, want json: %s", c.in, err, c.want)
		}
		if json.Valid([]byte(c.in)) && !strings.HasPrefix(c.want, `"`) && !strings.HasPrefix(c.want, "the value") {
			t.Errorf("%q: a syntax error, but json.Valid accepts it", c.in)
		}
	}
}

func TestDecodeNullLeaves(t *testing.T) {
	n, s, b := 7, "kept", true
	in := `{"n":null,"s":null,"b":null,"N":8,"other":{"deep":[1,{"x":null}]}}`
	err := Decode([]byte(in), func(d *Decoder) error {
		return d.Object(func(key string) error {
			switch {
			case strings.EqualFold(key, "n"):
				return d.Int(&n)
			case key == "s":
				return d.String(&s)
			case key == "b":
				return d.Bool(&b)
			}
			return d.Skip()
		})
	})
	if err != nil || n != 8 || s != "kept" || !b {
		t.Errorf("got %d %q %v, %v; want 8 (from N), kept, true", n, s, b, err)
	}
}

var values = []string{
	`null`, `true`, `false`, `0`, `-0`, `1.5e+10`, `-12.0E-3`, `""`, `"x"`, `[]`, `{}`,
	` [ 1 , [ ] , { } , "a" ] `, `{"a":{"b":[1,2,{"c":null}]},"d":"\u2028"}`,
	`01`, `1.`, `.5`, `+1`, `1e`, `[1,]`, `{"a"}`, `{"a":1,}`, `nul`, `True`, `"\u12"`,
	"\"\t\"", `"\'"`, "\"\x7f\"", "[1]\x00", "\v1", strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

func TestSkipIsValid(t *testing.T) {
	for _, v := range values {
		checkValue(t, []byte(v))
	}
}

// checkValue compares Skip with json.Valid, and Indent with json.Indent.
func checkValue(t *testing.T, in []byte) {
	t.Helper()
	err := Decode(in, func(d *Decoder) error { return d.Skip() })
	if valid := json.Valid(in); valid != (err == nil) {
		t.Fatalf("%.60q: Skip says %v, json.Valid says %v", in, err, valid)
	}
	if err != nil {
		return
	}
	var compact bytes.Buffer
	json.Compact(&compact, in)
	var want bytes.Buffer
	json.Indent(&want, compact.Bytes(), "> ", "\t")
	if got := Indent(nil, compact.Bytes(), "> ", "\t"); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("Indent(%.60q):\n%s\njson.Indent:\n%s", compact.Bytes(), got, want.Bytes())
	}
}

func FuzzValue(f *testing.F) {
	for _, v := range values {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkValue(t, in) })
}

func FuzzString(f *testing.F) {
	for _, s := range strs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := AppendString(nil, s)
		if want, _ := json.Marshal(s); !bytes.Equal(enc, want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json writes %s", s, enc, want)
		}
		var want, got string
		json.Unmarshal(enc, &want)
		if err := Decode(enc, func(d *Decoder) error { return d.String(&got) }); err != nil || got != want {
			t.Fatalf("decoding %s: %q, %v; encoding/json: %q", enc, got, err, want)
		}
		// s itself as the inside of a string literal, escapes and all.
		in := []byte(`"` + s + `"`)
		var jerr, merr error
		want, got = "", ""
		jerr = json.Unmarshal(in, &want)
		merr = Decode(in, func(d *Decoder) error { return d.String(&got) })
		if (jerr == nil) != (merr == nil) || jerr == nil && got != want {
			t.Fatalf("decoding %q: %q, %v; encoding/json: %q, %v", in, got, merr, want, jerr)
		}
	})
}
