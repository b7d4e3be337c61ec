#!/usr/bin/env bash
# Reproducible packages: `make package` twice with the same SOURCE_DATE_EPOCH (the
# last commit's unless set), the second time from an empty dist/, must give
# byte-identical binaries, packages and generated docs. Exits 1 naming what differs.
#   REPRO_COLD=1  the second build also uses an empty Go build cache, so the Go
#                 compiler really runs twice (slow: every target from scratch).
# Usage: .ci/check-repro.sh   (or make repro)
set -euo pipefail
cd "$(dirname "$0")/.."

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

snapshot() { # snapshot DIR: what a release would publish
	mkdir -p "$1"
	cp -a dist/packages dist/share "$1/"
	cp -a dist/edgerelay_linux_* "$1/"
}

make -s package >"$tmp/first.log" 2>&1 || { cat "$tmp/first.log" >&2; exit 1; }
snapshot "$tmp/a"
rm -rf dist bin/edgerelay
if [ "${REPRO_COLD:-}" = 1 ]; then
	export GOCACHE=$tmp/gocache
fi
make -s package >"$tmp/second.log" 2>&1 || { cat "$tmp/second.log" >&2; exit 1; }
snapshot "$tmp/b"

if diff -r "$tmp/a" "$tmp/b" >"$tmp/diff" 2>&1; then
	echo "check-repro: ok: $(find "$tmp/a" -type f | wc -l) files identical (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"
else
	cat "$tmp/diff" >&2
	echo "check-repro: FAIL: two builds of one commit differ" >&2
	exit 1
fi
