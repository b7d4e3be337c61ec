#!/usr/bin/env bash
# Fails when the linker keeps a text/template or html/template method that calls
# reflect's Method/MethodByName in the given main package (default ./cmd/edgerelay).
#
# Such a "ReflectMethod" symbol, once reachable, makes the linker keep every
# exported method of every reachable type, which can double the binary (see
# ../shared/guides/ecosystem.md §4.1: 15.7 MB -> 27.4 MB for one html/template
# Execute). Other ReflectMethod users are listed as a warning.
#
# How: `go build -ldflags=-dumpdep` prints each symbol the linker's dead-code pass
# marks reachable, once, as "parent -> symbol", with " <ReflectMethod>" after the
# names of such methods. Following parents back from a culprit gives the chain
# from the entry point that keeps it, which is printed.
#
# Usage: .ci/check-reflect.sh [main-package]   (env: GO, default go)
set -euo pipefail

pkg=${1:-./cmd/edgerelay}
GO=${GO:-go}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Same flags as the release builds (minus -s -w, which don't change reachability).
if ! CGO_ENABLED=0 "$GO" build -trimpath -ldflags=-dumpdep -o "$tmp/bin" "$pkg" >"$tmp/dump" 2>&1; then
	grep -v -- ' -> ' "$tmp/dump" >&2 || true
	echo "check-reflect: go build of $pkg failed" >&2
	exit 1
fi

# Every symbol marked ReflectMethod (each appears as a target exactly once).
awk -F' -> ' 'NF == 2 && $2 ~ / <ReflectMethod>$/ { sub(/ <ReflectMethod>$/, "", $2); print $2 }' "$tmp/dump" |
	sort -u >"$tmp/users"

# Chain from the entry point to a symbol, one "  <- parent" line per step.
chain() {
	awk -F' -> ' -v want="$1" '
		NF == 2 { p = $1; sub(/ <ReflectMethod>$/, "", p); c = $2; sub(/ <ReflectMethod>$/, "", c)
		          if (!(c in parent)) parent[c] = p }
		END { s = want; for (i = 0; i < 40 && (s in parent) && parent[s] != "_"; i++) { s = parent[s]; print "      <- " s } }
	' "$tmp/dump"
}

culprits=$(grep -E '^(text|html)/template\.' "$tmp/users" || true)
others=$(grep -vE '^(text|html)/template\.' "$tmp/users" || true)

if [ -n "$others" ]; then
	echo "check-reflect: warning: other ReflectMethod users reachable from $pkg (they disable method dead-code elimination):"
	while IFS= read -r s; do
		echo "  $s"
		chain "$s" | head -8
	done <<<"$others"
fi

if [ -n "$culprits" ]; then
	echo "check-reflect: FAIL: text/template or html/template execution is reachable from $pkg:" >&2
	while IFS= read -r s; do
		echo "  $s" >&2
		chain "$s" >&2
	done <<<"$culprits"
	echo "Keep template execution out of the daemon (use gjson paths, fmt, or strings.Replacer)." >&2
	exit 1
fi

echo "check-reflect: ok: no text/template or html/template ReflectMethod user reachable from $pkg"
