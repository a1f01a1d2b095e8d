package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/units"
)

// The pre-exec stage sets, between fork and the program's execve, what
// syscall.SysProcAttr can't: resource limits (Go 1.26 has no field for
// them, and limits set from outside after execve come too late: execve
// itself lays out the stack by RLIMIT_STACK, and the program's first
// instructions run under the old ones). Only units that need it pay for
// it: the child execs this binary again (/proc/self/exe) as argv[0]
// stageArg0, which sets the limits, then the credentials (in that order:
// raising a hard limit needs vinit's privileges, and setuid(2) checks
// RLIMIT_NPROC), then execs the program. It reports a failure, its own or
// that execve's, on file descriptor 3, which it has marked close-on-exec:
// the supervisor reads that pipe to its end, so a start still returns once
// the program itself has been exec'd.
//
// The stage is caught by this package's init, before flags and before
// main's own init, in every binary that links the supervisor (vinit and
// the tests). It runs no guest code: vinit is read-only in a context.

// stageArg0 marks the pre-exec stage.
const stageArg0 = "vinit-exec-stage"

// stageFd is the stage's error pipe.
const stageFd = 3

// stageExitCode is the stage's exit status when it fails.
const stageExitCode = 127

// stageSpec is what the stage does, in argv[1] as JSON; argv[2:] is the
// program's argv.
type stageSpec struct {
	Path    string           `json:"path"`
	Rlimits []stageRlimit    `json:"rlimits,omitempty"`
	Umask   *uint32          `json:"umask,omitempty"`
	Cred    *stageCredential `json:"cred,omitempty"`
}

type stageRlimit struct {
	Name     string `json:"name"`
	Resource int    `json:"resource"`
	Cur      uint64 `json:"cur"`
	Max      uint64 `json:"max"`
}

type stageCredential struct {
	Uid, Gid uint32
	Groups   []uint32
}

func init() {
	if len(os.Args) > 1 && os.Args[0] == stageArg0 {
		runStage(os.Args[1], os.Args[2:]) // does not return
	}
}

// stageArgv returns the path and argv that run path with argv through the
// stage, with u's limits and umask and the credential c.
func stageArgv(u *units.Unit, path string, c *syscall.Credential) (string, []string, error) {
	spec := stageSpec{Path: path}
	for name, l := range u.Rlimits {
		res, ok := units.RlimitResource(name)
		if !ok {
			return "", nil, fmt.Errorf("unknown rlimit %s", name) // the parser rejects these
		}
		spec.Rlimits = append(spec.Rlimits, stageRlimit{Name: name, Resource: res, Cur: l.Soft, Max: l.Hard})
	}
	spec.Umask = u.Umask
	if c != nil {
		spec.Cred = &stageCredential{Uid: c.Uid, Gid: c.Gid, Groups: c.Groups}
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return "", nil, err
	}
	return "/proc/self/exe", append([]string{stageArg0, string(b)}, u.Exec...), nil
}

// stageResult reads the stage's error pipe to its end: nil once the
// program has been exec'd, or what the stage reported.
func stageResult(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read from pre-exec stage: %w", err)
	}
	if len(b) > 0 {
		return errors.New(string(b))
	}
	return nil
}

// runStage is the stage itself.
func runStage(arg string, argv []string) {
	report := os.NewFile(stageFd, "stage")
	fail := func(err error) {
		report.WriteString(err.Error())
		os.Exit(stageExitCode)
	}
	if _, err := unix.FcntlInt(stageFd, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		os.Exit(stageExitCode) // no pipe to report on
	}
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	var spec stageSpec
	if err := json.Unmarshal([]byte(arg), &spec); err != nil {
		fail(fmt.Errorf("pre-exec stage: %w", err))
	}
	for _, l := range spec.Rlimits {
		// syscall.Setrlimit, not unix's: it also keeps syscall.Exec from
		// restoring the NOFILE limit the runtime raised at start.
		if err := syscall.Setrlimit(l.Resource, &syscall.Rlimit{Cur: l.Cur, Max: l.Max}); err != nil {
			fail(fmt.Errorf("set rlimit %s: %w", l.Name, err))
		}
	}
	if spec.Umask != nil {
		unix.Umask(int(*spec.Umask))
	}
	if c := spec.Cred; c != nil {
		groups := make([]int, len(c.Groups))
		for i, g := range c.Groups {
			groups[i] = int(g)
		}
		if err := syscall.Setgroups(groups); err != nil {
			fail(fmt.Errorf("setgroups: %w", err))
		}
		if err := syscall.Setgid(int(c.Gid)); err != nil {
			fail(fmt.Errorf("setgid %d: %w", c.Gid, err))
		}
		if err := syscall.Setuid(int(c.Uid)); err != nil {
			fail(fmt.Errorf("setuid %d: %w", c.Uid, err))
		}
	}
	err := syscall.Exec(spec.Path, argv, os.Environ())
	fail(&os.PathError{Op: "exec", Path: spec.Path, Err: err})
}
