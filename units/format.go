package units

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"
)

// Marshal returns u as YAML in the unit file format, every key spelled out
// (defaults too), so that parsing it as NAME.yaml gives back a unit Equal to
// u. `vinit check` and the supervisor use it to show a unit as it is read.
func Marshal(u *Unit) ([]byte, error) {
	type backoff struct {
		Initial string  `yaml:"initial"`
		Max     string  `yaml:"max"`
		Factor  float64 `yaml:"factor"`
		Jitter  float64 `yaml:"jitter"`
		Reset   string  `yaml:"reset"`
	}
	type startLimit struct {
		Burst    int    `yaml:"burst"`
		Interval string `yaml:"interval"`
	}
	type ready struct {
		TCP      string   `yaml:"tcp,omitempty"`
		Exec     []string `yaml:"exec,flow,omitempty"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
	}
	out := struct {
		Description      string         `yaml:"description,omitempty"`
		Kind             Kind           `yaml:"kind"`
		Exec             []string       `yaml:"exec,flow"`
		Environment      []string       `yaml:"environment,omitempty"`
		EnvironmentFiles []string       `yaml:"environment_files,omitempty"`
		User             string         `yaml:"user,omitempty"`
		Group            string         `yaml:"group,omitempty"`
		Groups           []string       `yaml:"groups,flow,omitempty"`
		WorkingDir       string         `yaml:"working_dir,omitempty"`
		Umask            string         `yaml:"umask,omitempty"`
		Rlimits          map[string]any `yaml:"rlimits,omitempty"`
		Stdin            string         `yaml:"stdin"`
		PIDFile          string         `yaml:"pid_file,omitempty"`
		Requires         []string       `yaml:"requires,flow,omitempty"`
		Wants            []string       `yaml:"wants,flow,omitempty"`
		After            []string       `yaml:"after,flow,omitempty"`
		Before           []string       `yaml:"before,flow,omitempty"`
		Restart          Restart        `yaml:"restart"`
		SuccessExitCodes []int          `yaml:"success_exit_codes,flow,omitempty"`
		Backoff          backoff        `yaml:"backoff"`
		StartLimit       startLimit     `yaml:"start_limit"`
		StopSignal       string         `yaml:"stop_signal"`
		StopTimeout      string         `yaml:"stop_timeout"`
		Ready            ready          `yaml:"ready"`
		Watchdog         string         `yaml:"watchdog,omitempty"`
		OnFailure        Action         `yaml:"on_failure"`
		FailureExitCode  *int           `yaml:"failure_exit_code,omitempty"`
	}{
		Description:      u.Description,
		Kind:             u.Kind,
		Exec:             u.Exec,
		Environment:      u.Env,
		EnvironmentFiles: u.EnvFiles,
		User:             u.User,
		Group:            u.Group,
		Groups:           u.Groups,
		WorkingDir:       u.WorkingDir,
		Stdin:            u.Stdin,
		PIDFile:          u.PIDFile,
		Requires:         u.Requires,
		Wants:            u.Wants,
		After:            u.After,
		Before:           u.Before,
		Restart:          u.Restart,
		SuccessExitCodes: u.SuccessExitCodes,
		Backoff:          backoff{dur(u.Backoff.Initial), dur(u.Backoff.Max), u.Backoff.Factor, u.Backoff.Jitter, dur(u.Backoff.Reset)},
		StartLimit:       startLimit{u.StartLimit.Burst, dur(u.StartLimit.Interval)},
		StopSignal:       SignalString(u.StopSignal),
		StopTimeout:      dur(u.StopTimeout),
		Ready:            ready{u.Ready.TCP, u.Ready.Exec, dur(u.Ready.Interval), dur(u.Ready.Timeout)},
		OnFailure:        u.OnFailure,
	}
	if u.Umask != nil {
		out.Umask = fmt.Sprintf("%03o", *u.Umask)
	}
	if len(u.Rlimits) > 0 {
		out.Rlimits = make(map[string]any, len(u.Rlimits))
		for k, r := range u.Rlimits {
			if r.Soft == r.Hard {
				out.Rlimits[k] = rlimitString(r.Soft)
			} else {
				out.Rlimits[k] = map[string]any{"soft": rlimitString(r.Soft), "hard": rlimitString(r.Hard)}
			}
		}
	}
	if u.Watchdog != 0 {
		out.Watchdog = dur(u.Watchdog)
	}
	if u.OnFailure == ActionExit {
		out.FailureExitCode = &u.FailureExitCode
	}
	return yaml.Marshal(&out)
}

func dur(d time.Duration) string { return d.String() }

func rlimitString(v uint64) any {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return v
}

// SignalString names a signal as the unit format writes it: TERM for
// SIGTERM, or the number for signals without a name (real-time ones).
func SignalString(s unix.Signal) string {
	if name := unix.SignalName(s); name != "" {
		return strings.TrimPrefix(name, "SIG")
	}
	return fmt.Sprint(int(s))
}
