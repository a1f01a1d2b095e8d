#!/usr/bin/env bash
# The context benchmarks of docs/benchmarks.md, in one run, as root:
#   1. start-to-exit of /bin/true in a context: vhost (network none, and
#      with cgroup + veth) against bubblewrap, crun and systemd-nspawn;
#   2. boot of a 10-unit busybox vserver until all 10 services run;
#   3. 100 vservers running at once, and the memory they cost.
#
#   sudo bash bench/context/run.sh [RUNS]
#
# Guests use 10.77.0.100-210, routed only to their own veths. Everything
# lives in a temporary root; /run of that root is a tmpfs, as /run is on a
# real host. Peers come from Debian: bubblewrap, crun, systemd-container,
# hyperfine.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
need_root
need_go
need_packages busybox-static hyperfine bubblewrap crun systemd-container jq
runs=${1:-40}

work=$(mktemp -d /tmp/vhost-bench.XXXXXX)
R=$work/root
mkdir -p "$R/run" "$R/etc/vhost/vservers"
mount -t tmpfs tmpfs "$R/run"
cleanup() {
	for c in "$R"/etc/vhost/vservers/*.yaml; do
		n=$(basename "$c" .yaml)
		[ -d "$R/run/vhost/$n" ] && "$work/vhost" --root "$R" stop "$n" >/dev/null 2>&1 || true
	done
	umount "$R/run" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -trimpath -o "$work/" ./cmd/vhost
CGO_ENABLED=0 go build -trimpath -ldflags="$VINIT_LDFLAGS" -o "$work/" ./cmd/vinit
V="$work/vhost --root $R"
$V image build bench --from busybox >/dev/null
rootfs=$R/var/lib/vhost/images/bench/rootfs
printf 'image: bench\nnetwork:\n  mode: none\n' >"$R/etc/vhost/vservers/none.yaml"
printf 'image: bench\nnetwork:\n  addresses: [10.77.0.100/24]\n' >"$R/etc/vhost/vservers/veth.yaml"
# Eight more with a veth, taken in turn: one vserver run back to back waits,
# at each start, for the kernel to finish deleting the last run's pair
# (its name is the vserver's: firewall rules may name it), which a turn of
# eight leaves time for.
for i in 0 1 2 3 4 5 6 7; do
	printf 'image: bench\nnetwork:\n  addresses: [10.77.0.10%d/24]\n' $((i + 2)) >"$R/etc/vhost/vservers/turn$i.yaml"
done
echo 0 >"$work/turn"
$V run none -- /bin/true # the overlay directories exist from here on
$V run veth -- /bin/true

# crun: a bundle on the same files. Debian's crun 1.8 refuses this host's
# mixed v1/v2 cgroup layout, so where the v2 tree is mounted beside v1 it
# runs in a mount namespace where that mount is hidden.
bundle=$work/bundle
mkdir -p "$bundle" && ln -s "$rootfs" "$bundle/rootfs"
(cd "$bundle" && crun spec)
jq '.process.args=["/bin/true"] | .process.terminal=false | .root.readonly=true' "$bundle/config.json" >"$bundle/c.json"
mv "$bundle/c.json" "$bundle/config.json"
crun_cmd="crun run --bundle $bundle b\$RANDOM"
# crun with a veth too, as vhost makes one: crun does no networking itself,
# so a createRuntime hook makes the pair the way a user of plain crun would,
# with ip(8) (two of them and a shell: what that costs is part of crun's
# figure). Its guest address, 10.77.0.210, is routed only to that veth;
# nothing is sent to it.
bundle_veth=$work/bundle-veth
mkdir -p "$bundle_veth" && ln -s "$rootfs" "$bundle_veth/rootfs"
cat >"$work/veth-hook" <<'HOOK'
#!/bin/sh
read -r state
pid=${state#*\"pid\":}
pid=${pid%%[!0-9]*}
h=vc$pid
ip -batch - <<IP
link add $h type veth peer name eth0 netns $pid
addr add 10.77.0.1/32 dev $h
link set $h up
route replace 10.77.0.210/32 dev $h scope link
IP
exec nsenter -t "$pid" -n ip -batch - <<IP
addr add 10.77.0.210/24 dev eth0
link set eth0 up
link set lo up
route add default via 10.77.0.1
IP
HOOK
chmod +x "$work/veth-hook"
jq --arg hook "$work/veth-hook" '.hooks.createRuntime=[{"path":$hook}]' "$bundle/config.json" >"$bundle_veth/config.json"
crun_veth_cmd="crun run --bundle $bundle_veth v\$RANDOM"
if mountpoint -q /sys/fs/cgroup/unified; then
	crun_wrap() { unshare -m sh -c "umount /sys/fs/cgroup/unified && $1"; }
else
	crun_wrap() { sh -c "$1"; }
fi
# nspawn wants an OS tree: a copy of the image with an os-release.
nsroot=$work/nspawn-root
cp -a "$rootfs" "$nsroot" && echo 'ID=busybox' >"$nsroot/etc/os-release"

echo "== 1. start-to-exit of /bin/true ($runs runs each)"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/h1.json" \
	-n vhost-none "$V run none -- /bin/true" \
	-n vhost-veth "$V run veth -- /bin/true" \
	-n bwrap "bwrap --unshare-all --ro-bind $rootfs / --proc /proc --dev /dev /bin/true" \
	-n nspawn "systemd-nspawn --register=no --keep-unit -q -D $nsroot /bin/true" >/dev/null
# With a shell (bash builtins only, hyperfine subtracts the shell's start).
hyperfine --shell=bash --warmup 8 --runs "$runs" --export-json "$work/h3.json" \
	-n vhost-veth-turns "read n <$work/turn; echo \$(( (n + 1) % 8 )) >$work/turn; $V run turn\$n -- /bin/true" >/dev/null
crun_wrap "hyperfine -N --warmup 3 --runs $runs --export-json $work/h2.json -n crun '$crun_cmd' -n crun-veth '$crun_veth_cmd'" >/dev/null
mean() { jq -r --arg n "$2" '.results[] | select(.command==$n) | .mean' "$1"; }
vn=$(mean "$work/h1.json" vhost-none); vv=$(mean "$work/h1.json" vhost-veth)
bw=$(mean "$work/h1.json" bwrap); ns=$(mean "$work/h1.json" nspawn); cr=$(mean "$work/h2.json" crun)
crv=$(mean "$work/h2.json" crun-veth); vt=$(mean "$work/h3.json" vhost-veth-turns)
ms() { awk -v s="$1" 'BEGIN{printf "%.2f", s*1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
printf '%-40s %10s\n' "what" "mean ms"
printf '%-40s %10s\n' "vhost run -- /bin/true, network none" "$(ms $vn)" "vhost run -- /bin/true, cgroup + veth" "$(ms $vv)" \
	"  eight vservers in turn" "$(ms $vt)" \
	"bwrap --unshare-all" "$(ms $bw)" "crun run (cgroup, netns)" "$(ms $cr)" \
	"crun run (cgroup, netns, veth by a hook)" "$(ms $crv)" "systemd-nspawn --register=no" "$(ms $ns)"
echo "ratios (target):"
echo "  vhost-none / bwrap  = $(ratio $vn $bw)   (<= 1.0)"
echo "  vhost-veth / crun-veth = $(ratio $vv $crv)   (<= 0.8: both with cgroup and veth; one vserver back to back)"
echo "  vhost-veth-turns / crun-veth = $(ratio $vt $crv)   (eight vservers in turn, as crun's run a new pair each)"
echo "  vhost-veth / crun      = $(ratio $vv $cr)   (crun with a netns but no veth)"
echo "  vhost-none / crun      = $(ratio $vn $cr)   (neither makes a veth)"
echo "  vhost-none / nspawn = $(ratio $vn $ns)   (<= 0.1; nspawn here shares the host's network, so vhost without a veth)"

echo "== 2. boot of a 10-unit busybox vserver to all 10 running"
units=$work/units10 && mkdir -p "$units"
for i in $(seq 10); do printf 'exec: [sleep, "100000"]\n' >"$units/s$i.yaml"; done
$V image build ten --from busybox --units "$units" >/dev/null
printf 'image: ten\nnetwork:\n  addresses: [10.77.0.101/24]\n' >"$R/etc/vhost/vservers/ten.yaml"
best=""
for _ in 1 2 3 4 5; do
	t0=$(date +%s%N)
	$V start ten
	until [ "$($V exec ten -- vinit ctl status --json 2>/dev/null | jq '[.[] | select(.state=="running")] | length' 2>/dev/null)" = 10 ]; do :; done
	t1=$(date +%s%N)
	$V stop ten
	d=$(( (t1 - t0) / 1000000 ))
	[ -z "$best" ] || [ "$d" -lt "$best" ] && best=$d
done
echo "  start to all 10 running: best of 5 = $best ms (includes the polling exec's own cost)"

echo "== 3. 100 vservers at once"
sync; echo 3 >/proc/sys/vm/drop_caches
before=$(awk '/MemAvailable/{print $2}' /proc/meminfo)
t0=$(date +%s%N)
for i in $(seq 110 209); do
	n=m$i
	printf 'image: demo100\nnetwork:\n  addresses: [10.77.0.%d/24]\n' "$i" >"$R/etc/vhost/vservers/$n.yaml"
done
$V image build demo100 --from busybox --units examples/demo/units >/dev/null
for i in $(seq 110 209); do $V start m$i; done
t1=$(date +%s%N)
sleep 5
after=$(awk '/MemAvailable/{print $2}' /proc/meminfo)
running=$($V status --json | jq '[.[] | select(.status=="running")] | length')
rss=$($V status --json | jq '[.[] | .rss // 0] | add')
mon=$(for i in $(seq 110 209); do p=$(jq -r .monitor_pid "$R/run/vhost/m$i/state.json"); awk '/VmRSS/{print $2}' /proc/$p/status; done | awk '{s+=$1} END{print s}')
echo "  $running of 100 running, started in $(( (t1 - t0) / 1000000 )) ms"
echo "  MemAvailable dropped by $(( (before - after) / 1024 )) MiB: $(( (before - after) / 100 )) KiB a vserver"
echo "  guest processes' RSS: $(( rss / 1048576 )) MiB in all; monitors' RSS: $(( mon / 1024 )) MiB in all"
routed=0
for i in 110 160 209; do
	ip route get 10.77.0.$i | grep -q "dev vh-m$i " && curl -s --max-time 2 "http://10.77.0.$i/" | grep -q "m$i" && routed=$((routed+1))
done
echo "  pages fetched from 3 sampled guests: $routed of 3"
t0=$(date +%s%N)
for i in $(seq 110 209); do $V stop m$i; done
echo "  stopped all in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
