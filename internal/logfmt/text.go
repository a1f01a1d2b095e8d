package logfmt

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file follows log/slog's TextHandler (handler.go, text_handler.go,
// value.go, record.go of Go 1.26) for the default HandlerOptions: no
// ReplaceAttr, no source, no groups.

// badKey is the key of a value without one, as slog writes it.
const badKey = "!BADKEY"

// appendArgs appends the key-value pairs of args as slog's argsToAttr pairs
// them, each after a space.
func appendArgs(b []byte, args []any) []byte {
	for len(args) > 0 {
		var key string
		var val any
		switch k := args[0].(type) {
		case string:
			if len(args) == 1 {
				key, val, args = badKey, k, nil
			} else {
				key, val, args = k, args[1], args[2:]
			}
		default:
			key, val, args = badKey, k, args[1:]
		}
		if key == "" && val == nil { // slog elides an empty Attr
			continue
		}
		b = append(b, ' ')
		b = appendString(b, key)
		b = append(b, '=')
		b = appendValue(b, val)
	}
	return b
}

// appendValue appends v as slog's TextHandler writes a Value made by
// slog.AnyValue(v).
func appendValue(b []byte, v any) (out []byte) {
	defer func() {
		if r := recover(); r != nil {
			// As slog: a nil pointer whose method panicked is most likely
			// a TextMarshaler that fails to guard against nil.
			if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
				out = appendString(b, "<nil>")
				return
			}
			out = appendString(b, fmt.Sprintf("!PANIC: %v", r))
		}
	}()
	switch x := v.(type) {
	case string:
		return appendString(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int8:
		return strconv.AppendInt(b, int64(x), 10)
	case int16:
		return strconv.AppendInt(b, int64(x), 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case uintptr:
		return strconv.AppendUint(b, uint64(x), 10)
	case float32:
		return strconv.AppendFloat(b, float64(x), 'g', -1, 64)
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case bool:
		return strconv.AppendBool(b, x)
	case time.Duration:
		return append(b, x.String()...)
	case time.Time:
		if x.IsZero() { // slog keeps no location for a zero time
			x = time.Time{}
		}
		return appendRFC3339Millis(b, x.Round(0))
	case encoding.TextMarshaler:
		data, err := x.MarshalText()
		if err != nil {
			return appendString(b, fmt.Sprintf("!ERROR:%v", err))
		}
		return appendString(b, string(data))
	}
	if bs, ok := byteSlice(v); ok {
		return strconv.AppendQuote(b, string(bs))
	}
	return appendString(b, fmt.Sprintf("%+v", v))
}

// byteSlice returns a as a []byte if its underlying type is []byte.
func byteSlice(a any) ([]byte, bool) {
	if bs, ok := a.([]byte); ok {
		return bs, true
	}
	t := reflect.TypeOf(a)
	if t != nil && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		return reflect.ValueOf(a).Bytes(), true
	}
	return nil, false
}

// appendString appends s, quoted if slog would quote it.
func appendString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// needsQuoting is slog's: the empty string; in ASCII a space, '=', '"' and
// the control characters other than DEL (slog's safeSet, that of JSON
// strings, with the backslash allowed); beyond ASCII invalid UTF-8, spaces
// and what is not printable.
func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b <= ' ' || b == '=' || b == '"' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// appendRFC3339Millis is slog's time format: RFC 3339 with exactly three
// digits of fractional seconds.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	// Format according to time.RFC3339Nano since it is highly optimized,
	// but truncate it to use millisecond resolution. That format trims
	// trailing 0s, so add 1/10 millisecond to guarantee that there are
	// exactly 4 digits after the period, and drop the 4th.
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b[:n+prefixLen], b[n+prefixLen+1:]...) // drop the 4th digit
	return b
}
