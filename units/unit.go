package units

import (
	"time"

	"golang.org/x/sys/unix"
)

// Kind says how a service tells that it has started.
type Kind string

const (
	Simple  Kind = "simple"  // started once forked
	Exec    Kind = "exec"    // started once execve succeeded
	Notify  Kind = "notify"  // started when it sends READY=1 on $NOTIFY_SOCKET
	Oneshot Kind = "oneshot" // done when it exits with a success code
	Forking Kind = "forking" // started when the parent exits; the daemon's PID is read from PIDFile
)

// Restart says when a service that ended is started again.
type Restart string

const (
	RestartNever     Restart = "never"
	RestartOnFailure Restart = "on-failure"
	RestartAlways    Restart = "always"
)

// Action is what happens when a service fails for good (its start limit is
// reached, or it fails with restart never).
type Action string

const (
	ActionIgnore            Action = "ignore"
	ActionRestartDependents Action = "restart-dependents"
	ActionPoweroff          Action = "poweroff"
	ActionReboot            Action = "reboot"
	ActionExit              Action = "exit" // exit the context with FailureExitCode
)

// Unit is one service, as read from NAME.yaml. Parse fills every default, so
// the supervisor never has to guess.
type Unit struct {
	Name        string // the file's base name without .yaml; a `name` key must agree
	File        string // the path it was read from
	Description string

	Kind       Kind
	Exec       []string // argv; Exec[0] is looked up in PATH when it has no slash
	Env        []string // KEY=VALUE, in file order, after EnvFiles
	EnvFiles   []string
	User       string // name or numeric uid; empty means root
	Group      string
	Groups     []string // supplementary
	WorkingDir string
	Umask      *uint32           // nil: inherited
	Rlimits    map[string]Rlimit // key: nofile, nproc, core, ... (without RLIMIT_); see RlimitResource
	Stdin      string            // "null" (default) or "tty"
	PIDFile    string            // Forking only

	Requires []string // must be ready before this starts; this stops when they stop
	Wants    []string // started before this, but their failure doesn't stop it
	After    []string // ordering only
	Before   []string // ordering only

	Restart          Restart
	SuccessExitCodes []int // exit codes that count as success besides 0
	Backoff          Backoff
	StartLimit       StartLimit

	StopSignal  unix.Signal
	StopTimeout time.Duration

	Ready    Ready
	Watchdog time.Duration // 0: none; WATCHDOG_USEC is set for the service

	OnFailure       Action
	FailureExitCode int // with ActionExit; Parse makes it 1 when not given
}

// Rlimit is a soft and hard resource limit; unix.RLIM_INFINITY for unlimited.
type Rlimit struct{ Soft, Hard uint64 }

// Backoff is the delay before each restart: Initial, multiplied by Factor after
// every restart up to Max, with up to Jitter (a fraction, 0..1) added at random;
// it goes back to Initial once the service has stayed up for Reset.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	Factor  float64
	Jitter  float64
	Reset   time.Duration
}

// StartLimit fails a service for good after Burst starts within Interval.
// Burst 0 means no limit.
type StartLimit struct {
	Burst    int
	Interval time.Duration
}

// Ready is how readiness is probed besides the kind's own rule: at most one of
// TCP (host:port to connect to) and Exec (argv that must exit 0), retried every
// Interval, given up after Timeout (which also bounds a notify service's wait
// for READY=1).
type Ready struct {
	TCP      string
	Exec     []string
	Interval time.Duration
	Timeout  time.Duration
}
