#!/usr/bin/env bash
# Host boot integration on a real systemd host: the tests of internal/systemd
# (scopes, machined, journald) and of the vhost daemon and its service unit,
# in a VM with systemd as PID 1 and cgroup v2 (../shared/tools/vmtest). The
# test binaries are built here: the VM has no Go.
#
#   sudo bash scripts/vmtest-host.sh          # scripts/vmtest.sh may call it
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_go
vmtest=${VMTEST:-../shared/tools/vmtest}
[ -x "$vmtest" ] || { echo "== FAILED: $vmtest not found: the systemd host tests can't run" >&2; exit 1; }
out=$(mktemp -d /tmp/vhost-vmtest-host.XXXXXX)
trap 'rm -rf "$out"' EXIT
export CGO_ENABLED=0
pkgs=(internal/systemd internal/hostd)
for p in "${pkgs[@]}"; do
	[ -d "$p" ] && go test -c -o "$out/$(basename "$p").test" "./$p"
done
go build -o "$out/" ./cmd/vhost ./cmd/vinit
here=$(pwd)
cat > "$out/in-vm.sh" <<INVM
echo "cgroup: \$(stat -fc %T /sys/fs/cgroup), PID 1: \$(cat /proc/1/comm)"
status=0
for p in ${pkgs[*]}; do
	t="$out/\$(basename \$p).test"
	[ -x "\$t" ] || continue
	cd "$here/\$p"
	echo "--- \$p"
	VHOST_TEST_SYSTEMD=1 "\$t" -test.count=1 -test.v >/tmp/test.log 2>&1 || { status=1; echo "FAIL \$p in the VM"; }
	grep -E '^(=== RUN|--- |ok|FAIL|PASS|panic)|_test.go:' /tmp/test.log
done
if [ -f "$here/scripts/vm-host-service.sh" ]; then
	echo "--- vhost service under systemd"
	VHOST_BIN="$out/vhost" VINIT_BIN="$out/vinit" bash "$here/scripts/vm-host-service.sh" || { status=1; echo "FAIL vhost service in the VM"; }
fi
exit \$status
INVM
echo "== host integration tests in a systemd + cgroup v2 VM (emulated: slow)"
VMTEST_PACKAGES="busybox-static xfsprogs e2fsprogs" "$vmtest" --timeout 900 --share "$here" --share "$out" -- sh "$out/in-vm.sh"
