#!/usr/bin/env bash
# Cheap checks of what the packages ship, without building them:
#  - maintainer and init scripts parse (dash, as /bin/sh on Debian; ash is close);
#  - every file packaging/nfpm.yaml ships exists;
#  - the OpenWrt config differs from rootfs' only in store.path (and comments);
#  - with a binary given, both shipped configs pass `edgerelay config check`.
# Usage: .ci/check-packaging.sh [path/to/edgerelay]
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-}
fail=0
bad() { echo "check-packaging: FAIL: $*" >&2; fail=1; }

sh=$(command -v dash || echo sh)
for f in packaging/deb/postinstall packaging/deb/preremove packaging/deb/postremove \
	packaging/openwrt/postinstall packaging/openwrt/preremove packaging/openwrt/edgerelay.init \
	packaging/version.sh; do
	"$sh" -n "$f" || bad "$f does not parse"
done

while read -r src; do
	[ -e "$src" ] || bad "packaging/nfpm.yaml ships $src, which does not exist"
done < <(sed -n 's/^[[:space:]]*-[[:space:]]*src:[[:space:]]*\([^$[:space:]][^[:space:]]*\)[[:space:]]*$/\1/p' packaging/nfpm.yaml)
while read -r src; do
	[ -e "$src" ] || bad "packaging/nfpm.yaml names script $src, which does not exist"
done < <(sed -n 's/^[[:space:]]*\(postinstall\|preremove\|postremove\|preinstall\):[[:space:]]*\([^[:space:]]*\)[[:space:]]*$/\2/p' packaging/nfpm.yaml)

# Non-comment lines of a YAML file, with the OpenWrt store path mapped to Debian's.
settings() {
	grep -v '^[[:space:]]*#' "$1" | grep -v '^[[:space:]]*$' |
		sed 's#^  path: /etc/edgerelay/state/queue.db$#  path: /var/lib/edgerelay/queue.db#'
}
if ! diff -u <(settings rootfs/etc/edgerelay/edgerelay.yaml) <(settings packaging/openwrt/edgerelay.yaml) >&2; then
	bad "packaging/openwrt/edgerelay.yaml must match rootfs/etc/edgerelay/edgerelay.yaml except store.path and comments"
fi

# The OpenWrt init script against stand-ins for rc.common's UCI and procd helpers:
# prints what it would register with procd.
# procd_run ENABLED GOMEMLIMIT CONFIG-CHECK-EXIT
procd_run() {
	local dir
	dir=$(mktemp -d)
	printf '#!/bin/sh\nexit %s\n' "$3" >"$dir/edgerelay"
	chmod +x "$dir/edgerelay"
	# shellcheck disable=SC2016 # expanded by the inner shell
	UCI_enabled=$1 UCI_gomemlimit=$2 "$sh" -c '
		config_load() { :; }
		config_get() { eval "v=\${UCI_$3-}"; [ -n "$v" ] || v=$4; eval "$1=\$v"; }
		config_get_bool() { config_get "$@"; }
		procd_open_instance() { echo open; }
		procd_set_param() { echo "set $*"; }
		procd_append_param() { echo "append $*"; }
		procd_close_instance() { echo close; }
		logger() { :; }
		. ./packaging/openwrt/edgerelay.init
		PROG=$1/edgerelay STATE_DIR=$1/state
		start_service 2>/dev/null
		echo "exit $?"
	' sh "$dir"
	rm -rf "$dir"
}
want=$'open\nset command DIR/edgerelay run -c /etc/edgerelay/edgerelay.yaml\nappend env GOMEMLIMIT=48MiB\nset respawn 3600 5 0\nset term_timeout 20\nset stdout 1\nset stderr 1\nset file /etc/config/edgerelay /etc/edgerelay/edgerelay.yaml\nclose\nexit 0'
got=$(procd_run 1 48MiB 0 | sed 's#/tmp/[^ ]*/edgerelay#DIR/edgerelay#')
[ "$got" = "$want" ] || bad $'edgerelay.init registers, with gomemlimit set:\n'"$got"$'\nwant:\n'"$want"
got=$(procd_run 0 "" 0)
[ "$got" = "exit 0" ] || bad "edgerelay.init starts although enabled=0: $got"
got=$(procd_run 1 "" 78)
[ "$got" = "exit 1" ] || bad "edgerelay.init starts although config check fails: $got"

if [ -n "$bin" ]; then
	for f in rootfs/etc/edgerelay/edgerelay.yaml packaging/openwrt/edgerelay.yaml; do
		if out=$("$bin" config check -c "$f" 2>&1); then
			echo "check-packaging: ok: $bin config check -c $f"
		else
			printf '%s\n' "$out" >&2
			bad "$bin config check -c $f"
		fi
	done
fi

[ $fail = 0 ] || exit 1
echo "check-packaging: ok"
