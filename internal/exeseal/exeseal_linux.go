package exeseal

import (
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// Sealed reports whether the running binary is a sealed memfd.
func Sealed() bool {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return false
	}
	defer f.Close()
	s, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	return err == nil && s&seals == seals
}

// Reexec re-executes the running binary, with the same arguments and
// environment, from a sealed memfd copy of itself, unless it already runs
// from one. It returns only on failure.
func Reexec() error {
	if Sealed() {
		return nil
	}
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("seal the binary: %w", err)
	}
	defer self.Close()
	fd, err := unix.MemfdCreate("vhost", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return fmt.Errorf("seal the binary: memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd:vhost")
	defer mem.Close()
	if _, err := io.Copy(mem, self); err != nil {
		return fmt.Errorf("seal the binary: copy: %w", err)
	}
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		return fmt.Errorf("seal the binary: %w", err)
	}
	// execveat(fd, "", AT_EMPTY_PATH) runs the memfd itself; the kernel
	// reads the file before it closes the close-on-exec fd.
	err = execveat(int(mem.Fd()), os.Args, os.Environ())
	return fmt.Errorf("seal the binary: execveat: %w", err)
}

func execveat(fd int, argv, env []string) error {
	argvp, err := cStrings(argv)
	if err != nil {
		return err
	}
	envp, err := cStrings(env)
	if err != nil {
		return err
	}
	empty, _ := unix.BytePtrFromString("")
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	return errno
}

// cStrings is ss as the NULL-terminated array of C strings execve takes.
func cStrings(ss []string) ([]*byte, error) {
	out := make([]*byte, len(ss)+1)
	for i, s := range ss {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}
