package units

import (
	"errors"
	"strconv"
	"testing"

	"github.com/vservers/vserver/internal/strictyaml"
)

var unquote = strconv.Unquote

// FuzzParse checks that Parse never panics, that its errors all name the
// file, and that a unit it accepts survives Marshal and Parse unchanged,
// which re-validates it. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := Parse("fuzz.yaml", data)
		if err != nil {
			var es strictyaml.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("Parse error is %T %v, want a non-empty strictyaml.Errors", err, err)
			}
			for _, e := range es {
				if e.File != "fuzz.yaml" {
					t.Fatalf("error %q does not name the file", e)
				}
			}
			if u != nil {
				t.Fatalf("Parse returned a unit and an error")
			}
			return
		}
		roundTrip(t, u)
	})
}
