package images

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped with the image's name.
var (
	ErrExist    = errors.New("image already exists")
	ErrNotExist = errors.New("image does not exist")
	ErrInUse    = errors.New("image is in use")
)

// MaxNameLen is the longest image name.
const MaxNameLen = 64

// ValidName reports whether name can name an image: 1 to 64 characters from
// [a-z0-9_.-], starting with a letter or digit. That rules out "/", "..",
// and names that hide (a leading dot) or look like flags (a leading dash).
// The error says which rule name breaks.
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("invalid image name: empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("invalid image name %q: longer than %d characters", name, MaxNameLen)
	case !isLowerAlnum(name[0]):
		return fmt.Errorf("invalid image name %q: must start with a lowercase letter or digit", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '/' {
			return fmt.Errorf("invalid image name %q: contains %q", name, "/")
		}
		if !isLowerAlnum(c) && c != '_' && c != '.' && c != '-' {
			return fmt.Errorf("invalid image name %q: character %q at %d is not one of a-z 0-9 _ . -", name, c, i)
		}
		if c == '.' && i+1 < len(name) && name[i+1] == '.' {
			return fmt.Errorf("invalid image name %q: contains %q", name, "..")
		}
	}
	return nil
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
