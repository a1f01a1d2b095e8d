// Package logfmt is vinit's structured logger: levelled key=value records,
// one line each, in exactly the text format of log/slog's TextHandler with
// its default options, for example
//
//	time=2026-12-01T13:38:38.123Z level=INFO msg="vinit starting" pid=1 units=/etc/vinit/units
//
// vinit does not link log/slog: slog's package initialisation installs a
// default handler whose shared code calls encoding/json, so linking slog at
// all links the reflection-driven JSON encoder, about 300 KB of a binary
// whose every touched page is resident in every guest. Users, scripts and
// tests read vinit's messages as slog text (bench/units/run.sh greps
// msg=started and parses time=), so the format is slog's, byte for byte;
// TestMatchesSlogTextHandler renders the same records through both.
//
// The calls are shaped like slog's: log.Info("started", "service", name,
// "pid", pid), log.With("service", name) for a derived logger whose keys come
// before each call's, a minimum level, and Discard (a nil *Logger discards
// too). Values are written as slog writes them: strings quoted with
// strconv.Quote when they hold a space, '=', '"', a control character or
// anything not printable; time.Time as RFC 3339 with milliseconds;
// time.Duration by its String method; numbers and bools as strconv writes
// them; encoding.TextMarshaler by MarshalText; []byte quoted; anything else
// (errors, fmt.Stringer, nil, slices, structs) by fmt's %+v. A key without a
// value, or a value where a key should be, is written with the key !BADKEY.
// Not supported, because they are slog's own types: slog.Attr arguments,
// groups and slog.LogValuer.
//
// Each record is one Write on the io.Writer, serialised by a mutex shared by
// a logger and everything derived from it, so a line on /dev/kmsg is one
// kernel record and concurrent lines never interleave.
//
// go vet's slog check knows only log/slog's functions, so it does not check
// these calls; TestCallsHaveKeyValuePairs checks vinit's packages' calls
// instead: an even number of arguments after the message, each key a string
// literal.
package logfmt
