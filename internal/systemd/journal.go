package systemd

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
)

// NewLogHandler returns a slog handler that writes to the journal when
// journald listens (journal.Enabled), and a text handler on w otherwise.
func NewLogHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	return newLogHandler(w, opts, journal.Enabled())
}

func newLogHandler(w io.Writer, opts *slog.HandlerOptions, journald bool) slog.Handler {
	if journald {
		return NewJournalHandler(opts)
	}
	return slog.NewTextHandler(w, opts)
}

// JournalHandler writes records to the journal: MESSAGE is the message
// followed by the attributes as key=value, PRIORITY follows the level, and
// every attribute is a field of its own, its key in upper case with groups
// joined by "_" ("vserver" → VSERVER, "context_id" → CONTEXT_ID), so
// `journalctl VSERVER=web` finds a vserver's lines.
type JournalHandler struct {
	level  slog.Leveler
	prefix string      // group prefix of the fields, "G_" or ""
	attrs  []field     // from WithAttrs, prefixed
	send   sendFunc    // journal.Send, or a test's
	mu     *sync.Mutex // serializes send
}

type field struct{ key, text string }

type sendFunc func(message string, priority journal.Priority, vars map[string]string) error

// NewJournalHandler returns a handler that sends every record to journald.
// Only opts.Level is used.
func NewJournalHandler(opts *slog.HandlerOptions) *JournalHandler {
	return newJournalHandler(opts, journal.Send)
}

func newJournalHandler(opts *slog.HandlerOptions, send sendFunc) *JournalHandler {
	h := &JournalHandler{level: slog.LevelInfo, send: send, mu: new(sync.Mutex)}
	if opts != nil && opts.Level != nil {
		h.level = opts.Level
	}
	return h
}

// Enabled reports whether level is at or above the handler's level.
func (h *JournalHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// Handle sends r to the journal.
func (h *JournalHandler) Handle(_ context.Context, r slog.Record) error {
	msg, vars := h.entry(r)
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.send(msg, priority(r.Level), vars)
}

// entry builds the MESSAGE and the fields of r.
func (h *JournalHandler) entry(r slog.Record) (string, map[string]string) {
	fs := append([]field(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		fs = appendAttr(fs, h.prefix, a)
		return true
	})
	var b strings.Builder
	b.WriteString(r.Message)
	vars := make(map[string]string, len(fs))
	for _, f := range fs {
		b.WriteByte(' ')
		b.WriteString(strings.ToLower(f.key))
		b.WriteByte('=')
		if strings.ContainsAny(f.text, " \t\n\"=") || f.text == "" {
			b.WriteString(strconv.Quote(f.text))
		} else {
			b.WriteString(f.text)
		}
		vars[f.key] = f.text
	}
	return b.String(), vars
}

// WithAttrs returns a handler whose records carry attrs as well.
func (h *JournalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]field(nil), h.attrs...)
	for _, a := range attrs {
		h2.attrs = appendAttr(h2.attrs, h.prefix, a)
	}
	return &h2
}

// WithGroup returns a handler whose later attributes are in group name.
func (h *JournalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + fieldName(name) + "_"
	return &h2
}

func appendAttr(fs []field, prefix string, a slog.Attr) []field {
	v := a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return fs
	}
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += fieldName(a.Key) + "_"
		}
		for _, g := range v.Group() {
			fs = appendAttr(fs, p, g)
		}
		return fs
	}
	return append(fs, field{key: prefix + fieldName(a.Key), text: v.String()})
}

// fieldName makes a journal field name of a key: upper case, every byte
// outside A-Z, 0-9 and '_' replaced by '_', no leading '_' or digit (those
// are journald's own), at most 64 bytes.
func fieldName(key string) string {
	b := []byte(strings.ToUpper(key))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	s := strings.TrimLeft(string(b), "_")
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "F_" + s
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// priority maps a level to syslog's: debug 7, info 6, warn 4, error 3.
func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}

// StderrIsJournal reports whether stderr is a stream to the journal, as a
// systemd service's is ($JOURNAL_STREAM names it): then logging to the
// journal directly, with fields, loses nothing the user would look for
// elsewhere.
func StderrIsJournal() bool {
	ok, _ := journal.StderrIsJournalStream()
	return ok
}
