package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/minijson"
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

// stageSpec is what the stage does, in argv[1] as JSON (the json tags say
// how; appendJSON and decodeStageSpec write and read it); argv[2:] is the
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
	return "/proc/self/exe", append([]string{stageArg0, string(spec.appendJSON(nil))}, u.Exec...), nil
}

// appendJSON writes spec as encoding/json would.
func (spec *stageSpec) appendJSON(b []byte) []byte {
	o := minijson.Begin(b)
	o.String("path", spec.Path)
	if len(spec.Rlimits) > 0 {
		o.Value("rlimits", func(b []byte) ([]byte, error) {
			b = append(b, '[')
			for i, l := range spec.Rlimits {
				if i > 0 {
					b = append(b, ',')
				}
				lo := minijson.Begin(b)
				lo.String("name", l.Name)
				lo.Int("resource", l.Resource)
				lo.Uint("cur", l.Cur)
				lo.Uint("max", l.Max)
				b = lo.End()
			}
			return append(b, ']'), nil
		})
	}
	if spec.Umask != nil {
		o.Uint("umask", uint64(*spec.Umask))
	}
	if c := spec.Cred; c != nil {
		o.Value("cred", func(b []byte) ([]byte, error) {
			co := minijson.Begin(b)
			co.Uint("Uid", uint64(c.Uid))
			co.Uint("Gid", uint64(c.Gid))
			co.Value("Groups", func(b []byte) ([]byte, error) {
				if c.Groups == nil {
					return append(b, "null"...), nil
				}
				b = append(b, '[')
				for i, g := range c.Groups {
					if i > 0 {
						b = append(b, ',')
					}
					b = fmt.Appendf(b, "%d", g)
				}
				return append(b, ']'), nil
			})
			return co.End(), nil
		})
	}
	return o.End()
}

// decodeStageSpec reads what appendJSON wrote.
func decodeStageSpec(arg string) (stageSpec, error) {
	var spec stageSpec
	u32 := func(d *minijson.Decoder, p *uint32) error {
		v := uint64(*p)
		err := d.Uint(&v, 32)
		*p = uint32(v)
		return err
	}
	err := minijson.Decode([]byte(arg), func(d *minijson.Decoder) error {
		return d.Object(func(key string) error {
			switch {
			case strings.EqualFold(key, "path"):
				return d.String(&spec.Path)
			case strings.EqualFold(key, "rlimits"):
				spec.Rlimits = spec.Rlimits[:0]
				n, err := d.Array(func(int) error {
					var l stageRlimit
					err := d.Object(func(key string) error {
						switch {
						case strings.EqualFold(key, "name"):
							return d.String(&l.Name)
						case strings.EqualFold(key, "resource"):
							return d.Int(&l.Resource)
						case strings.EqualFold(key, "cur"):
							return d.Uint(&l.Cur, 64)
						case strings.EqualFold(key, "max"):
							return d.Uint(&l.Max, 64)
						}
						return d.Skip()
					})
					spec.Rlimits = append(spec.Rlimits, l)
					return err
				})
				switch {
				case n < 0:
					spec.Rlimits = nil
				case n == 0:
					spec.Rlimits = []stageRlimit{}
				}
				return err
			case strings.EqualFold(key, "umask"):
				if d.Null() {
					spec.Umask = nil
					return nil
				}
				spec.Umask = new(uint32)
				return u32(d, spec.Umask)
			case strings.EqualFold(key, "cred"):
				if d.Null() {
					spec.Cred = nil
					return nil
				}
				c := &stageCredential{}
				spec.Cred = c
				return d.Object(func(key string) error {
					switch {
					case strings.EqualFold(key, "uid"):
						return u32(d, &c.Uid)
					case strings.EqualFold(key, "gid"):
						return u32(d, &c.Gid)
					case strings.EqualFold(key, "groups"):
						c.Groups = c.Groups[:0]
						n, err := d.Array(func(int) error {
							var g uint32
							err := u32(d, &g)
							c.Groups = append(c.Groups, g)
							return err
						})
						switch {
						case n < 0:
							c.Groups = nil
						case n == 0:
							c.Groups = []uint32{}
						}
						return err
					}
					return d.Skip()
				})
			}
			return d.Skip()
		})
	})
	return spec, err
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
	spec, err := decodeStageSpec(arg)
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
