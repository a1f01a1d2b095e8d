// Package seccomp builds and installs the default seccomp filter of a
// vserver: a classic BPF program, assembled here without libseccomp or cgo,
// that makes the system calls reaching into the kernel as a whole (module
// loading, kexec, the kernel keyring, open_by_handle_at, BPF, perf, mounts,
// new namespaces and the like) fail with EPERM, so guest root neither shares
// the host's keyring nor probes kernel code that capabilities alone guard.
//
// The filter is a deny list: every call it does not name is allowed, so a
// guest's Debian runs unchanged and new system calls keep working on new
// kernels. It checks the architecture first and denies the same calls by
// their i386 numbers, so int 0x80 is no way around it; the x32 ABI gets
// ENOSYS, as on a kernel built without it. docs/security.md lists every
// call with the reason and how the list compares with Docker's default
// profile.
//
// Install puts the filter on the calling thread only. The caller locks its
// goroutine to the thread (runtime.LockOSThread, never unlocked) and then
// execs or forks the guest from it: the filter is inherited across fork
// and execve and cannot be removed.
package seccomp
