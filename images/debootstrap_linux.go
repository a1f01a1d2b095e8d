package images

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// runDebootstrap runs debootstrap in a private mount namespace (Go makes
// its mounts MS_PRIVATE recursively), so what it mounts in the target is
// gone when it ends, however it ends, and never propagates to the host.
func runDebootstrap(prog string, args []string, out io.Writer) error {
	cmd := exec.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Stdin = nil
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %s %q: %w", prog, args, err)
	}
	return nil
}
