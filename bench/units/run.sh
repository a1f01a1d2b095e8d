#!/usr/bin/env bash
# The supervisor benchmarks of docs/benchmarks.md, in one run:
#   1. 1 000 units parsed, ordered and started to ready (vinit as a
#      subreaper over a units directory, until `vinit ctl status` shows all
#      1 000 running), as a first boot and as a second one over the same
#      log files;
#   2. restart latency with backoff off: a service that exits at once,
#      restarted 200 times; the gap between its exit and the next start,
#      from vinit's own log timestamps (millisecond resolution);
#   3. vinit's RSS with 100 running units, one second after the last is
#      running and again after 200 `vinit ctl status` requests, over five
#      boots: each boot's figures and the medians.
#
# vinit gets a cgroup2 directory to make a cgroup per service in, as it
# does as PID 1 of every vserver (whose /sys/fs/cgroup is its own).
#
#   bash bench/units/run.sh
#   VINIT=/path/to/vinit bash bench/units/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
need_go

work=$(mktemp -d /tmp/vinit-bench.XXXXXX)
cg2=/sys/fs/cgroup/unified
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && cg2=/sys/fs/cgroup
cg=$cg2/vinit-bench-$$
pid=""
cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	[ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
# VINIT=PATH measures that binary instead of one built from the tree (to
# compare two builds under the same load).
if [ -n "${VINIT:-}" ]; then
	cp "$VINIT" "$work/vinit"
else
	CGO_ENABLED=0 go build -trimpath -ldflags="$VINIT_LDFLAGS" -o "$work/" ./cmd/vinit
fi
vinit=$work/vinit

# run_vinit DIR: vinit over the units in DIR, its log in DIR.log.
run_vinit() {
	mkdir -p "$1.run" "$1.logs" "$cg"
	"$vinit" --units "$1" --run-dir "$1.run" --log-dir "$1.logs" --cgroup "$cg" >"$1.log" 2>&1 &
	pid=$!
}
# running DIR: how many services are running. A poll is one `vinit ctl`
# and a grep, so that measuring takes as little as it can of the CPUs the
# starts need (jq took 25 ms of CPU a poll over 1 000 services).
running() { "$vinit" ctl --socket "$1.run/ctl.sock" status --json 2>/dev/null | grep -c '"state": "running"' || true; }
# stamp_ms PATTERN LOG: the time of the last line matching PATTERN, in ms.
stamp_ms() { grep "$1" "$2" | tail -1 | sed 's/^time=\([^ ]*\).*/\1/' | awk '{ split($1, a, "T"); split(a[2], b, ":"); printf "%.0f", (b[1]*3600 + b[2]*60 + b[3]) * 1000 }'; }
# rss PID: its VmRSS, RssAnon and RssFile in MiB.
rss() { awk '/^(VmRSS|RssAnon|RssFile):/ { printf "%s %.1f MiB  ", $1, $2 / 1024 }' "/proc/$1/status"; }
stop_vinit() { kill -TERM "$pid"; wait "$pid" || true; pid=""; }

echo "== 1. 1000 units to ready"
u=$work/u1000 && mkdir -p "$u"
for i in $(seq 1000); do printf 'exec: [sleep, "100000"]\n' >"$u/s$i.yaml"; done
# Twice: a first boot creates the 1 000 log files; a second boot (a reboot)
# appends to them.
for boot in first second; do
	t0=$(date +%s%N)
	run_vinit "$u"
	until [ "$(running "$u")" = 1000 ]; do sleep 0.01; done
	t1=$(date +%s%N)
	ms=$(( (t1 - t0) / 1000000 ))
	echo "  $boot boot: 1000 units running after $ms ms (target < 1000 ms; includes vinit's own start and the polling)"
	echo "  $boot boot: vinit's log: $(( $(stamp_ms 'msg=started' "$u.log") - $(stamp_ms 'msg="vinit starting"' "$u.log") )) ms from its start to the last service started"
	stop_vinit
done

echo "== 2. restart latency, backoff off"
u=$work/restart && mkdir -p "$u"
cat >"$u/flap.yaml" <<'UNIT'
exec: [/bin/true]
restart: always
backoff: {initial: 0s, max: 0s, jitter: 0}
start_limit: {burst: 0}
UNIT
run_vinit "$u"
until [ "$(cat "$u.log" 2>/dev/null | grep -c 'msg=started service=flap')" -ge 201 ]; do sleep 0.05; done
stop_vinit
median=$(awk '
	function ms(ts) { split(ts, a, "T"); split(a[2], b, ":"); return (b[1]*3600 + b[2]*60 + b[3]) * 1000 }
	/msg=exited service=flap/ { sub(/^time=/, "", $1); ex = ms($1) }
	/msg=started service=flap/ && ex { sub(/^time=/, "", $1); print ms($1) - ex; ex = 0 }' "$u.log" |
	sort -n | awk '{ d[NR] = $1 } END { print d[int(NR/2) + 1] }')
echo "  median exit-to-start over 200 restarts: ${median} ms (target < 2 ms; log timestamps have 1 ms resolution)"

echo "== 3. vinit RSS with 100 running units, five boots"
# RSS moves by +-100 KiB from one boot to the next (when the collector
# last ran, how many threads the boot made), so each boot's figures are
# printed and the median of VmRSS is what is held against the target.
u=$work/u100 && mkdir -p "$u"
for i in $(seq 100); do printf 'exec: [sleep, "100000"]\n' >"$u/s$i.yaml"; done
kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$2/status"; }
idle=() after=()
for boot in 1 2 3 4 5; do
	run_vinit "$u"
	until [ "$(running "$u")" = 100 ]; do sleep 0.01; done
	sleep 1
	idle+=("$(kib VmRSS "$pid")")
	line="  boot $boot: $(rss "$pid")"
	for i in $(seq 200); do "$vinit" ctl --socket "$u.run/ctl.sock" status --json >/dev/null; done
	sleep 1
	after+=("$(kib VmRSS "$pid")")
	echo "$line| after 200 ctl status: $(rss "$pid")"
	stop_vinit
done
median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
m=$(median "${idle[@]}")
echo "  median VmRSS: $m KiB ($(awk -v k="$m" 'BEGIN { printf "%.2f", k / 1024 }') MiB; target <= 6 MiB = 6144 KiB: $([ "$m" -le 6144 ] && echo met || echo MISSED)); after 200 ctl status: $(median "${after[@]}") KiB"
