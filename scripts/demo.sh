#!/usr/bin/env bash
# The main job on a fresh machine: build, make the demo image, boot it, show
# its services working, stop it. Exits 0 only if all of that worked.
#
#   sudo bash scripts/demo.sh
#
# It uses vhost's real paths (/etc/vhost, /var/lib/vhost, /run/vhost) unless
# VHOST_ROOT names another root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_root
need_go
need_packages busybox-static iproute2 curl
build

vhost() { ./bin/vhost "$@"; }
fail() { echo "demo: FAILED: $*" >&2; exit 1; }
root=${VHOST_ROOT:-/}
addr=10.77.0.2

if vhost status demo 2>/dev/null | grep -q running; then
	echo "== a demo is running from an earlier run: stopping it"
	vhost stop demo
fi
if vhost image inspect demo >/dev/null 2>&1; then
	vhost image rm demo
fi
echo "== building the demo image from the host's busybox, with the demo units"
vhost image build demo --from busybox --units examples/demo/units
mkdir -p "$root/etc/vhost/vservers"
cp examples/demo/demo.yaml "$root/etc/vhost/vservers/demo.yaml"

echo "== vhost start demo"
vhost start demo
trap 'vhost stop demo >/dev/null 2>&1 || true' EXIT
sleep 1
echo "== vhost status"
vhost status
echo "== vhost ps demo"
vhost ps demo

echo "== the guest's view (vhost exec demo -- ...)"
vhost exec demo -- sh -c 'echo "hostname: $(hostname)"; echo "processes:"; ps; echo "addresses:"; ip -o addr show | while read -r n ifc fam a rest; do echo "  $ifc $a"; done'
guest_addrs=$(vhost exec demo -- sh -c 'ip -o addr show dev eth0' | awk '{print $4}')
[ "$guest_addrs" = "$addr/24" ] || fail "eth0 carries '$guest_addrs', want $addr/24"
[ "$(vhost exec demo -- cat /proc/1/cmdline | tr '\0' ' ')" = "/sbin/vinit " ] || fail "PID 1 of the guest is not vinit"

echo "== fetching the page from the host"
# Only to an address routed to the demo's own veth.
ip route get "$addr" | grep -q "dev vh-demo " || fail "$addr is not routed to vh-demo: not sending"
page=""
for _ in $(seq 50); do
	page=$(curl -sS --max-time 2 "http://$addr/" 2>/dev/null) && break
	sleep 0.1
done
echo "  $page"
[ "$page" = "hello from vserver demo" ] || fail "page from http://$addr/ is '$page'"

echo "== the crashing service is restarted, the orphans are reaped"
sleep 4
log="$root/var/log/vhost/demo.log"
# The log keeps earlier boots: count from this boot's first line on.
starts=$(awk '/msg="vinit starting"/{n=0} /msg=started service=flaky/{n++} END{print n+0}' "$log")
echo "  flaky started $starts times"
[ "$starts" -ge 2 ] || fail "flaky was not restarted"
zombies() { vhost ps --json demo | grep -c '"State": "Z"' || true; }
z1=$(vhost ps --json demo | awk '/"Pid"/{p=$2} /"State": "Z"/{print p}' | tr -d ,)
sleep 1
z2=$(vhost ps --json demo | awk '/"Pid"/{p=$2} /"State": "Z"/{print p}' | tr -d ,)
for p in $z1; do
	echo "$z2" | grep -qx "$p" && fail "zombie $p lived through a second"
done
echo "  no zombie outlived a second"

echo "== vhost stop demo"
vhost stop demo
trap - EXIT
vhost status demo
ip link show vh-demo >/dev/null 2>&1 && fail "veth vh-demo left on the host"
[ -z "$(find /sys/fs/cgroup -path '*vhost/demo' 2>/dev/null)" ] || fail "cgroup of demo left on the host"
echo "demo: OK"
