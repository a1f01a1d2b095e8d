package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
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

// stageSpec is what the stage does: in argv[1] as its encoding, with the
// program's path in argv[2] and its argv from argv[3].
type stageSpec struct {
	Path    string
	Rlimits []stageRlimit
	Umask   *uint32
	Cred    *stageCredential
}

type stageRlimit struct {
	Name     string
	Resource int
	Cur, Max uint64
}

type stageCredential struct {
	Uid, Gid uint32
	Groups   []uint32
}

func init() {
	if len(os.Args) > 2 && os.Args[0] == stageArg0 {
		runStage(os.Args[1], os.Args[2], os.Args[3:]) // does not return
	}
}

// encode writes the spec but its path as words: "rlimit=NAME/RES/CUR/MAX"
// for each limit, "umask=MODE", "cred=UID/GID/GROUP,GROUP". (A format of
// its own rather than JSON: encoding/json would be the largest package
// in vinit for this one use.)
func (s *stageSpec) encode() string {
	var w []string
	for _, l := range s.Rlimits {
		w = append(w, fmt.Sprintf("rlimit=%s/%d/%d/%d", l.Name, l.Resource, l.Cur, l.Max))
	}
	if s.Umask != nil {
		w = append(w, fmt.Sprintf("umask=%o", *s.Umask))
	}
	if c := s.Cred; c != nil {
		groups := make([]string, len(c.Groups))
		for i, g := range c.Groups {
			groups[i] = strconv.FormatUint(uint64(g), 10)
		}
		w = append(w, fmt.Sprintf("cred=%d/%d/%s", c.Uid, c.Gid, strings.Join(groups, ",")))
	}
	return strings.Join(w, " ")
}

// parseStageSpec reads what encode wrote.
func parseStageSpec(arg, path string) (stageSpec, error) {
	spec := stageSpec{Path: path}
	num := func(s string, bits int) (uint64, error) { return strconv.ParseUint(s, 10, bits) }
	for _, word := range strings.Fields(arg) {
		key, val, _ := strings.Cut(word, "=")
		f := strings.Split(val, "/")
		var err error
		switch {
		case key == "rlimit" && len(f) == 4:
			var l stageRlimit
			var res uint64
			l.Name = f[0]
			if res, err = num(f[1], 31); err == nil {
				l.Resource = int(res)
				if l.Cur, err = num(f[2], 64); err == nil {
					l.Max, err = num(f[3], 64)
				}
			}
			spec.Rlimits = append(spec.Rlimits, l)
		case key == "umask" && len(f) == 1:
			var m uint64
			m, err = strconv.ParseUint(f[0], 8, 32)
			u := uint32(m)
			spec.Umask = &u
		case key == "cred" && len(f) == 3:
			var c stageCredential
			var id uint64
			if id, err = num(f[0], 32); err == nil {
				c.Uid = uint32(id)
				if id, err = num(f[1], 32); err == nil {
					c.Gid = uint32(id)
				}
			}
			for g := range strings.SplitSeq(f[2], ",") {
				if err != nil || g == "" {
					continue
				}
				if id, err = num(g, 32); err == nil {
					c.Groups = append(c.Groups, uint32(id))
				}
			}
			spec.Cred = &c
		default:
			err = errors.New("unknown")
		}
		if err != nil {
			return stageSpec{}, fmt.Errorf("bad spec word %q", word)
		}
	}
	return spec, nil
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
	return "/proc/self/exe", append([]string{stageArg0, spec.encode(), path}, u.Exec...), nil
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
func runStage(arg, path string, argv []string) {
	report := os.NewFile(stageFd, "stage")
	fail := func(err error) {
		report.WriteString(err.Error())
		os.Exit(stageExitCode)
	}
	if _, err := unix.FcntlInt(stageFd, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		os.Exit(stageExitCode) // no pipe to report on
	}
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	spec, err := parseStageSpec(arg, path)
	if err != nil {
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
	err = syscall.Exec(spec.Path, argv, os.Environ())
	fail(&os.PathError{Op: "exec", Path: spec.Path, Err: err})
}
