// Command gofloor is the least a Go init can do, as a reference for
// vinit's single-command mode in bench/init: it subscribes to every
// catchable signal, starts its command in a session of its own, forwards
// each signal to the command's process group, reaps every child and exits
// with the command's status. No flags, no terminal handling, no leftovers'
// termination, no re-exec. Whatever it costs is what the Go runtime costs.
//
//	gofloor -- CMD [ARGS...]
package main

import (
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) < 3 || os.Args[1] != "--" {
		os.Stderr.WriteString("usage: gofloor -- CMD [ARGS...]\n")
		os.Exit(2)
	}
	argv := os.Args[2:]
	c := make(chan os.Signal, 64)
	var sigs []os.Signal
	for s := syscall.Signal(1); s <= 64; s++ {
		switch s {
		case syscall.SIGKILL, syscall.SIGSTOP, 32, 33, 34:
			continue
		}
		sigs = append(sigs, s)
	}
	signal.Notify(c, sigs...)
	const prSetChildSubreaper = 36
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	pid, err := syscall.ForkExec(lookPath(argv[0]), argv, &syscall.ProcAttr{
		Env: os.Environ(), Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		os.Exit(127)
	}
	runtime.GOMAXPROCS(1)
	for s := range c {
		if s != syscall.SIGCHLD {
			syscall.Kill(-pid, s.(syscall.Signal))
			continue
		}
		for {
			var ws syscall.WaitStatus
			p, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err != nil || p <= 0 {
				break
			}
			if p == pid {
				if ws.Signaled() {
					os.Exit(128 + int(ws.Signal()))
				}
				os.Exit(ws.ExitStatus())
			}
		}
	}
}

// lookPath finds name in $PATH unless it has a slash.
func lookPath(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	for _, dir := range strings.Split(os.Getenv("PATH"), ":") {
		if p := dir + "/" + name; syscall.Access(p, 1) == nil {
			return p
		}
	}
	return name
}
