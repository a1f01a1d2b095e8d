//go:build !linux

package images

import "archive/tar"

func tarTree(tw *tar.Writer, rootfs, vinit string) error { return errUnsupported }
