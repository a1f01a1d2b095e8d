package units

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/vservers/vserver/internal/sock"
	"github.com/vservers/vserver/internal/strictyaml"
)

// DefaultDir is where a guest's unit files live.
const DefaultDir = "/etc/vinit/units"

// Ext is the extension of unit files.
const Ext = ".yaml"

// Defaults, filled in by Parse for every key a unit leaves out.
const (
	DefaultKind            = Simple
	DefaultRestart         = RestartNever
	DefaultStopSignal      = unix.SIGTERM
	DefaultStopTimeout     = 10 * time.Second
	DefaultBackoffInitial  = 100 * time.Millisecond
	DefaultBackoffMax      = 30 * time.Second
	DefaultBackoffFactor   = 2.0
	DefaultBackoffJitter   = 0.1
	DefaultBackoffReset    = 10 * time.Second
	DefaultStartBurst      = 5
	DefaultStartInterval   = 10 * time.Second
	DefaultReadyInterval   = 100 * time.Millisecond
	DefaultReadyTimeout    = 30 * time.Second
	DefaultOnFailure       = ActionIgnore
	DefaultFailureExitCode = 1 // with on_failure exit
	DefaultStdin           = "null"
)

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.@-]*$`)

// MaxNameLen is the longest unit name.
const MaxNameLen = 64

// ValidName reports whether s can name a unit: a letter or digit, then
// letters, digits and _ . @ -, at most MaxNameLen bytes.
func ValidName(s string) bool {
	return len(s) <= MaxNameLen && nameRE.MatchString(s)
}

// NameOf returns the unit name of a file path: its base name without Ext,
// and false if it doesn't end in Ext or the name is not valid.
func NameOf(file string) (string, bool) {
	base := filepath.Base(file)
	name, ok := strings.CutSuffix(base, Ext)
	return name, ok && ValidName(name)
}

// rawUnit is the YAML form of a unit; its keys are the snake_case names of
// its fields. Parse presets the defaults in it, then decodes over them.
type rawUnit struct {
	Name             string
	Description      string
	Kind             Kind
	Exec             yaml.Node // see parseArgv
	Environment      env
	EnvironmentFiles []string
	User             string
	Group            string
	Groups           []string
	WorkingDir       string
	Umask            *umask
	Rlimits          map[string]rlimit
	Stdin            string
	PIDFile          string
	Requires         []string
	Wants            []string
	After            []string
	Before           []string
	Restart          Restart
	SuccessExitCodes []int
	Backoff          Backoff
	StartLimit       StartLimit
	StopSignal       signal
	StopTimeout      time.Duration
	Ready            struct {
		TCP      string
		Exec     yaml.Node
		Interval time.Duration
		Timeout  time.Duration
	}
	Watchdog        time.Duration
	OnFailure       Action
	FailureExitCode int
}

// Parse reads one unit from data, the contents of file (whose base name,
// without .yaml, names the unit). It returns the unit with every default
// filled in, or nil and a strictyaml.Errors listing every problem with its
// position.
func Parse(file string, data []byte) (*Unit, error) {
	u, _, err := parse(file, data)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// parse is Parse that also returns the document, so that LoadDir can place
// the errors it finds across units.
func parse(file string, data []byte) (*Unit, *strictyaml.Doc, strictyaml.Errors) {
	var errs strictyaml.Errors
	name, ok := NameOf(file)
	if !ok {
		errs.Append(&strictyaml.Error{File: file, Msg: fmt.Sprintf("invalid unit file name: want NAME%s, NAME of letters, digits and _ . @ - (at most %d, starting with a letter or digit)", Ext, MaxNameLen)})
	}
	doc, err := strictyaml.Parse(file, data)
	if err != nil {
		errs.Append(err)
		errs.Sort()
		return nil, nil, errs
	}
	raw := rawUnit{
		Kind:        DefaultKind,
		Stdin:       DefaultStdin,
		Restart:     DefaultRestart,
		Backoff:     Backoff{Initial: DefaultBackoffInitial, Max: DefaultBackoffMax, Factor: DefaultBackoffFactor, Jitter: DefaultBackoffJitter, Reset: DefaultBackoffReset},
		StartLimit:  StartLimit{Burst: DefaultStartBurst, Interval: DefaultStartInterval},
		StopSignal:  signal(DefaultStopSignal),
		StopTimeout: DefaultStopTimeout,
		OnFailure:   DefaultOnFailure,
	}
	raw.Ready.Interval = DefaultReadyInterval
	raw.Ready.Timeout = DefaultReadyTimeout
	// Go on after decoding errors: the semantic checks of the keys that
	// decoded still help, but not those of keys that did not.
	errs.Append(doc.Decode(&raw))
	u := raw.unit(name, file)
	for _, a := range []struct {
		field string
		n     *yaml.Node
		argv  *[]string
	}{{"exec", &raw.Exec, &u.Exec}, {"ready.exec", &raw.Ready.Exec, &u.Ready.Exec}} {
		if a.n.Kind == 0 || a.n.ShortTag() == "!!null" {
			continue
		}
		argv, err := parseArgv(a.n, data)
		errs.Append(doc.Adopt(a.field, err))
		*a.argv = argv
	}
	for _, e := range check(doc, &raw, u) {
		if !related(errs, e.Field) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, doc, errs
	}
	return u, doc, nil
}

// related reports whether one of errs is about field, a part of it, or a key
// that holds it.
func related(errs strictyaml.Errors, field string) bool {
	within := func(f, outer string) bool {
		return f == outer || strings.HasPrefix(f, outer+".") || strings.HasPrefix(f, outer+"[")
	}
	for _, e := range errs {
		if e.Field != "" && (within(e.Field, field) || within(field, e.Field)) {
			return true
		}
	}
	return false
}

func (r *rawUnit) unit(name, file string) *Unit {
	u := &Unit{
		Name:             name,
		File:             file,
		Description:      r.Description,
		Kind:             r.Kind,
		Env:              r.Environment,
		EnvFiles:         r.EnvironmentFiles,
		User:             r.User,
		Group:            r.Group,
		Groups:           r.Groups,
		WorkingDir:       r.WorkingDir,
		Stdin:            r.Stdin,
		PIDFile:          r.PIDFile,
		Requires:         r.Requires,
		Wants:            r.Wants,
		After:            r.After,
		Before:           r.Before,
		Restart:          r.Restart,
		SuccessExitCodes: r.SuccessExitCodes,
		Backoff:          r.Backoff,
		StartLimit:       r.StartLimit,
		StopSignal:       unix.Signal(r.StopSignal),
		StopTimeout:      r.StopTimeout,
		Ready:            Ready{TCP: r.Ready.TCP, Interval: r.Ready.Interval, Timeout: r.Ready.Timeout},
		Watchdog:         r.Watchdog,
		OnFailure:        r.OnFailure,
		FailureExitCode:  r.FailureExitCode,
	}
	if r.Umask != nil {
		m := uint32(*r.Umask)
		u.Umask = &m
	}
	if len(r.Rlimits) > 0 {
		u.Rlimits = make(map[string]Rlimit, len(r.Rlimits))
		for k, v := range r.Rlimits {
			u.Rlimits[k] = Rlimit(v)
		}
	}
	return u
}

// check does the semantic checks of a decoded unit, placing each error at
// the key it is about.
func check(doc *strictyaml.Doc, r *rawUnit, u *Unit) strictyaml.Errors {
	var errs strictyaml.Errors
	bad := func(field, format string, args ...any) {
		errs.Append(doc.Errorf(field, format, args...))
	}
	has := func(field string) bool { // present and not null
		n := doc.Node(field)
		return n != nil && n.ShortTag() != "!!null"
	}

	if has("name") && r.Name != u.Name {
		bad("name", "%q does not match the file name (want %q or no name key)", r.Name, u.Name)
	}
	if !slices.Contains([]Kind{Simple, Exec, Notify, Oneshot, Forking}, u.Kind) {
		bad("kind", "unknown kind %q: want simple, exec, notify, oneshot or forking", u.Kind)
	}
	checkArgv(bad, has, "exec", u.Exec, true)
	for i, f := range u.EnvFiles {
		checkPath(bad, fmt.Sprintf("environment_files[%d]", i), f)
	}
	checkID(bad, "user", u.User)
	checkID(bad, "group", u.Group)
	for i, g := range u.Groups {
		checkID(bad, fmt.Sprintf("groups[%d]", i), g)
		if g == "" {
			bad(fmt.Sprintf("groups[%d]", i), "empty group")
		}
	}
	if u.WorkingDir != "" {
		checkPath(bad, "working_dir", u.WorkingDir)
	}
	for _, k := range sortedKeys(u.Rlimits) {
		if _, ok := rlimitNames[k]; !ok {
			bad("rlimits."+k, "unknown resource limit: want one of %s", strings.Join(sortedKeys(rlimitNames), ", "))
		}
	}
	if u.Stdin != "null" && u.Stdin != "tty" {
		bad("stdin", "unknown stdin %q: want null or tty", u.Stdin)
	}
	switch {
	case u.Kind == Forking && u.PIDFile == "":
		bad("kind", "forking needs pid_file: the file the daemon writes its PID to")
	case u.Kind == Forking:
		checkPath(bad, "pid_file", u.PIDFile)
	case has("pid_file"):
		bad("pid_file", "only with kind forking, not %s", u.Kind)
	}

	for _, dep := range []struct {
		field string
		names []string
	}{{"requires", u.Requires}, {"wants", u.Wants}, {"after", u.After}, {"before", u.Before}} {
		seen := make(map[string]bool)
		for i, d := range dep.names {
			field := fmt.Sprintf("%s[%d]", dep.field, i)
			switch {
			case !ValidName(d):
				bad(field, "invalid unit name %q", d)
			case d == u.Name:
				bad(field, "a unit cannot depend on itself")
			case seen[d]:
				bad(field, "%q listed twice", d)
			}
			seen[d] = true
		}
	}

	if !slices.Contains([]Restart{RestartNever, RestartOnFailure, RestartAlways}, u.Restart) {
		bad("restart", "unknown restart %q: want never, on-failure or always", u.Restart)
	} else if u.Kind == Oneshot && u.Restart == RestartAlways {
		bad("restart", "always is not allowed with kind oneshot (it would run again and again); use on-failure")
	}
	for i, c := range u.SuccessExitCodes {
		if c < 0 || c > 255 {
			bad(fmt.Sprintf("success_exit_codes[%d]", i), "exit code %d out of range 0..255", c)
		}
	}
	nonNegative := func(field string, d time.Duration) {
		if d < 0 {
			bad(field, "negative duration %v", d)
		}
	}
	b := u.Backoff
	nonNegative("backoff.initial", b.Initial)
	nonNegative("backoff.max", b.Max)
	nonNegative("backoff.reset", b.Reset)
	if b.Max < b.Initial {
		bad("backoff.max", "%v is less than backoff.initial %v", b.Max, b.Initial)
	}
	if !(b.Factor >= 1) || math.IsInf(b.Factor, 1) {
		bad("backoff.factor", "%v: want a finite number of at least 1", b.Factor)
	}
	if !(b.Jitter >= 0 && b.Jitter <= 1) {
		bad("backoff.jitter", "%v is not a fraction from 0 to 1", b.Jitter)
	}
	if u.StartLimit.Burst < 0 {
		bad("start_limit.burst", "negative burst %d", u.StartLimit.Burst)
	}
	nonNegative("start_limit.interval", u.StartLimit.Interval)
	if u.StopSignal == unix.SIGSTOP || u.StopSignal == unix.SIGTSTP {
		bad("stop_signal", "%s stops nothing; want a signal that ends the service", unix.SignalName(u.StopSignal))
	}
	nonNegative("stop_timeout", u.StopTimeout)

	if u.Ready.TCP != "" && len(u.Ready.Exec) > 0 {
		bad("ready.exec", "ready.tcp and ready.exec are exclusive: give one probe")
	}
	if u.Ready.TCP != "" {
		if _, port, err := sock.SplitHostPort(u.Ready.TCP); err != nil {
			bad("ready.tcp", "want host:port, got %q", u.Ready.TCP)
		} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			bad("ready.tcp", "want a port number from 1 to 65535, got %q", port)
		}
	}
	checkArgv(bad, has, "ready.exec", u.Ready.Exec, false)
	if u.Kind == Oneshot && (u.Ready.TCP != "" || has("ready.exec")) {
		bad("ready", "no readiness probe with kind oneshot: it is ready when it exits with success")
	}
	if u.Ready.Interval <= 0 {
		bad("ready.interval", "want a positive duration, got %v", u.Ready.Interval)
	}
	if u.Ready.Timeout <= 0 {
		bad("ready.timeout", "want a positive duration, got %v", u.Ready.Timeout)
	}
	nonNegative("watchdog", u.Watchdog)

	if !slices.Contains([]Action{ActionIgnore, ActionRestartDependents, ActionPoweroff, ActionReboot, ActionExit}, u.OnFailure) {
		bad("on_failure", "unknown action %q: want ignore, restart-dependents, poweroff, reboot or exit", u.OnFailure)
	}
	switch {
	case u.OnFailure == ActionExit && !has("failure_exit_code"):
		u.FailureExitCode = DefaultFailureExitCode
	case u.OnFailure == ActionExit && (u.FailureExitCode < 0 || u.FailureExitCode > 255):
		bad("failure_exit_code", "exit code %d out of range 0..255", u.FailureExitCode)
	case u.OnFailure != ActionExit && has("failure_exit_code"):
		bad("failure_exit_code", "only with on_failure exit, not %s", u.OnFailure)
	}
	return errs
}

func checkArgv(bad func(string, string, ...any), has func(string) bool, field string, a []string, required bool) {
	switch {
	case len(a) == 0 && has(field):
		bad(field, "empty command")
	case len(a) == 0 && required:
		bad(field, "required: the command to run")
	case len(a) > 0 && a[0] == "":
		bad(field+"[0]", "empty program name")
	}
}

func checkPath(bad func(string, string, ...any), field, p string) {
	if !filepath.IsAbs(p) {
		bad(field, "want an absolute path, got %q", p)
	}
}

func checkID(bad func(string, string, ...any), field, s string) {
	if strings.ContainsAny(s, ": \t\n/") {
		bad(field, "invalid user or group %q", s)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
