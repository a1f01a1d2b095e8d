package images

import (
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // substring; "" for valid
	}{
		{"web", ""},
		{"debian-12.5_x", ""},
		{"0", ""},
		{strings.Repeat("a", 64), ""},
		{"", "empty"},
		{strings.Repeat("a", 65), "longer than 64"},
		{".hidden", "must start with"},
		{"-flag", "must start with"},
		{"_x", "must start with"},
		{"Web", "must start with"},
		{"a/b", `contains "/"`},
		{"a..b", `contains ".."`},
		{"a b", "is not one of"},
		{"aB", "is not one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidName(tt.name)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ValidName(%q) = %v, want nil", tt.name, err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("ValidName(%q) = nil, want an error containing %q", tt.name, tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("ValidName(%q) = %q, want it to contain %q", tt.name, err, tt.wantErr)
			}
		})
	}
}
