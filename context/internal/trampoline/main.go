// Command trampoline is a stand-in init for the context package's tests:
// mounted at /sbin/vinit, it execs its arguments, so that a shell script
// runs as PID 1 of the context and reports what the guest sees.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: trampoline CMD [ARGS...]")
		os.Exit(2)
	}
	err := syscall.Exec(os.Args[1], os.Args[1:], os.Environ())
	fmt.Fprintln(os.Stderr, "trampoline:", err)
	os.Exit(127)
}
