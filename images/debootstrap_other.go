//go:build !linux

package images

import "io"

func runDebootstrap(prog string, args []string, out io.Writer) error { return errUnsupported }
