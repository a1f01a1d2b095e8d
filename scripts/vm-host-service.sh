#!/usr/bin/env bash
# Runs INSIDE the systemd VM (scripts/vmtest-host.sh starts it): installs
# vhost as a system service with `vhost service install` and checks what
# issue 7 asks of it, as an operator would see it: autostart vservers boot
# in order under `systemctl start vhost`, the status line, the journal,
# machinectl, `systemctl restart vhost` leaving the guests alone, and
# `systemctl stop vhost` stopping them in reverse order with the guests'
# services seeing their stop signal. Needs VHOST_BIN and VINIT_BIN.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

install -D -m 0755 "$VHOST_BIN" /usr/local/sbin/vhost
install -D -m 0755 "$VINIT_BIN" /usr/lib/vhost/vinit
vhost image build marked --from busybox --units "$here/internal/hostd/testdata/units" >/dev/null || { echo "FAIL image build"; exit 1; }
mkdir -p /etc/vhost/vservers
conf() { # name order restart
	printf 'image: marked\nhostname: %s\nnetwork:\n  mode: none\nautostart: true\nboot_order: %s\nrestart: %s\nstop_timeout: 10s\n' "$1" "$2" "$3" >/etc/vhost/vservers/$1.yaml
}
conf va 1 on-failure; conf vb 2 never; conf vc 2 never; conf vd 3 never; conf ve 2 never
printf 'image: marked\nautostart: true\nno_such_key: 1\n' >/etc/vhost/vservers/vbroken.yaml
names="va vb vc vd"
initpid() { sed -n 's/.*"pid": \([0-9]*\).*/\1/p' /run/vhost/$1/state.json 2>/dev/null; }
monpid() { sed -n 's/.*"monitor_pid": \([0-9]*\).*/\1/p' /run/vhost/$1/state.json 2>/dev/null; }
# line number in the journal of vhost.service (this boot) of the first
# message holding all the words, after line $1
jline() { local from=$1; shift; journalctl -b -u vhost -o cat --no-pager | awk -v from="$from" -v words="$*" '
	NR > from { n = split(words, w, " "); ok = 1; for (i = 1; i <= n; i++) if (index($0, w[i]) == 0) ok = 0; if (ok) { print NR; exit } }'; }

check "vhost service install" vhost service install
check "unit file written" test -f /etc/systemd/system/vhost.service
check "enabled" systemctl is-enabled --quiet vhost
grep -E '^(Type|ExecStart|KillMode|WatchdogSec)=' /etc/systemd/system/vhost.service

check "systemctl start vhost (returns once READY=1)" systemctl start vhost
check "vhost.service active" systemctl is-active --quiet vhost
status=$(systemctl status vhost --no-pager 2>&1)
echo "$status" | sed -n '1,6p'
check "status line: 5/5 vservers running, 1 broken config" grep -q 'Status: "5/5 vservers running, 1 broken config"' <<<"$status"
vhost list
for n in $names; do
	check "$n running" test -n "$(initpid $n)"
done

# boot order, from the daemon's journal
a=$(jline 0 started vserver=va); b=$(jline 0 starting vserver=vb); c=$(jline 0 starting vserver=vc)
bs=$(jline 0 started vserver=vb); cs=$(jline 0 started vserver=vc); d=$(jline 0 starting vserver=vd)
check "journal: va started before vb and vc start" test -n "$a" -a -n "$b" -a -n "$c" -a "${a:-0}" -lt "${b:-0}" -a "${a:-0}" -lt "${c:-0}"
check "journal: vb and vc started before vd starts" test -n "$d" -a "${bs:-9999}" -lt "${d:-0}" -a "${cs:-9999}" -lt "${d:-0}"
check "journal: the broken config is reported" test -n "$(jline 0 broken config vserver=vbroken no_such_key)"
check "journal: fields (VSERVER=va PRIORITY=6)" test -n "$(journalctl -b -u vhost VSERVER=va PRIORITY=6 -o cat --no-pager)"

# the monitors live outside vhost.service, each in its own scope
svcprocs=$(cat /sys/fs/cgroup/system.slice/vhost.service/cgroup.procs)
check "only the daemon is in vhost.service's cgroup" test "$svcprocs" = "$(systemctl show -p MainPID --value vhost)"
for n in $names; do
	check "monitor of $n in vhostmon-$n.scope" grep -q "vhostmon-$n.scope" /proc/$(monpid $n)/cgroup
done

# machinectl: needs the guest's init in its own vhost-NAME.scope
if grep -q "vhost-va.scope" /proc/$(initpid va)/cgroup; then
	m=$(machinectl list --no-legend)
	echo "$m"
	for n in $names ve; do check "machinectl list shows $n" grep -q "^$n " <<<"$m"; done
	check "machinectl show ve: its unit is vhost-ve.scope" test "$(machinectl show -p Unit --value ve)" = vhost-ve.scope
	# poweroff: machined sends SIGRTMIN+4 to the guest's init, vinit powers off
	check "machinectl poweroff ve" machinectl poweroff ve
	for i in $(seq 1 100); do [ -e /run/vhost/ve/state.json ] || break; sleep 0.2; done
	check "ve powered off" test ! -e /run/vhost/ve/state.json
	check "ve's service saw its stop signal" grep -q "stop ve" /var/lib/vhost/vservers/ve/upper/var/log/marks
	check "journal: ve ended by poweroff, not booted again (restart: never)" test -n "$(jline 0 guest ended vserver=ve outcome=poweroff again=false)"
	check "machinectl list no longer shows ve" test -z "$(machinectl list --no-legend | grep '^ve ')"
else
	fail "machinectl: the guest's init is in $(cut -d: -f3 /proc/$(initpid va)/cgroup), not vhost-va.scope (the context does not use systemd.StartScope yet), so it is not registered"
fi

check "watchdog armed" test "$(systemctl show -p WatchdogUSec --value vhost)" = "1min"

# restart: the daemon is replaced, the guests are not touched
declare -A before
for n in $names; do before[$n]=$(initpid $n); done
mark=$(journalctl -b -u vhost -o cat --no-pager | wc -l)
check "systemctl restart vhost" systemctl restart vhost
for n in $names; do
	check "$n untouched by the restart (init pid ${before[$n]})" test "$(initpid $n)" = "${before[$n]}"
	check "$n adopted by the new daemon" test -n "$(jline "$mark" already running: adopted vserver=$n)"
done
check "journal: the old daemon left the guests running" test -n "$(jline "$mark" leaving the vservers running)"

# a guest killed behind the daemon's back boots again (restart: on-failure)
old=$(initpid va); kill -9 "$old"
for i in $(seq 1 100); do p=$(initpid va); [ -n "$p" ] && [ "$p" != "$old" ] && break; sleep 0.2; done
check "va booted again after its init was killed" test -n "$(initpid va)" -a "$(initpid va)" != "$old"
sleep 1

# stop: reverse boot order, each guest's service sees its signal
mark=$(journalctl -b -u vhost -o cat --no-pager | wc -l)
check "systemctl stop vhost" systemctl stop vhost
for n in $names; do
	check "$n stopped" test ! -e /run/vhost/$n/state.json
	check "$n's service saw its stop signal" grep -q "stop $n" /var/lib/vhost/vservers/$n/upper/var/log/marks
done
sd=$(jline "$mark" stopped vserver=vd); sb=$(jline "$mark" stopping vserver=vb); sc=$(jline "$mark" stopping vserver=vc)
tb=$(jline "$mark" stopped vserver=vb); tc=$(jline "$mark" stopped vserver=vc); sa=$(jline "$mark" stopping vserver=va)
check "journal: vd stopped before vb and vc stop" test -n "$sd" -a "${sd:-9999}" -lt "${sb:-0}" -a "${sd:-9999}" -lt "${sc:-0}"
check "journal: vb and vc stopped before va stops" test -n "$sa" -a "${tb:-9999}" -lt "${sa:-0}" -a "${tc:-9999}" -lt "${sa:-0}"
journalctl -b -u vhost -o short-monotonic --no-pager | tail -n +"$((mark + 1))" | head -20
check "no vhost scopes left" test -z "$(systemctl list-units --no-legend 'vhost*.scope' 'vhostmon*.scope')"
check "vhost service uninstall" vhost service uninstall
echo "vhost service: $fails failed"
[ "$fails" = 0 ]
