#!/usr/bin/env bash
# Runs the cross-built binaries on emulated boards (qemu-user): for armv6 (an ARM1176,
# the Raspberry Pi Zero/1), arm64 and mipsle softfloat (a 24Kc, the OpenWrt routers),
# `version`, then a daemon on its embedded broker with an mqtt source and a stdout
# sink: a message published with mosquitto_pub must come out on stdout. Installs
# qemu-user-static and mosquitto-clients (Debian) when they are missing.
#   bash .ci/qemu-smoke.sh [DIST]        (DIST: where make cross put the binaries; dist)
set -euo pipefail
dist=${1:-dist}
say() { printf 'qemu-smoke: %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo -n "$@"; else
		say "need root for: $*" >&2
		return 1
	fi
}
need=()
command -v qemu-arm-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

# free_port: a loopback TCP port nothing answers on.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

fail=0
while read -r name emu; do
	bin=$dist/edgerelay_linux_$name
	if [ ! -x "$bin" ]; then
		say "$name: $bin is missing (run make cross)" >&2
		fail=1
		continue
	fi
	read -r -a qemu <<<"$emu"
	dir=$(mktemp -d /tmp/edgerelay-qemu-$name.XXXXXX)
	if ! "${qemu[@]}" "$bin" version >"$dir/version" 2>&1 </dev/null; then
		say "$name: version failed under ${qemu[*]}:" >&2
		cat "$dir/version" >&2
		fail=1
		continue
	fi
	bport=$(free_port)
	hport=$(free_port)
	cat >"$dir/edgerelay.yaml" <<YAML
store: { path: $dir/queue.db }
http: { listen: "127.0.0.1:$hport" }
broker: { enabled: "true", listen: "127.0.0.1:$bport" }
sources: [{ name: local, type: mqtt, url: "tcp://127.0.0.1:$bport", topics: ["smoke/#"], qos: 1 }]
sinks: [{ name: console, type: stdout }]
routes: [{ to: [console] }]
YAML
	"${qemu[@]}" "$bin" run -c "$dir/edgerelay.yaml" >"$dir/stdout" 2>"$dir/stderr" </dev/null &
	pid=$!
	trap 'kill -KILL "$pid" 2>/dev/null || true' EXIT
	ok=0
	for _ in $(seq 300); do # up to 60 s: emulation is slow
		if curl -fsS -o /dev/null "http://127.0.0.1:$hport/health" 2>/dev/null </dev/null; then
			ok=1
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if [ $ok = 1 ]; then
		ok=0
		if ! mosquitto_pub -h 127.0.0.1 -p "$bport" -t "smoke/$name" -q 1 -m "{\"smoke\":\"$name\"}" </dev/null; then
			say "$name: mosquitto_pub failed" >&2
		fi
		for _ in $(seq 150); do
			if grep -q "smoke/$name" "$dir/stdout"; then
				ok=1
				break
			fi
			sleep 0.2
		done
	fi
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if [ $ok = 1 ]; then
		say "$name: ok under ${qemu[*]}: $(head -n1 "$dir/version"); the message reached stdout"
		rm -rf "$dir"
	else
		say "$name: FAILED under ${qemu[*]}; stderr and stdout follow (kept in $dir)" >&2
		tail -n 30 "$dir/stderr" >&2 || true
		tail -n 5 "$dir/stdout" >&2 || true
		fail=1
	fi
done <<'BOARDS'
armv6 qemu-arm-static -cpu arm1176
arm64 qemu-aarch64-static
mipsle_softfloat qemu-mipsel-static -cpu 24Kc
BOARDS
exit $fail
