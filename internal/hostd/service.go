package hostd

import (
	"fmt"
	"strings"
	"time"
)

// Service describes the system service that runs the daemon, for
// SystemdUnit and SysVScript.
type Service struct {
	Exe         string        // the vhost binary, absolute
	Vinit       string        // the vinit binary, absolute; "" to let vhost find it
	Root        string        // --root
	Parallel    int           // --parallel
	StopTimeout time.Duration // --stop-timeout
}

// ServiceName is the service's name: vhost.service, /etc/init.d/vhost.
const ServiceName = "vhost"

func (s Service) daemonArgs(verb string) string {
	return fmt.Sprintf("%s --root %s daemon %s --parallel %d --stop-timeout %s",
		shellQuote(s.Exe), shellQuote(s.Root), verb, s.Parallel, s.StopTimeout)
}

// SystemdUnit is vhost.service.
//
// Type=notify: systemd counts the service started when the daemon says
// READY=1, once the autostart vservers are up, and shows its STATUS line.
// KillMode=process: on stop systemd signals the daemon alone, which stops
// the vservers itself in reverse boot order; each monitor has moved out of
// the service's cgroup into a scope of its own (vhostmon-NAME.scope) as
// it started, and KillMode=process keeps one that is still on its way
// from being killed with the daemon. On `systemctl restart` the daemon
// sees the restart job and leaves the guests running for the next one.
func (s Service) SystemdUnit() string {
	var b strings.Builder
	fmt.Fprintf(&b, `[Unit]
Description=vhost: the vservers that boot with the host
Documentation=man:machinectl(1)
Wants=network-online.target systemd-machined.service
After=network-online.target systemd-machined.service local-fs.target

[Service]
Type=notify
NotifyAccess=main
ExecStart=%s
`, s.daemonArgs("run"))
	if s.Vinit != "" {
		fmt.Fprintf(&b, "Environment=%s\n", systemdQuote("VHOST_VINIT="+s.Vinit))
	}
	fmt.Fprintf(&b, `KillMode=process
TimeoutStartSec=15min
TimeoutStopSec=%d
WatchdogSec=1min
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
`, int((s.StopTimeout + 30*time.Second).Seconds()))
	return b.String()
}

// SysVScript is /etc/init.d/vhost, for hosts without systemd. start
// returns once the autostart vservers are up; stop stops them in reverse
// boot order, then the daemon; restart replaces the daemon and leaves the
// guests running.
func (s Service) SysVScript() string {
	var b strings.Builder
	fmt.Fprintf(&b, `#!/bin/sh
### BEGIN INIT INFO
# Provides:          vhost
# Required-Start:    $local_fs $remote_fs $network $syslog
# Required-Stop:     $local_fs $remote_fs $network $syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: the vservers that boot with the host
### END INIT INFO
# Written by vhost service install.
`)
	if s.Vinit != "" {
		fmt.Fprintf(&b, "VHOST_VINIT=%s\nexport VHOST_VINIT\n", shellQuote(s.Vinit))
	}
	fmt.Fprintf(&b, `case "$1" in
start)
	exec %s ;;
stop)
	exec %s ;;
restart|force-reload)
	%s && exec %s ;;
status)
	exec %s --root %s daemon status ;;
*)
	echo "usage: $0 {start|stop|restart|force-reload|status}" >&2
	exit 3 ;;
esac
`, s.daemonArgs("start"), s.daemonArgs("stop"), s.daemonArgs("stop --keep-guests"), s.daemonArgs("start"),
		shellQuote(s.Exe), shellQuote(s.Root))
	return b.String()
}

// shellQuote quotes s for sh, unless it needs none.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-=:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// systemdQuote quotes one word of a unit file setting.
func systemdQuote(s string) string {
	if !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
