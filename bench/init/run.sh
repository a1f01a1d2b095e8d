#!/bin/sh
# Benchmark vinit's single-command mode against tini, dumb-init and
# catatonit. Run as root from anywhere in the repository:
#   sudo bench/init/run.sh [flags of bench/init, e.g. -storm 20000 -runs 500]
# Needs: go, hyperfine, tini, dumb-init, catatonit
#   (apt-get install -y hyperfine tini dumb-init catatonit).
set -eu
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Static, as an init is shipped (and as the module builds without cgo):
# with cgo, units (net) and supervisor (os/user) make it dynamic and slower.
CGO_ENABLED=0 go build -o "$tmp/vinit" ./cmd/vinit
go build -o "$tmp/init-bench" ./bench/init
"$tmp/init-bench" -vinit "$tmp/vinit" "$@"
