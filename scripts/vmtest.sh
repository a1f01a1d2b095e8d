#!/usr/bin/env bash
# The cgroup v2 + systemd half of the suite: the test binaries are built
# here and run inside a real Debian host with systemd as PID 1 and a pure
# cgroup v2 hierarchy (../shared/tools/vmtest), where there is no Go.
#
#   sudo bash scripts/vmtest.sh
#   sudo VHOST_VM_RUN='UserNS|UserNamespace' bash scripts/vmtest.sh   # only the tests matching
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_go
vmtest=${VMTEST:-../shared/tools/vmtest}
if [ "${VHOST_TEST_VM:-1}" = 0 ]; then
	echo "== SKIPPED: the cgroup v2 + systemd tests in a VM (VHOST_TEST_VM=0)" >&2
	[ "${CI:-}" = true ] && { echo "CI must run them" >&2; exit 1; }
	exit 0
fi
if [ ! -x "$vmtest" ]; then
	echo "== FAILED: $vmtest not found: the cgroup v2 + systemd tests can't run" >&2
	exit 1
fi
out=$(mktemp -d /tmp/vhost-vmtest.XXXXXX)
trap 'rm -rf "$out"' EXIT
export CGO_ENABLED=0
for p in internal/cgroup internal/quota internal/bindfilter context cmd/vhost; do
	go test -c -o "$out/$(basename $p).test" "./$p"
done
go build -o "$out/" ./cmd/vhost ./cmd/vinit ./context/internal/trampoline
here=$(pwd)
run=
if [ -n "${VHOST_VM_RUN:-}" ]; then run="-test.run '$VHOST_VM_RUN'"; fi
cat > "$out/in-vm.sh" <<INVM
echo "cgroup: \$(stat -fc %T /sys/fs/cgroup), PID 1: \$(cat /proc/1/comm)"
status=0
for p in internal/cgroup internal/quota internal/bindfilter context cmd/vhost; do
	cd "$here/\$p"
	echo "--- \$p"
	# The images' tool tests need umoci, skopeo and a Debian mirror, and the host service
	# has a VM script of its own: here, what cgroup v2 and systemd change.
	"$out/\$(basename \$p).test" -test.count=1 -test.v $run -test.skip 'Umoci|OCIImage|SysV|Daemon|Service|Debian' >/tmp/test.log 2>&1 || { status=1; echo "FAIL \$p in the VM; the end of its log:"; tail -60 /tmp/test.log; }
	# Each test's result and messages, with the indented lines that
	# continue a message (a command's output in a Fatalf).
	awk '/^(--- |ok|FAIL|PASS|panic)/ { print; cont = 0; next }
		/_test.go:/ { print; cont = 1; next }
		cont && /^[ \t]/ { print; next }
		{ cont = 0 }' /tmp/test.log
	# What needs systemd and cgroup v2 must run here, not skip.
	if grep -q -- '--- SKIP' /tmp/test.log; then status=1; echo "FAIL \$p: a test skipped in the VM"; fi
done
exit \$status
INVM
echo "== go test in a systemd + cgroup v2 VM (emulated: slow)"
VMTEST_PACKAGES="busybox-static xfsprogs e2fsprogs" "$vmtest" --timeout 900 --share "$here" --share "$out" \
	--env VHOST_TEST_BINDIR="$out" --env VHOST_TEST_TRAMPOLINE="$out/trampoline" -- sh "$out/in-vm.sh"
