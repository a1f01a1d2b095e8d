//go:build !linux

package images

import (
	"errors"
	"os"
)

var errUnsupported = errors.New("image store: only supported on Linux")

func (s *Store) lock(exclusive bool) (func(), error) { return nil, errUnsupported }

func (s *Store) tryLockExclusive() (func(), bool, error) { return nil, false, errUnsupported }

func renameNoReplace(old, new string) error {
	return &os.LinkError{Op: "rename", Old: old, New: new, Err: errUnsupported}
}

func syncDir(dir string) error { return errUnsupported }

func mountsBelow(dir string) ([]string, error) { return nil, errUnsupported }
