//go:build !linux

package images

import "io"

func extractArchive(root string, r io.Reader, opt ImportOptions) (string, error) {
	return "", errUnsupported
}
