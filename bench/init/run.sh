#!/bin/sh
# Benchmark vinit's single-command mode against tini, dumb-init and
# catatonit. Run as root from anywhere in the repository:
#   sudo bench/init/run.sh [flags of bench/init, e.g. -storm 20000 -runs 500]
# Needs: go, hyperfine, tini, dumb-init, catatonit
#   (apt-get install -y hyperfine tini dumb-init catatonit).
# VINIT_LDFLAGS is passed to go build -ldflags, e.g.
#   VINIT_LDFLAGS=-X=runtime.godebugDefault=asyncpreemptoff=1
# for the build that needs no re-exec (see docs/single-command.md).
set -eu
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Static, as an init is shipped (and as the module builds without cgo):
# with cgo, units (net) and supervisor (os/user) make it dynamic and slower.
CGO_ENABLED=0 go build -ldflags="${VINIT_LDFLAGS:-}" -o "$tmp/vinit" ./cmd/vinit
go build -o "$tmp/init-bench" ./bench/init
"$tmp/init-bench" -vinit "$tmp/vinit" "$@"
