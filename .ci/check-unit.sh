#!/usr/bin/env bash
# Verifies rootfs/lib/systemd/system/edgerelay.service with `systemd-analyze verify`.
# verify only warns on unknown keys and still exits 0, so any output is a failure.
# It also insists that the ExecStart binary exists: when /usr/bin/edgerelay is
# missing, a dummy is put there for the check and removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

unit=rootfs/lib/systemd/system/edgerelay.service
bin=/usr/bin/edgerelay

if ! command -v systemd-analyze >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "check-unit: systemd-analyze is missing (Debian package: systemd)" >&2
		exit 1
	fi
	echo "check-unit: SKIP: systemd-analyze is missing (Debian package: systemd)"
	exit 0
fi

tmp=$(mktemp -d)
dummy=
cleanup() {
	# Remove the dummy only if it is still ours.
	if [ -n "$dummy" ] && cmp -s "$tmp/dummy" "$bin"; then
		rm -f "$bin"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ ! -e "$bin" ]; then
	printf '#!/bin/sh\n# dummy for edgerelay .ci/check-unit.sh\nexit 0\n' >"$tmp/dummy"
	if ! install -m 0755 "$tmp/dummy" "$bin" 2>/dev/null; then
		echo "check-unit: $bin is missing and cannot be created (run as root)" >&2
		exit 1
	fi
	dummy=1
fi

# A copy, so that nothing else in rootfs/ is picked up as a drop-in.
cp "$unit" "$tmp/"
set +e
out=$(systemd-analyze verify "$tmp/$(basename "$unit")" 2>&1)
rc=$?
set -e
if [ $rc -ne 0 ] || [ -n "$out" ]; then
	printf '%s\n' "$out" >&2
	echo "check-unit: FAIL: systemd-analyze verify $unit (exit $rc)" >&2
	exit 1
fi
echo "check-unit: ok: systemd-analyze verify $unit ($(systemd-analyze --version | head -n1))"
