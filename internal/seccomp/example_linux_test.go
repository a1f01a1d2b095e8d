package seccomp_test

import (
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/seccomp"
)

// The filter goes on a locked thread, after the namespaces, mounts and
// capabilities are set up (it denies mount and sethostname), right before
// the guest is exec'd or forked from that thread.
func ExampleFilter_Install() {
	runtime.LockOSThread() // never unlocked
	if err := seccomp.Default().Install(); err != nil {
		panic(err)
	}
	_ = unix.Exec("/sbin/vinit", []string{"/sbin/vinit"}, nil)
}
