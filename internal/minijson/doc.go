// Package minijson writes and reads the JSON of vinit's control socket by
// hand, so that vinit, PID 1 of every vserver, does not link encoding/json
// and the reflection it brings: every page of vinit's binary that is touched
// stays resident for the guest's whole life.
//
// It is not a general JSON library. An Object writes one object's members
// in the caller's order; the caller decides what omitempty leaves out. A
// Decoder walks one value and hands each member of an object to the caller,
// who knows the schema. Both follow encoding/json where a caller could see a
// difference:
//
//   - Strings are written as encoding/json writes them by default: the
//     control characters as \b, \f, \n, \r, \t or \u00XX, '"' and '\\'
//     escaped, '<', '>' and '&' as \u003c, \u003e and \u0026, U+2028 and
//     U+2029 escaped, and each byte of invalid UTF-8 as \ufffd. So the output
//     is byte for byte what json.Marshal writes for the same struct.
//   - The decoder accepts exactly RFC 8259 JSON (what json.Valid accepts,
//     nested at most 10000 deep), with any whitespace around the value. An
//     object's keys match case-insensitively (strings.EqualFold), members the
//     caller does not know are skipped, and null leaves a string, number or
//     bool as it was. Strings decode as encoding/json decodes them: invalid
//     UTF-8 and lone surrogates become U+FFFD. An integer is a JSON number
//     that strconv.ParseInt accepts (no fraction, no exponent).
//
// Errors are *Error: what was wrong, and the byte offset in the input.
package minijson
