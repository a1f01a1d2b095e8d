//go:build unix

package logfile

import (
	"os"
	"syscall"
)

// deleted reports whether the open file f has no name left.
func deleted(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}
