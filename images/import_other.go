//go:build !linux

package images

import "io"

func extractArchive(root string, r io.Reader, opt ImportOptions) (string, error) {
	return "", errUnsupported
}

// ImportOCI needs Linux (openat2).
func (s *Store) ImportOCI(name, p string, opt ImportOptions) (*Image, error) {
	return nil, errUnsupported
}
