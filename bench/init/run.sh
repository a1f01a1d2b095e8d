#!/usr/bin/env bash
# Benchmark vinit's single-command mode against tini, dumb-init and
# catatonit. Run as root from anywhere in the repository:
#   sudo bench/init/run.sh [flags of bench/init, e.g. -storm 20000 -runs 500]
# Needs: go, hyperfine, tini, dumb-init, catatonit
#   (apt-get install -y hyperfine tini dumb-init catatonit).
# vinit is built as scripts/lib.sh builds it (static, -trimpath, linked
# with async preemption off). VINIT_PLAIN=1 measures a plain `go build`
# instead, which re-executes itself once at start (docs/single-command.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
need_go
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "${VINIT_PLAIN:-}" = 1 ]; then
	CGO_ENABLED=0 go build -o "$tmp/vinit" ./cmd/vinit
else
	CGO_ENABLED=0 go build -trimpath -ldflags="$VINIT_LDFLAGS" -o "$tmp/vinit" ./cmd/vinit
fi
# The least a Go init can do, built as vinit is: what the runtime costs.
CGO_ENABLED=0 go build -trimpath -ldflags="$VINIT_LDFLAGS" -o "$tmp/gofloor" ./bench/init/gofloor
go build -o "$tmp/init-bench" ./bench/init
"$tmp/init-bench" -vinit "$tmp/vinit" -go-floor "$tmp/gofloor" "$@"
