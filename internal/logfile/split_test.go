package logfile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitter(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   []string // lines emitted, the flushed tail last
	}{
		{"whole lines", 80, []string{"a\nb\n"}, []string{"a", "b"}},
		{"empty lines kept", 80, []string{"\n\na\n"}, []string{"", "", "a"}},
		{"line across writes", 80, []string{"hel", "lo", " world\nnext"}, []string{"hello world", "next"}},
		{"newline alone", 80, []string{"abc", "\n"}, []string{"abc"}},
		{"tail flushed", 80, []string{"no newline"}, []string{"no newline"}},
		{"long line split", 4, []string{"abcdefghij\n"}, []string{"abcd", "efgh", "ij"}},
		{"exactly max", 4, []string{"abcd\n"}, []string{"abcd"}},
		{"long partial split before its newline", 4, []string{"abcdef", "ghijkl", "m\n"}, []string{"abcd", "efgh", "ijkl", "m"}},
		{"utf-8 kept whole", 4, []string{"ab€cd\n"}, []string{"ab", "€c", "d"}},
		{"not utf-8 cut anywhere", 4, []string{"\x80\x80\x80\x80\x80\x80\n"}, []string{"\x80\x80\x80\x80", "\x80\x80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			emit := func(b []byte) { got = append(got, string(b)) }
			s := splitter{max: tt.max}
			for _, w := range tt.writes {
				s.write([]byte(w), emit)
			}
			s.flush(emit)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines of %q (-want +got):\n%s", strings.Join(tt.writes, "|"), diff)
			}
			for _, l := range got {
				if len(l) > tt.max {
					t.Errorf("line %q: %d bytes, over max %d", l, len(l), tt.max)
				}
			}
		})
	}
}
