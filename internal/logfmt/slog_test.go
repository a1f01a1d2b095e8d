package logfmt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// Values of the kinds slog treats apart: named types, Stringers, errors,
// TextMarshalers, byte slices.
type (
	action    string // as units.Action
	number    int
	signal    int
	bytesType []byte
	textOK    struct{ s string }
	textErr   struct{}
	textPanic struct{}
	nilErr    struct{ msg string }
	pair      struct {
		A int
		B string
	}
)

type textPtr struct{ s string } // a TextMarshaler by pointer

func (s signal) String() string                 { return fmt.Sprintf("SIG%d", int(s)) }
func (t textOK) MarshalText() ([]byte, error)   { return []byte(t.s), nil }
func (textErr) MarshalText() ([]byte, error)    { return nil, errors.New("cannot marshal") }
func (*textPanic) MarshalText() ([]byte, error) { panic("marshal panicked") }
func (t *textPtr) MarshalText() ([]byte, error) { return []byte(t.s), nil }
func (e *nilErr) Error() string                 { return e.msg } // panics on nil: fmt writes <nil>

// TestMatchesSlogTextHandler renders records through slog.TextHandler with
// its default options and through a Logger, at the same instant, and wants
// the same bytes.
func TestMatchesSlogTextHandler(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	when := time.Date(2026, 12, 1, 13, 38, 38, 123456789, time.UTC)
	now := time.Now() // with a monotonic reading
	var nilText *textPtr
	var nilErrPtr *nilErr
	var nilIface error

	type rec struct {
		name  string
		t     time.Time
		level Level
		msg   string
		with  [][]any // successive With calls
		args  []any
	}
	recs := []rec{
		{name: "vinit starting", msg: "vinit starting", args: []any{"pid", 1, "units", "/etc/vinit/units"}},
		{name: "started", msg: "started", with: [][]any{{"service", "web"}}, args: []any{"pid", 4242}},
		{name: "levels debug", level: LevelDebug, msg: "d"},
		{name: "levels warn", level: LevelWarn, msg: "w"},
		{name: "levels error", level: LevelError, msg: "e"},
		{name: "level INFO+2", level: 2, msg: "m"},
		{name: "level DEBUG-4", level: -8, msg: "m"},
		{name: "level WARN-1", level: 3, msg: "m"},
		{name: "level ERROR+5", level: 13, msg: "m"},
		{name: "empty message", msg: ""},
		{name: "message with =", msg: "a=b"},
		{name: "message with quote", msg: `say "hi"`},
		{name: "message with backslash", msg: `C:\dir`},
		{name: "time UTC", t: when, msg: "m"},
		{name: "time zone", t: when.In(ist), msg: "m"},
		{name: "time local", t: when.Local(), msg: "m"},
		{name: "time whole second", t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), msg: "m"},
		{name: "time 999.9ms", t: time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC), msg: "m"},
		{name: "time monotonic", t: now, msg: "m"},
		{name: "time zero: no time key", t: time.Time{}, msg: "m"},
		{name: "strings", msg: "m", args: []any{
			"plain", "word", "empty", "", "space", "a b", "eq", "a=b", "quote", `a"b`,
			"backslash", `a\b`, "tab", "a\tb", "newline", "a\nb", "del", "a\x7fb",
			"nul", "a\x00b", "unicode", "ünïcødé", "nbsp", "a\u00a0b", "zwsp", "a\u200bb",
			"emoji", "🙂", "invalid", "a\xffb", "brackets", "[x]", "braces", "{x}",
			"path", "/etc/vinit/units/web.yaml:2:10", "comma", "a,b", "colon", "a:b",
		}},
		{name: "keys", msg: "m", args: []any{"", 1, "a key", 2, "k=v", 3, `k"`, 4, "ü", 5, "\t", 6}},
		{name: "empty attr elided", msg: "m", args: []any{"a", 1, "", nil, "b", 2}},
		{name: "empty key, typed nil kept", msg: "m", args: []any{"", (*int)(nil)}},
		{name: "empty key, zero int kept", msg: "m", args: []any{"", 0}},
		{name: "ints", msg: "m", args: []any{
			"int", -1, "int8", int8(-128), "int16", int16(32767), "int32", int32(-5),
			"int64", int64(math.MinInt64), "uint", uint(7), "uint8", uint8(255),
			"uint16", uint16(65535), "uint32", uint32(math.MaxUint32), "uint64", uint64(math.MaxUint64),
			"uintptr", uintptr(0xdead),
		}},
		{name: "floats", msg: "m", args: []any{
			"f64", 1.5, "f32", float32(0.1), "inf", math.Inf(1), "-inf", math.Inf(-1), "nan", math.NaN(),
			"negzero", math.Copysign(0, -1), "big", 1e21, "small", 1e-7, "int-valued", 3.0,
		}},
		{name: "bools", msg: "m", args: []any{"t", true, "f", false}},
		{name: "nil", msg: "m", args: []any{"nil", nil, "nil error", nilIface}},
		{name: "errors", msg: "m", args: []any{
			"err", errors.New("boom"), "wrapped", fmt.Errorf("start services: %w", errors.New("no such unit")),
			"path", &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist},
			"quote", errors.New(`unknown restart "sometimes"`), "nil pointer", error(nilErrPtr),
			"joined", errors.Join(errors.New("a"), errors.New("b")),
		}},
		{name: "stringers and named types", msg: "m", args: []any{
			"action", action("poweroff"), "action space", action("power off"), "number", number(3),
			"signal", signal(15), "month", time.March, "mode", os.FileMode(0o644), "level", LevelWarn,
			"slog level", slog.LevelWarn,
		}},
		{name: "durations", msg: "m", args: []any{
			"d", 1500 * time.Millisecond, "zero", time.Duration(0), "neg", -time.Nanosecond,
			"long", 26 * time.Hour, "named", number(time.Second),
		}},
		{name: "time values", msg: "m", args: []any{
			"utc", when, "ist", when.In(ist), "local", when.Local(), "monotonic", now,
			"zero", time.Time{}, "zero in a zone", time.Time{}.In(ist),
			"year 3000", time.Date(3000, 1, 1, 0, 0, 0, 5e6, time.UTC), "year 1000", time.Date(1000, 1, 1, 0, 0, 0, 0, ist),
		}},
		{name: "slices and structs", msg: "m", args: []any{
			"argv", []string{"sleep", "1000"}, "one", []string{"one"}, "none", []string{}, "nil slice", []string(nil),
			"ints", []int{1, 2}, "anys", []any{"a", 1, nil}, "map", map[string]int{"b": 2, "a": 1},
			"struct", pair{1, "x"}, "pointer", &pair{2, "y y"}, "nil pointer", (*pair)(nil),
		}},
		{name: "byte slices", msg: "m", args: []any{
			"bytes", []byte("bytes"), "space", []byte("a b"), "nil", []byte(nil), "named", bytesType("named"),
			"binary", []byte{0, 1, 0xff},
		}},
		{name: "text marshalers", msg: "m", args: []any{
			"addr", netip.MustParseAddr("10.0.0.1"), "ok", textOK{"a b"}, "plain", textOK{"ab"},
			"err", textErr{}, "ptr", &textPtr{"p"}, "nil ptr", nilText, "panic", &textPanic{},
			"nil panic", (*textPanic)(nil),
		}},
		{name: "odd: key without value", msg: "m", args: []any{"a", 1, "dangling"}},
		{name: "odd: non-string key", msg: "m", args: []any{1, 2, "k", "v"}},
		{name: "odd: value then key", msg: "m", args: []any{"k", 1, 2}},
		{name: "odd: nil key", msg: "m", args: []any{nil}},
		{name: "odd: error as key", msg: "m", args: []any{errors.New("e"), "k", "v"}},
		{name: "with before call", msg: "m", with: [][]any{{"service", "web", "n", 1}}, args: []any{"pid", 2}},
		{name: "with twice", msg: "m", with: [][]any{{"vinit", 7}, {"service", "a b"}}, args: []any{"x", 1}},
		{name: "with nothing", msg: "m", with: [][]any{{}}, args: []any{"x", 1}},
		{name: "with only an empty attr", msg: "m", with: [][]any{{"", nil}}, args: []any{"x", 1}},
		{name: "with odd", msg: "m", with: [][]any{{"a", 1, "dangling"}}, args: []any{"x", 1}},
		{name: "with, no call args", msg: "m", with: [][]any{{"service", "web"}}},
		{name: "same key twice", msg: "m", with: [][]any{{"k", 1}}, args: []any{"k", 2}},
	}
	for _, r := range recs {
		t.Run(r.name, func(t *testing.T) {
			tm := r.t
			if tm.IsZero() && !strings.HasPrefix(r.name, "time zero") {
				tm = when
			}

			var want bytes.Buffer
			sl := slog.New(slog.NewTextHandler(&want, &slog.HandlerOptions{Level: slog.LevelDebug - 10}))
			for _, w := range r.with {
				sl = sl.With(w...)
			}
			sr := slog.NewRecord(tm, slog.Level(r.level), r.msg, 0)
			sr.Add(r.args...)
			if err := sl.Handler().Handle(context.Background(), sr); err != nil {
				t.Fatal(err)
			}

			var got bytes.Buffer
			l := New(&got, LevelDebug-10)
			l.out.now = func() time.Time { return tm }
			for _, w := range r.with {
				l = l.With(w...)
			}
			l.Log(r.level, r.msg, r.args...)

			if got.String() != want.String() {
				t.Errorf("differs from slog.TextHandler:\n got: %q\nwant: %q", got.String(), want.String())
			}
		})
	}
}

// TestMethodsMatchSlog: Debug, Info, Warn and Error write what slog's
// methods of the same names write, with slog's time (the test compares the
// lines after the time field) and a minimum level.
func TestMethodsMatchSlog(t *testing.T) {
	for _, min := range []Level{LevelDebug, LevelInfo, LevelWarn, LevelError} {
		var want, got bytes.Buffer
		sl := slog.New(slog.NewTextHandler(&want, &slog.HandlerOptions{Level: slog.Level(min)})).With("vinit", 12)
		l := New(&got, min).With("vinit", 12)
		for _, log := range []struct {
			s func(string, ...any)
			l func(string, ...any)
		}{{sl.Debug, l.Debug}, {sl.Info, l.Info}, {sl.Warn, l.Warn}, {sl.Error, l.Error}} {
			log.s("child exited", "pid", 3, "status", "exit status 1")
			log.l("child exited", "pid", 3, "status", "exit status 1")
		}
		if w, g := afterTime(t, want.String()), afterTime(t, got.String()); g != w {
			t.Errorf("min %v: got\n%s\nwant\n%s", min, g, w)
		}
	}
}

// afterTime checks that every line starts with a time as slog writes it,
// and returns the lines without it.
func afterTime(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for line := range strings.Lines(s) {
		ts, rest, ok := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if !ok || !strings.HasPrefix(line, "time=") {
			t.Fatalf("line without a time: %q", line)
		}
		if _, err := time.Parse(time.RFC3339, ts); err != nil || len(ts) < len("2006-01-02T15:04:05.000Z") || ts[19] != '.' {
			t.Fatalf("time %q not RFC 3339 with milliseconds (%v)", ts, err)
		}
		b.WriteString(rest)
	}
	return b.String()
}
