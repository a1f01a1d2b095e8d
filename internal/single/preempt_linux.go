package single

import (
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"syscall"
)

// savedGodebugEnv carries the caller's GODEBUG across the re-exec:
// "unset" when it had none, "set:" followed by its value otherwise.
const savedGodebugEnv = "VINIT_SAVED_GODEBUG"

// preemptionOff reports whether a GODEBUG value turns async preemption off.
// The runtime reads the settings left to right, the last one winning.
func preemptionOff(godebug string) bool {
	off := false
	for _, kv := range strings.Split(godebug, ",") {
		if v, ok := strings.CutPrefix(kv, "asyncpreemptoff="); ok {
			off = v != "" && v != "0"
		}
	}
	return off
}

// PreemptionOff reports whether this process runs with async preemption
// off, so the runtime sends no SIGURG of its own and a SIGURG that arrives
// was sent by somebody else: GODEBUG says so, or the binary was linked with
// -ldflags=-X=runtime.godebugDefault=asyncpreemptoff=1 (which GODEBUG
// overrides).
func PreemptionOff() bool {
	if v, ok := os.LookupEnv("GODEBUG"); ok && strings.Contains(v, "asyncpreemptoff=") {
		return preemptionOff(v)
	}
	return preemptionOff(linkedGodebug())
}

// LinkedGodebugDefault repeats, for this package, the
// runtime.godebugDefault the binary was linked with. A -trimpath build
// (as scripts/lib.sh and most packagers build) records no -ldflags in its
// build information, so without it vinit could not tell that the runtime
// was linked with async preemption off and would re-execute itself on
// every start. Link the two together:
//
//	-ldflags='-X=runtime.godebugDefault=asyncpreemptoff=1
//	  -X=github.com/vservers/vserver/internal/single.LinkedGodebugDefault=asyncpreemptoff=1'
//
// Setting this one alone is a lie to vinit: it would then forward the
// runtime's own SIGURGs.
var LinkedGodebugDefault string

// linkedGodebug returns the runtime.godebugDefault the binary was linked
// with: LinkedGodebugDefault if the build set it, or else as far as the
// build information tells.
func linkedGodebug() string {
	if LinkedGodebugDefault != "" {
		return LinkedGodebugDefault
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range info.Settings {
		if s.Key != "-ldflags" {
			continue
		}
		// The last -X for the variable wins, as in the linker.
		var v string
		for _, f := range strings.Fields(s.Value) {
			f = strings.TrimPrefix(strings.TrimPrefix(f, "-X="), "-X")
			if d, ok := strings.CutPrefix(f, "runtime.godebugDefault="); ok {
				v = strings.Trim(d, `"'`)
			}
		}
		return v
	}
	return ""
}

// ReexecWithoutPreemption re-executes the running binary with the same
// arguments and GODEBUG=asyncpreemptoff=1 appended, unless preemption is
// already off. It returns only if the exec failed, or at once when there is
// nothing to do. The process keeps its PID, file descriptors, signal mask and
// ignored signals across the exec.
//
// No other mechanism works with a plain "go build": "//go:debug
// asyncpreemptoff=1" and the godebug block of go.mod are refused ("unknown
// //go:debug setting"), the runtime reads this setting only at startup, and
// -ldflags=-X=runtime.godebugDefault=... needs a special build.
func ReexecWithoutPreemption() error {
	if PreemptionOff() {
		return nil
	}
	env := os.Environ()
	saved := "unset"
	if v, ok := os.LookupEnv("GODEBUG"); ok {
		saved = "set:" + v
	}
	godebug := "asyncpreemptoff=1"
	if v := os.Getenv("GODEBUG"); v != "" {
		godebug = v + ",asyncpreemptoff=1"
	}
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GODEBUG=") && !strings.HasPrefix(kv, savedGodebugEnv+"=") {
			out = append(out, kv)
		}
	}
	out = append(out, "GODEBUG="+godebug, savedGodebugEnv+"="+saved)

	var errs []string
	for _, exe := range selfPaths() {
		err := syscall.Exec(exe, os.Args, out)
		errs = append(errs, err.Error())
	}
	return fmt.Errorf("re-exec without async preemption: %s", strings.Join(errs, "; "))
}

// selfPaths lists where the running binary may be found: /proc/self/exe
// first, then argv[0] (PID 1 of a fresh container may have no /proc).
func selfPaths() []string {
	paths := []string{"/proc/self/exe"}
	if len(os.Args) > 0 {
		if p, err := exec.LookPath(os.Args[0]); err == nil {
			paths = append(paths, p)
		}
	}
	return paths
}

// ChildEnv returns the environment for the child: this process's, with the
// changes ReexecWithoutPreemption made undone.
func ChildEnv() []string {
	env := os.Environ()
	saved, reexeced := os.LookupEnv(savedGodebugEnv)
	if !reexeced {
		return env
	}
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GODEBUG=") && !strings.HasPrefix(kv, savedGodebugEnv+"=") {
			out = append(out, kv)
		}
	}
	if v, ok := strings.CutPrefix(saved, "set:"); ok {
		out = append(out, "GODEBUG="+v)
	}
	return out
}
