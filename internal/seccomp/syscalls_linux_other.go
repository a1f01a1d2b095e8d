//go:build linux && !amd64

package seccomp

// abis is empty where no table has been written yet: Program returns nil
// and Install fails. To add an architecture, write syscalls_linux_GOARCH.go
// with its native ABI first and any compat ABI after it (arm64: AARCH64,
// then ARM), and exclude it here.
var abis []abi
