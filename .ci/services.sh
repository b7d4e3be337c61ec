#!/usr/bin/env bash
# Makes sure the machine services the tests talk to are up, starting (and, as root,
# installing) them when they are not. For CI and for developers alike:
#   bash .ci/services.sh
#
# Now: Mosquitto on 127.0.0.1:1883, NATS with JetStream on 4222, RabbitMQ on 5672
# and Redis on 6379 (tests call adaptertest.NeedService for each: under CI=true a
# missing one fails them), and promtool (the /metrics exposition tests run
# `promtool check metrics`), and Debian's chromium with chromium-driver (the status
# page's end-to-end test drives it over WebDriver).
# MQTT_PORT and MOSQUITTO_CONF override the port and the system config, to try
# this script beside a running broker.
set -euo pipefail

MQTT_PORT=${MQTT_PORT:-1883}
MOSQUITTO_CONF=${MOSQUITTO_CONF:-/etc/mosquitto/mosquitto.conf}

say() { printf 'services: %s\n' "$*"; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_port HOST PORT SECONDS
wait_port() {
	local i
	for ((i = 0; i < $3 * 5; i++)); do
		port_open "$1" "$2" && return 0
		sleep 0.2
	done
	return 1
}

# as_root CMD...: runs CMD as root (directly, or through passwordless sudo).
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		say "need root for: $*" >&2
		return 1
	fi
}

# conf_serves_loopback FILE: true when the Mosquitto config listens on
# MQTT_PORT on loopback (or all addresses) and lets anonymous clients in.
conf_serves_loopback() {
	[ -r "$1" ] || return 1
	grep -Eq "^[[:space:]]*listener[[:space:]]+${MQTT_PORT}([[:space:]]+(127\.0\.0\.1|localhost|0\.0\.0\.0))?[[:space:]]*$" "$1" &&
		grep -Eq '^[[:space:]]*allow_anonymous[[:space:]]+true' "$1"
}

ensure_mosquitto() {
	if port_open 127.0.0.1 "$MQTT_PORT"; then
		say "mosquitto: 127.0.0.1:$MQTT_PORT answers"
		return 0
	fi
	say "mosquitto: 127.0.0.1:$MQTT_PORT does not answer; starting it"

	if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
		say "mosquitto: not installed; installing Debian's package"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto
		# The package may have started it already.
		if wait_port 127.0.0.1 "$MQTT_PORT" 3; then
			say "mosquitto: 127.0.0.1:$MQTT_PORT answers"
			return 0
		fi
	fi
	local bin
	bin=$(command -v mosquitto 2>/dev/null || echo /usr/sbin/mosquitto)

	local conf=$MOSQUITTO_CONF
	if conf_serves_loopback "$conf"; then
		# The Debian config writes its pid and log under these.
		as_root install -d -o mosquitto -g mosquitto /run/mosquitto /var/log/mosquitto 2>/dev/null || true
		say "mosquitto: $bin -d -c $conf"
		as_root "$bin" -d -c "$conf" || true
		if wait_port 127.0.0.1 "$MQTT_PORT" 10; then
			say "mosquitto: 127.0.0.1:$MQTT_PORT answers"
			return 0
		fi
		say "mosquitto: did not come up with $conf; trying a minimal config"
	fi

	# A minimal loopback broker that keeps nothing on disk.
	local dir
	dir=$(mktemp -d /tmp/edgerelay-mosquitto.XXXXXX)
	cat >"$dir/mosquitto.conf" <<EOF
# Written by edgerelay's .ci/services.sh: a loopback broker for the tests.
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
pid_file $dir/mosquitto.pid
log_dest file $dir/mosquitto.log
EOF
	# Started as root, mosquitto drops to the mosquitto user: let it write its files.
	if [ "$(id -u)" = 0 ] && getent passwd mosquitto >/dev/null; then
		chown mosquitto "$dir"
	fi
	say "mosquitto: $bin -d -c $dir/mosquitto.conf"
	"$bin" -d -c "$dir/mosquitto.conf"
	if wait_port 127.0.0.1 "$MQTT_PORT" 10; then
		say "mosquitto: 127.0.0.1:$MQTT_PORT answers (log: $dir/mosquitto.log)"
		return 0
	fi
	say "mosquitto: 127.0.0.1:$MQTT_PORT still does not answer; log follows" >&2
	cat "$dir/mosquitto.log" >&2 2>/dev/null || true
	return 1
}

# ensure_promtool: puts promtool in /usr/local/bin unless one is in PATH. It comes from
# Debian's prometheus package, which is not installed: that would pull in 12 to 35
# packages (96 MB installed for prometheus alone, a web UI's JavaScript, and a
# prometheus service started on :9090). Instead the .deb (19 MB, about 2 s) is
# downloaded and only usr/bin/promtool (48 MB, about 2 s) is extracted from it.
ensure_promtool() {
	if command -v promtool >/dev/null 2>&1; then
		say "promtool: $(command -v promtool) ($(promtool --version 2>&1 | head -n1))"
		return 0
	fi
	say "promtool: missing; extracting it from Debian's prometheus package"
	local dir
	dir=$(mktemp -d /tmp/edgerelay-promtool.XXXXXX)
	chmod 755 "$dir" # apt-get download runs as _apt where it can
	if ! (cd "$dir" && apt-get download -q prometheus >/dev/null 2>&1); then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
		(cd "$dir" && apt-get download -q prometheus)
	fi
	dpkg-deb --fsys-tarfile "$dir"/prometheus_*.deb | tar -x -C "$dir" ./usr/bin/promtool
	as_root install -m 0755 "$dir/usr/bin/promtool" /usr/local/bin/promtool
	rm -rf "$dir"
	say "promtool: /usr/local/bin/promtool ($(/usr/local/bin/promtool --version 2>&1 | head -n1))"
}

# ensure_service NAME PORT PACKAGE BINARY START...: starts the service with START
# when nothing answers on 127.0.0.1:PORT, installing Debian's PACKAGE first when
# BINARY is missing; fails when it still does not answer.
ensure_service() {
	local name=$1 port=$2 pkg=$3 bin=$4
	shift 4
	if port_open 127.0.0.1 "$port"; then
		say "$name: 127.0.0.1:$port answers"
		return 0
	fi
	if [ ! -x "$bin" ] && ! command -v "$(basename "$bin")" >/dev/null 2>&1; then
		say "$name: not installed; installing Debian's $pkg"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg"
		if wait_port 127.0.0.1 "$port" 5; then
			say "$name: 127.0.0.1:$port answers"
			return 0
		fi
	fi
	say "$name: starting: $*"
	as_root "$@" || true
	if wait_port 127.0.0.1 "$port" 60; then
		say "$name: 127.0.0.1:$port answers"
		return 0
	fi
	say "$name: 127.0.0.1:$port still does not answer" >&2
	return 1
}

# ensure_chromium: the headless browser and its WebDriver for cmd/edgerelay
# TestStatusPageInChromium (apt-get install -y chromium chromium-driver).
ensure_chromium() {
	if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
		say "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
		return 0
	fi
	say "chromium: not installed; installing Debian's chromium and chromium-driver"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
}

ensure_mosquitto
ensure_chromium
ensure_service nats 4222 nats-server /usr/sbin/nats-server \
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
	-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
ensure_service redis 6379 redis-server /usr/bin/redis-server \
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
	--dir /tmp --logfile /tmp/edgerelay-redis.log
ensure_service rabbitmq 5672 rabbitmq-server /usr/sbin/rabbitmq-server rabbitmq-server -detached
ensure_promtool
