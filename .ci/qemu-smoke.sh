#!/usr/bin/env bash
# Runs the cross-built binaries on emulated boards (qemu-user): for armv6 (an ARM1176,
# the Raspberry Pi Zero/1), arm64 and mipsle softfloat (a 24Kc, the OpenWrt routers),
# `version`, then a daemon on its embedded broker with an mqtt source and a stdout
# sink: a message published with mosquitto_pub must come out on stdout; then the
# status LED's LED-class backend on a directory laid out like /sys/class/leds (see
# led_smoke). Installs qemu-user-static and mosquitto-clients (Debian) when they are
# missing.
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

# led_tree DIR: DIR laid out like /sys/class/leds with one LED, ACT, off, whose
# trigger file offers the kernel timer (and, as the kernel would once it is
# selected, delay_on and delay_off).
led_tree() {
	rm -rf "$1"
	mkdir -p "$1/ACT"
	printf '0\n' >"$1/ACT/brightness"
	printf '1\n' >"$1/ACT/max_brightness"
	printf '[none] timer\n' >"$1/ACT/trigger"
	printf '500\n' >"$1/ACT/delay_on"
	printf '500\n' >"$1/ACT/delay_off"
}

# led_attrs DIR NAME=VALUE...: whether each attribute of DIR/ACT holds VALUE. For
# trigger, VALUE is the selected one: the [name] of a list as the kernel shows it
# (the tree starts as "[none] timer"), or the name the daemon wrote.
led_attrs() {
	local dir=$1 kv v
	shift
	for kv in "$@"; do
		v=$(tr -d '\n' <"$dir/ACT/${kv%%=*}")
		if [ "${kv%%=*}" = trigger ] && [[ $v =~ \[([^]]*)\] ]]; then
			v=${BASH_REMATCH[1]}
		fi
		[ "$v" = "${kv#*=}" ] || return 1
	done
}

# led_show DIR: the attributes, for a failure message.
led_show() {
	local f
	for f in brightness trigger delay_on delay_off; do printf '%s=%s ' "$f" "$(tr -d '\n' <"$1/ACT/$f")"; done
}

# led_smoke NAME DIR QEMU...: the LED-class backend under emulation, on fake trees.
# `led test --pattern P` must hand a blinking pattern (heartbeat) to the kernel timer
# (trigger timer, delay_on and delay_off 1000) and show a steady one (storage-fault)
# with brightness 1 and no timer (trigger none, the delays as they were) while it runs, leave the LED
# off (brightness 0, and the timer left: trigger none) when stopped with SIGTERM; `run` refusing an invalid configuration must leave
# config-invalid on the timer (delays 100) after it exits; `led test` on a GPIO line
# that is not there must fail with the reason. Prints what failed.
led_smoke() {
	local name=$1 dir=$2
	shift 2
	local bin=$dist/edgerelay_linux_$name leds=$dir/leds lpid rc
	cat >"$dir/led.yaml" <<YAML
store: { path: $dir/led-queue.db }
sinks: [{ name: console, type: stdout }]
routes: [{ to: [console] }]
indicator: { backend: sysfs-led, led: ACT, root: $leds }
YAML
	while IFS='|' read -r pattern want after; do
		led_tree "$leds"
		"$@" "$bin" led test -c "$dir/led.yaml" --pattern "$pattern" --each 10m >"$dir/led.out" 2>&1 </dev/null &
		lpid=$!
		local ok=0
		for _ in $(seq 300); do # up to 60 s
			# shellcheck disable=SC2086 # want is a list of NAME=VALUE words
			if led_attrs "$leds" $want; then
				ok=1
				break
			fi
			kill -0 "$lpid" 2>/dev/null || break
			sleep 0.2
		done
		kill -TERM "$lpid" 2>/dev/null || true
		rc=0
		wait "$lpid" 2>/dev/null || rc=$?
		if [ $ok = 0 ]; then
			echo "led test --pattern $pattern: wanted $want, got $(led_show "$leds"); output: $(tr '\n' ' ' <"$dir/led.out")"
			return 1
		fi
		# shellcheck disable=SC2086
		if [ $rc != 0 ] || ! led_attrs "$leds" $after; then
			echo "led test --pattern $pattern: exit $rc, and after it $(led_show "$leds") (wanted $after)"
			return 1
		fi
	done <<'PATTERNS'
heartbeat|trigger=timer delay_on=1000 delay_off=1000 brightness=1|trigger=none brightness=0
storage-fault|trigger=none brightness=1 delay_on=500|trigger=none brightness=0
PATTERNS

	led_tree "$leds"
	sed 's/type: stdout/type: nonsense/' "$dir/led.yaml" >"$dir/led-bad.yaml"
	rc=0
	"$@" "$bin" run -c "$dir/led-bad.yaml" >"$dir/led.out" 2>&1 </dev/null || rc=$?
	if [ $rc = 0 ] || ! led_attrs "$leds" trigger=timer delay_on=100 delay_off=100; then
		echo "run with an invalid configuration: exit $rc, LED $(led_show "$leds") (wanted trigger=timer delay_on=100 delay_off=100)"
		return 1
	fi

	# The GPIO backend under emulation: qemu-user sees the host's /dev. Without a
	# /dev/gpiochip* there, the line is refused for want of a chip; with one, the
	# daemon's v2 probe (hw/gpio) refuses it, since qemu-user does not pass the GPIO
	# ioctls on (ENOSYS), before periph's scan is reached.
	sed 's/^indicator:.*/indicator: { backend: gpio, line: edgerelay-smoke-absent }/' "$dir/led.yaml" >"$dir/led-gpio.yaml"
	local want_gpio chips
	chips=(/dev/gpiochip*)
	if [ -e "${chips[0]}" ]; then
		want_gpio="edgerelay: status LED \"edgerelay-smoke-absent\": gpio: ${chips[0]}: the kernel lacks the GPIO character device v2 interface (Linux 5.10 or later) (GPIO_V2_GET_LINEINFO: function not implemented)"
	else
		want_gpio='edgerelay: status LED "edgerelay-smoke-absent": gpio: no GPIO chip (no /dev/gpiochip*: the kernel has no GPIO driver, or the service'"'"'s devices are restricted)'
	fi
	rc=0
	"$@" "$bin" led test -c "$dir/led-gpio.yaml" --each 1s >"$dir/led.out" 2>&1 </dev/null || rc=$?
	if [ $rc = 0 ] || ! grep -qxF -- "$want_gpio" "$dir/led.out"; then
		echo "led test on an absent GPIO line: exit $rc: $(tr '\n' ' ' <"$dir/led.out") (wanted the line: $want_gpio)"
		return 1
	fi
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
	dir=$(mktemp -d "/tmp/edgerelay-qemu-$name.XXXXXX")
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
	else
		say "$name: FAILED under ${qemu[*]}; stderr and stdout follow (kept in $dir)" >&2
		tail -n 30 "$dir/stderr" >&2 || true
		tail -n 5 "$dir/stdout" >&2 || true
		fail=1
	fi
	if why=$(led_smoke "$name" "$dir" "${qemu[@]}"); then
		say "$name: LED ok under ${qemu[*]}: heartbeat on the kernel timer (1000/1000 ms), storage-fault solid, off after led test, config-invalid left blinking (100/100 ms) by a refused run, an absent GPIO line refused"
		[ $ok = 1 ] && rm -rf "$dir"
	else
		say "$name: LED FAILED under ${qemu[*]}: $why (kept in $dir)" >&2
		fail=1
	fi
done <<'BOARDS'
armv6 qemu-arm-static -cpu arm1176
arm64 qemu-aarch64-static
mipsle_softfloat qemu-mipsel-static -cpu 24Kc
BOARDS
exit $fail
