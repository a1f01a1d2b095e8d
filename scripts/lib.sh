# Shared by demo.sh and test.sh: what a fresh Debian machine needs.

# need_go puts the Go toolchain on PATH (this machine kind ships it in
# /usr/local/go) or says how to get it.
need_go() {
	if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
		export PATH="$PATH:/usr/local/go/bin"
	fi
	command -v go >/dev/null 2>&1 || { echo "go not found: install Go 1.26 or newer" >&2; exit 1; }
}

# need_packages installs the Debian packages given, if any is missing.
need_packages() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "== installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need_root() {
	[ "$(id -u)" = 0 ] || { echo "$0: run as root: vservers need namespaces, cgroups and veth pairs" >&2; exit 1; }
}

# vinit is linked with async preemption off: the Go runtime's own SIGURGs
# must never reach a child it forwards signals to (docs/single-command.md),
# and linked in, the setting spares vinit a re-exec of itself at start.
# The second -X tells vinit so: a -trimpath build records no -ldflags in
# its build information (internal/single.LinkedGodebugDefault).
VINIT_LDFLAGS="-X=runtime.godebugDefault=asyncpreemptoff=1 -X=github.com/vservers/vserver/internal/single.LinkedGodebugDefault=asyncpreemptoff=1"

build() {
	echo "== building vhost and vinit into bin/"
	CGO_ENABLED=0 go build -trimpath -o bin/ ./cmd/vhost
	CGO_ENABLED=0 go build -trimpath -ldflags="$VINIT_LDFLAGS" -o bin/ ./cmd/vinit
}
