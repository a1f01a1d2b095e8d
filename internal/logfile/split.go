package logfile

import (
	"bytes"
	"unicode/utf8"
)

// MaxLine is the longest line an Output passes on; longer ones are split
// into pieces of at most MaxLine bytes, at a UTF-8 character boundary where
// one is near.
const MaxLine = 16 << 10

// splitter cuts a byte stream into lines. It keeps an unterminated tail
// until its newline arrives or it grows past max.
type splitter struct {
	max     int
	partial []byte
}

// write feeds p and calls emit with every line completed, without its
// newline. emit must not keep the slice.
func (s *splitter) write(p []byte, emit func([]byte)) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.partial = append(s.partial, p...)
			if len(s.partial) > s.max {
				rest := s.emitLong(s.partial, emit)
				s.partial = append(s.partial[:0], rest...)
			}
			return
		}
		line := p[:i]
		if len(s.partial) > 0 {
			s.partial = append(s.partial, line...)
			line = s.partial
		}
		emit(s.emitLong(line, emit))
		s.partial = s.partial[:0]
		p = p[i+1:]
	}
}

// flush emits the unterminated tail, if any, as a line of its own.
func (s *splitter) flush(emit func([]byte)) {
	if len(s.partial) == 0 {
		return
	}
	emit(s.emitLong(s.partial, emit))
	s.partial = s.partial[:0]
}

// emitLong emits max-sized pieces of b while more than max bytes are left
// and returns the rest, at most max bytes.
func (s *splitter) emitLong(b []byte, emit func([]byte)) []byte {
	for len(b) > s.max {
		cut := s.max
		// Back off to the start of a character, if one begins within
		// the last few bytes; otherwise it is not UTF-8: cut anywhere.
		for k := 0; k < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(b[cut]); k++ {
			cut--
		}
		if !utf8.RuneStart(b[cut]) {
			cut = s.max
		}
		emit(b[:cut])
		b = b[cut:]
	}
	return b
}
