#!/usr/bin/env bash
# lintian on every .deb in dist/packages (`make package`): fails on any error or
# warning that packaging/debian/lintian-overrides (shipped as
# /usr/share/lintian/overrides/edgerelay) does not override, and on an override
# that no longer matches anything (unused-override), so the list stays true.
# Info and pedantic tags are shown, not fatal. Installs lintian (Debian) when it
# is missing.
#   bash .ci/check-lintian.sh [DIR]      (DIR: where the packages are; dist/packages)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-dist/packages}
say() { printf 'check-lintian: %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo -n "$@"; else
		say "need root for: $*" >&2
		return 1
	fi
}
if ! command -v lintian >/dev/null 2>&1; then
	say "installing lintian"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends lintian
fi

shopt -s nullglob
debs=("$dir"/*.deb)
if [ ${#debs[@]} = 0 ]; then
	say "FAIL: no .deb in $dir (run make package)" >&2
	exit 1
fi
say "$(lintian --version) on ${debs[*]}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
# --fail-on decides the exit status (2 when a tag it names is reported); -I and
# --pedantic only add what is shown.
lintian -I --pedantic --fail-on error,warning "${debs[@]}" >"$out" 2>&1 || rc=$?
grep -v '^running with root privileges' "$out" || true
unused=0
if grep -q 'unused-override\|mismatched-override' "$out"; then
	say "FAIL: packaging/debian/lintian-overrides has overrides that match nothing (above)" >&2
	unused=1
fi
case $rc in
0) ;;
2) say "FAIL: lintian reports errors or warnings that are not overridden (above, E: and W:)" >&2 ;;
*) say "FAIL: lintian did not run through (exit $rc, above)" >&2 ;;
esac
[ "$rc" = 0 ] && [ $unused = 0 ] || exit 1
say "ok: ${#debs[@]} packages, no error or warning beyond packaging/debian/lintian-overrides"
