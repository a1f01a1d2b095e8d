package units

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/vservers/vserver/internal/strictyaml"
)

// This file holds the YAML forms that are not plain Go types: argv as a list
// or a shell-like string, environment as a mapping or a list, signals,
// resource limits and the umask.

// parseArgv reads a command: a list of strings, or one string split into
// words by SplitWords. src is the file's text: where a string is written
// verbatim on one line there, a splitting error points at its character.
func parseArgv(n *yaml.Node, src []byte) ([]string, error) {
	if n.Kind == yaml.SequenceNode {
		var s []string
		if err := strictyaml.DecodeNode(n, &s); err != nil {
			return nil, err
		}
		return s, nil
	}
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("want a list of strings or a command line, got %s", kindName(n))
	}
	words, err := SplitWords(n.Value)
	if we, ok := err.(*WordError); ok && verbatim(src, n) {
		return nil, &strictyaml.Error{Line: n.Line, Column: n.Column + we.Offset, Msg: we.Msg}
	}
	return words, err
}

// verbatim reports whether n's value is written as is, on one line, at n's
// position in src, so that an offset in the value is one in the line.
func verbatim(src []byte, n *yaml.Node) bool {
	if n.Style != 0 && n.Style != yaml.FlowStyle || n.Line < 1 || n.Column < 1 {
		return false
	}
	lines := bytes.SplitN(src, []byte("\n"), n.Line+1)
	if len(lines) < n.Line {
		return false
	}
	line := lines[n.Line-1]
	start := n.Column - 1
	end := start + len(n.Value)
	return end <= len(line) && string(line[start:end]) == n.Value && isLastOnLine(line[end:])
}

// isLastOnLine reports whether rest, what follows a plain scalar on its
// line, ends the scalar: nothing, a comment, or a flow indicator.
func isLastOnLine(rest []byte) bool {
	rest = bytes.TrimLeft(rest, " ")
	return len(rest) == 0 || rest[0] == '#' || rest[0] == ',' || rest[0] == ']' || rest[0] == '}'
}

// WordError is an error of SplitWords, at a byte offset of its input.
type WordError struct {
	Offset int
	Msg    string
}

func (e *WordError) Error() string { return fmt.Sprintf("%s (at offset %d)", e.Msg, e.Offset) }

// SplitWords splits a command line into words as a POSIX shell would, but
// without any expansion: blanks separate words; single quotes keep everything
// literally; double quotes keep everything but \", \\, \$ and \` literally; a
// backslash outside quotes escapes the next character. Since nothing is
// expanded or redirected, an unquoted shell operator (| & ; < > ( ) `) or $
// is an error rather than a literal that would surprise: run `sh -c` for a
// shell.
func SplitWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, &WordError{i, "unterminated single quote"}
			}
			w.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				switch {
				case s[j] == '\\' && j+1 < len(s) && strings.IndexByte("\"\\$`", s[j+1]) >= 0:
					j++
					w.WriteByte(s[j])
				case s[j] == '\\' && j+1 < len(s) && s[j+1] == '\n':
					j++
				case s[j] == '$' || s[j] == '`':
					return nil, &WordError{j, fmt.Sprintf("%q inside double quotes: nothing is expanded; escape it (\\%c) or use single quotes", s[j], s[j])}
				default:
					w.WriteByte(s[j])
				}
			}
			if j >= len(s) {
				return nil, &WordError{i, "unterminated double quote"}
			}
			i = j
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, &WordError{i, "backslash at the end of the command"}
			}
			i++
			if s[i] != '\n' {
				w.WriteByte(s[i])
				inWord = true
			}
		case strings.IndexByte("|&;<>()`$", c) >= 0:
			return nil, &WordError{i, fmt.Sprintf("unquoted %q: no shell runs the command, so nothing is expanded or redirected; quote it, or use [sh, -c, '...']", c)}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// env is the environment: a mapping of names to scalars, or a list of
// KEY=VALUE strings. It keeps file order.
type env []string

func (e *env) UnmarshalYAML(n *yaml.Node) error {
	var errs strictyaml.Errors
	seen := make(map[string]int)
	add := func(at *yaml.Node, field, key, value string) {
		if !envKeyRE.MatchString(key) {
			errs.Append(strictyaml.ErrorAt(at, field, "invalid variable name %q: want letters, digits and _, not starting with a digit", key))
			return
		}
		if line, dup := seen[key]; dup {
			errs.Append(strictyaml.ErrorAt(at, field, "%s set twice (first at line %d)", key, line))
			return
		}
		seen[key] = at.Line
		*e = append(*e, key+"="+value)
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			if k.Kind != yaml.ScalarNode {
				errs.Append(strictyaml.ErrorAt(k, "", "want a variable name, got %s", kindName(k)))
				continue
			}
			value := v.Value
			switch {
			case v.Kind != yaml.ScalarNode:
				errs.Append(strictyaml.ErrorAt(v, k.Value, "want a string, got %s", kindName(v)))
				continue
			case v.ShortTag() == "!!null":
				value = ""
			}
			add(k, k.Value, k.Value, value)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			field := fmt.Sprintf("[%d]", i)
			if item.Kind != yaml.ScalarNode || item.ShortTag() != "!!str" {
				errs.Append(strictyaml.ErrorAt(item, field, "want a KEY=VALUE string, got %s", kindName(item)))
				continue
			}
			key, value, ok := strings.Cut(item.Value, "=")
			if !ok {
				errs.Append(strictyaml.ErrorAt(item, field, "want KEY=VALUE, got %q", item.Value))
				continue
			}
			add(item, field, key, value)
		}
	default:
		return fmt.Errorf("want a mapping or a list of KEY=VALUE, got %s", kindName(n))
	}
	return errs.Err()
}

// signal is a signal given as TERM, SIGTERM or a number.
type signal unix.Signal

func (s *signal) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a signal name or number, got %s", kindName(n))
	}
	sig, err := ParseSignal(n.Value)
	if err != nil {
		return err
	}
	*s = signal(sig)
	return nil
}

// sigRTMIN is SIGRTMIN as C programs see it: glibc keeps the kernel's first
// two real-time signals (32, 33) for itself, so systemd's SIGRTMIN+4 is 38.
const sigRTMIN, sigRTMAX = 34, 64

// ParseSignal reads a signal as a name with or without SIG (TERM, SIGTERM,
// any case), as a real-time signal relative to RTMIN or RTMAX (RTMIN+4,
// SIGRTMAX-2, as systemd writes them) or as a number (15).
func ParseSignal(s string) (unix.Signal, error) {
	up := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	for _, rt := range []struct {
		prefix string
		base   int
		sign   int
	}{{"RTMIN", sigRTMIN, 1}, {"RTMAX", sigRTMAX, -1}} {
		rest, ok := strings.CutPrefix(up, rt.prefix)
		if !ok {
			continue
		}
		off := 0
		if rest != "" {
			op := map[int]byte{1: '+', -1: '-'}[rt.sign]
			n, err := strconv.Atoi(strings.TrimPrefix(rest, string(op)))
			if rest[0] != op || err != nil || n < 0 {
				return 0, fmt.Errorf("unknown signal %q", s)
			}
			off = rt.sign * n
		}
		if n := rt.base + off; n >= sigRTMIN && n <= sigRTMAX {
			return unix.Signal(n), nil
		}
		return 0, fmt.Errorf("signal %q is past the real-time range (RTMIN+0 to RTMIN+30)", s)
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 || unix.SignalName(unix.Signal(n)) == "" && n < 32 {
			return 0, fmt.Errorf("invalid signal number %d", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	return sig, nil
}

// rlimitNames maps the YAML names of resource limits to RLIMIT_ constants.
var rlimitNames = map[string]int{
	"as": unix.RLIMIT_AS, "core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA,
	"fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK,
	"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE,
	"nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO,
	"rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
}

// RlimitResource returns the RLIMIT_ constant for a limit's YAML name (nofile
// is unix.RLIMIT_NOFILE), and false for an unknown name.
func RlimitResource(name string) (int, bool) {
	r, ok := rlimitNames[name]
	return r, ok
}

// rlimit is a limit given as a number or unlimited (soft and hard alike), or
// as a mapping {soft, hard} of those.
type rlimit Rlimit

func (r *rlimit) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := rlimitValue(n)
		if err != nil {
			return err
		}
		*r = rlimit{Soft: v, Hard: v}
		return nil
	case yaml.MappingNode:
		var raw struct{ Soft, Hard yaml.Node }
		if err := strictyaml.DecodeNode(n, &raw); err != nil {
			return err
		}
		var errs strictyaml.Errors
		for _, f := range []struct {
			name string
			n    *yaml.Node
			v    *uint64
		}{{"soft", &raw.Soft, &r.Soft}, {"hard", &raw.Hard, &r.Hard}} {
			if f.n.Kind == 0 {
				errs.Append(strictyaml.ErrorAt(n, f.name, "required in the {soft, hard} form"))
				continue
			}
			v, err := rlimitValue(f.n)
			if err != nil {
				errs.Append(strictyaml.ErrorAt(f.n, f.name, "%v", err))
				continue
			}
			*f.v = v
		}
		if len(errs) == 0 && r.Soft > r.Hard {
			errs.Append(strictyaml.ErrorAt(&raw.Soft, "soft", "soft limit %d is above the hard limit %d", r.Soft, r.Hard))
		}
		return errs.Err()
	}
	return fmt.Errorf("want a number, unlimited, or {soft, hard}, got %s", kindName(n))
}

func rlimitValue(n *yaml.Node) (uint64, error) {
	if n.Kind == yaml.ScalarNode && (n.Value == "unlimited" || n.Value == "infinity") {
		return unix.RLIM_INFINITY, nil
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		if v, err := strconv.ParseUint(n.Value, 10, 64); err == nil {
			return v, nil
		}
	}
	return 0, fmt.Errorf("want a non-negative integer or unlimited, got %s", kindName(n))
}

// umask is a file mode creation mask, always read as octal ("022", 022 or
// 0o022 are the same).
type umask uint32

func (u *umask) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!bool" {
		return fmt.Errorf("want an octal string like \"022\", got %s", kindName(n))
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(n.Value, "0o"), 8, 32)
	if err != nil || v > 0o777 {
		return fmt.Errorf("want an octal mode from \"000\" to \"777\", got %q", n.Value)
	}
	*u = umask(v)
	return nil
}

func kindName(n *yaml.Node) string { return strictyaml.Describe(n) }
