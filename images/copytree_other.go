//go:build !linux

package images

func copyTree(dst, src string) error { return errUnsupported }
