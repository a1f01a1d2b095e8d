//go:build !linux

package quota

import (
	"fmt"
	"runtime"
)

var errOS = fmt.Errorf("%w on %s", ErrUnsupported, runtime.GOOS)

// Supported says that project quotas need Linux.
func Supported(dir string) error { return errOS }

// SetLimit needs Linux.
func SetLimit(dir string, id uint32, bytes uint64) error { return errOS }

// Get needs Linux.
func Get(dir string, id uint32) (Usage, error) { return Usage{}, errOS }

// ProjectID needs Linux.
func ProjectID(dir string) (uint32, error) { return 0, errOS }
