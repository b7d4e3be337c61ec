#!/usr/bin/env bash
# Installs the amd64 .deb in a clean Debian root and walks it through a package's
# life, the way an administrator (or an image build) would, with no systemd as
# PID 1 and stdin closed so that any dpkg prompt fails the test:
#   1. debootstrap --variant=minbase bookworm into a fresh directory, from the
#      mirror this machine's apt uses;
#   2. dpkg -i, the Depends installed first where the root lacks them (bookworm's
#      minbase has adduser); edgerelay version; edgerelay config check without -c
#      checks /etc/edgerelay/edgerelay.yaml (as root and as the service user);
#      the user, the state directory, the config's 0640 root:edgerelay, the unit
#      enabled by deb-systemd-helper and nothing started;
#   3. the conffile edited locally, then a second build with a higher version
#      installed over the first: no conffile prompt, no .dpkg-* files, the edit
#      and the config's mode kept;
#   4. dpkg -r: binary and unit gone; conffiles, queue directory and user kept;
#      then installed again over the kept conffiles (no prompt, the unit enabled
#      again) and removed again;
#   5. dpkg -P: every file the package or its scripts made is gone (a listing of
#      the root before step 2 and after this one match) except the edgerelay
#      user and group, which stay on purpose (docs/packaging.md).
# The debootstrap tarball lives in the run's scratch directory and goes with it:
# every run starts from the mirror. DEB_TEST_TARBALL=FILE keeps one across runs
# on a developer's machine (made when FILE is missing, reused when present).
# Needs root (debootstrap, chroot, mount); installs debootstrap when missing.
#   bash .ci/deb-install-test.sh [DEB]   (default: dist/packages/edgerelay_*_amd64.deb)
# Environment: DEB_TEST_MIRROR (default: the first Debian URI in /etc/apt/sources*),
# DEB_TEST_SUITE (bookworm), DEB_TEST_KEEP=1 leaves the root for a look afterwards,
# DEB_TEST_PREINSTALL="systemd" installs packages in the root first (with systemd
# there, postinst creates the user with systemd-sysusers instead of adduser).
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null
t0=$(date +%s)

say() { printf 'deb-install-test: %s\n' "$*"; }
fail() {
	say "FAIL: $*" >&2
	exit 1
}

deb=${1:-}
if [ -z "$deb" ]; then
	deb=$(compgen -G 'dist/packages/edgerelay_*_amd64.deb' | head -1 || true)
	[ -n "$deb" ] || fail "no dist/packages/edgerelay_*_amd64.deb: run make package first"
fi
[ -f "$deb" ] || fail "$deb does not exist"
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot and mount); run it with sudo"
[ "$(uname -m)" = x86_64 ] || fail "the amd64 package needs an x86_64 machine, this is $(uname -m)"

if ! command -v debootstrap >/dev/null 2>&1; then
	say "installing debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
fi

suite=${DEB_TEST_SUITE:-bookworm}
# The Debian archive this machine's apt uses (deb822 .sources or one-line .list).
mirror=${DEB_TEST_MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
fi
if [ -z "$mirror" ]; then
	mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*\/debian\/?$/) { print $i; exit } }')
fi
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d /tmp/edgerelay-deb-test.XXXXXX)
root=$work/root
# Unmounts what this script mounted, then deletes the scratch directory; never
# deletes anything while a mount is still inside it.
cleanup() {
	local rc=$?
	if mountpoint -q "$root/proc" 2>/dev/null; then
		umount "$root/proc" || umount -l "$root/proc" || true
	fi
	if grep -q " $work/" /proc/mounts; then
		say "not deleting $work: something is still mounted inside it" >&2
	elif [ "${DEB_TEST_KEEP:-}" = 1 ]; then
		say "kept the root in $root (DEB_TEST_KEEP=1)"
	else
		rm -rf --one-file-system "$work"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. A clean Debian root.
tarball=${DEB_TEST_TARBALL:-$work/debootstrap-$suite.tgz}
t=$(date +%s)
if [ ! -f "$tarball" ]; then
	say "debootstrap --make-tarball $suite from $mirror"
	debootstrap --variant=minbase --make-tarball="$tarball" "$suite" "$work/tarball-build" "$mirror" >"$work/debootstrap.log" 2>&1 ||
		{ tail -20 "$work/debootstrap.log" >&2; fail "debootstrap --make-tarball failed"; }
	rm -rf --one-file-system "$work/tarball-build"
fi
say "debootstrap --variant=minbase $suite into $root"
debootstrap --variant=minbase --unpack-tarball="$(realpath "$tarball")" "$suite" "$root" "$mirror" >>"$work/debootstrap.log" 2>&1 ||
	{ tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
say "clean $suite root in $(($(date +%s) - t))s ($(du -sh --one-file-system "$root" | cut -f1))"
mount -t proc proc "$root/proc"
[ ! -e "$root/run/systemd/system" ] || fail "$root/run/systemd/system exists: the root is not systemd-free"

# in_root CMD...: runs CMD in the root with a clean environment and no stdin.
in_root() {
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@" </dev/null
}
# snapshot FILE: every path in the root with its type, mode and owner, less the
# package database, logs, /run (a tmpfs on a booted system: adduser leaves its
# lock there) and the account files (the user stays by design). Owners numeric:
# the names would be looked up on this machine, not in the root.
snapshot() {
	(cd "$root" && find . -xdev \( -path ./proc -o -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache/debconf -o -path ./tmp -o -path ./run \) -prune -o -printf '%y %m %U:%G %p\n') |
		grep -Ev ' \./etc/(passwd|group|shadow|gshadow|subuid|subgid)-?$' | sort >"$1"
}
# conffile_prompted LOG: true when dpkg offered a conffile choice.
conffile_prompted() { grep -Eqi "configuration file .*(modified|installed)|\\*\\*\\* .* \\(Y/I/N/O/D/Z\\)" "$1"; }
# no_dpkg_leftovers: no .dpkg-old/.dpkg-dist/.dpkg-new beside the conffiles.
no_dpkg_leftovers() {
	local left
	left=$(cd "$root" && find etc/edgerelay etc/default -name '*.dpkg-*' 2>/dev/null || true)
	[ -z "$left" ] || fail "$1: dpkg left $left"
}

pkgfile=$(basename "$deb")
cp "$deb" "$root/tmp/$pkgfile"
version=$(dpkg-deb -f "$deb" Version)
# A second build, one version up: the same files, repacked with a higher Version.
upversion=$version+1
dpkg --compare-versions "$upversion" gt "$version" || fail "$upversion does not sort after $version"
dpkg-deb -R "$deb" "$work/up"
sed -i "s/^Version: .*/Version: $upversion/" "$work/up/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz -b "$work/up" "$root/tmp/edgerelay_${upversion}_amd64.deb" >/dev/null
rm -rf "$work/up"

# The package's Depends the root lacks (the first of each set of alternatives)
# are installed from the mirror first, so that dpkg -i can succeed on a suite
# whose minbase has less than bookworm's.
preinstall=${DEB_TEST_PREINSTALL:-}
for dep in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//' | tr -d ' '); do
	in_root dpkg-query -W -f '${db:Status-Abbrev}' "$dep" 2>/dev/null | grep -q '^ii' || preinstall="$preinstall $dep"
done
if [ -n "${preinstall# }" ]; then
	DEB_TEST_PREINSTALL=${preinstall# }
	say "apt-get install $DEB_TEST_PREINSTALL in the root"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	echo "deb $mirror $suite main" >"$root/etc/apt/sources.list"
	# shellcheck disable=SC2086 # a list of packages
	{ in_root apt-get update -q && in_root apt-get install -y -q --no-install-recommends $DEB_TEST_PREINSTALL; } >"$work/preinstall.log" 2>&1 ||
		{ tail -20 "$work/preinstall.log" >&2; fail "apt-get install $DEB_TEST_PREINSTALL"; }
fi
snapshot "$work/before"

# 2. Install.
say "dpkg -i $pkgfile ($version)"
in_root dpkg -i "/tmp/$pkgfile" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "dpkg -i failed"; }
cat "$work/install.log"
[ "$(in_root dpkg-query -W -f '${db:Status-Abbrev}' edgerelay)" = "ii " ] || fail "edgerelay is not installed (ii) after dpkg -i"
in_root edgerelay version || fail "edgerelay version"
out=$(in_root sh -c 'cd /tmp && edgerelay config check' 2>&1) || { printf '%s\n' "$out" >&2; fail "edgerelay config check (as root)"; }
printf '%s\n' "$out"
grep -q '/etc/edgerelay/edgerelay.yaml' <<<"$out" || fail "edgerelay config check does not say it checked /etc/edgerelay/edgerelay.yaml"
[ ! -e "$root/tmp/edgerelay-state" ] || fail "edgerelay config check created ./edgerelay-state"
in_root runuser -u edgerelay -- edgerelay config check >/dev/null 2>&1 || fail "edgerelay config check as user edgerelay (can it read the config?)"
in_root getent passwd edgerelay >/dev/null || fail "postinst did not create the edgerelay user"
shell=$(in_root getent passwd edgerelay | cut -d: -f7)
case $shell in */nologin | */false) ;; *) fail "the edgerelay user has login shell $shell" ;; esac
[ "$(in_root stat -c '%a %U:%G' "/etc/edgerelay/edgerelay.yaml")" = "640 root:edgerelay" ] ||
	fail "/etc/edgerelay/edgerelay.yaml is $(in_root stat -c '%a %U:%G' "/etc/edgerelay/edgerelay.yaml"), want 640 root:edgerelay"
[ "$(in_root stat -c '%a %U:%G' "/var/lib/edgerelay")" = "750 edgerelay:edgerelay" ] ||
	fail "/var/lib/edgerelay is $(in_root stat -c '%a %U:%G' "/var/lib/edgerelay" 2>&1), want 750 edgerelay:edgerelay"
[ -L "$root/etc/systemd/system/multi-user.target.wants/edgerelay.service" ] ||
	fail "the unit is not enabled (no multi-user.target.wants/edgerelay.service)"
for p in /proc/[0-9]*; do
	[ "$(readlink "$p/root" 2>/dev/null)" != "$root" ] || fail "a maintainer script left a process running in the root: $(tr '\0' ' ' <"$p/cmdline")"
done
say "installed: user edgerelay, /var/lib/edgerelay 0750, config 0640 root:edgerelay, unit enabled, nothing started"

# 3. A local edit, then an upgrade over it.
sed -i 's/^\(  level:\) info/\1 debug/' "$root/etc/edgerelay/edgerelay.yaml"
printf '# local edit kept across upgrades\n' >>"$root/etc/edgerelay/edgerelay.yaml"
grep -q '^  level: debug' "$root/etc/edgerelay/edgerelay.yaml" || fail "could not edit the conffile (no '  level: info' line?)"
sum=$(sha256sum <"$root/etc/edgerelay/edgerelay.yaml")
printf 'EDGERELAY_OPTS=\nGOMEMLIMIT=64MiB\n' >"$root/etc/default/edgerelay"
in_root edgerelay config check >/dev/null 2>&1 || fail "config check fails on the edited conffile"
say "dpkg -i edgerelay_${upversion}_amd64.deb over $version, conffiles edited"
in_root dpkg -i "/tmp/edgerelay_${upversion}_amd64.deb" >"$work/upgrade.log" 2>&1 || {
	cat "$work/upgrade.log" >&2
	fail "the upgrade failed (a conffile prompt on a closed stdin fails like this)"
}
cat "$work/upgrade.log"
! conffile_prompted "$work/upgrade.log" || fail "dpkg asked about a conffile on upgrade"
no_dpkg_leftovers upgrade
[ "$(in_root dpkg-query -W -f '${Version} ${db:Status-Abbrev}' edgerelay)" = "$upversion ii " ] || fail "$upversion is not installed after the upgrade"
[ "$(sha256sum <"$root/etc/edgerelay/edgerelay.yaml")" = "$sum" ] || fail "the upgrade changed the edited /etc/edgerelay/edgerelay.yaml"
grep -qx 'GOMEMLIMIT=64MiB' "$root/etc/default/edgerelay" || fail "the upgrade lost the edit to /etc/default/edgerelay"
[ "$(in_root stat -c '%a %U:%G' "/etc/edgerelay/edgerelay.yaml")" = "640 root:edgerelay" ] || fail "the upgrade changed the config's mode or owner"
out=$(in_root edgerelay config check 2>&1) || { printf '%s\n' "$out" >&2; fail "config check after the upgrade"; }
say "upgraded: no prompt, both edits kept, mode kept"

# 4. Remove: the program goes, the configuration and the queue stay.
say "dpkg -r edgerelay"
in_root dpkg -r edgerelay >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; fail "dpkg -r failed"; }
cat "$work/remove.log"
[ "$(in_root dpkg-query -W -f '${db:Status-Abbrev}' edgerelay)" = "rc " ] || fail "edgerelay is not in state rc (removed, config-files) after dpkg -r"
[ ! -e "$root/usr/bin/edgerelay" ] || fail "dpkg -r left /usr/bin/edgerelay"
[ ! -e "$root/lib/systemd/system/edgerelay.service" ] || fail "dpkg -r left the unit"
[ "$(sha256sum <"$root/etc/edgerelay/edgerelay.yaml")" = "$sum" ] || fail "dpkg -r did not keep the edited conffile"
[ -f "$root/etc/default/edgerelay" ] || fail "dpkg -r removed /etc/default/edgerelay"
[ -d "$root/var/lib/edgerelay" ] || fail "dpkg -r removed the queue directory /var/lib/edgerelay"
in_root getent passwd edgerelay >/dev/null || fail "dpkg -r removed the edgerelay user"
say "removed: binary and unit gone, conffiles and /var/lib/edgerelay kept"

# 4b. Reinstall over the kept conffiles: dpkg configures it like an upgrade (the
# old version as $2); the unit comes back enabled (postinst, when systemd runs,
# restarts it: deb-systemd-invoke restart starts an enabled, stopped unit).
say "dpkg -i edgerelay_${upversion}_amd64.deb after dpkg -r"
in_root dpkg -i "/tmp/edgerelay_${upversion}_amd64.deb" >"$work/reinstall.log" 2>&1 || {
	cat "$work/reinstall.log" >&2
	fail "the reinstall after dpkg -r failed"
}
! conffile_prompted "$work/reinstall.log" || fail "dpkg asked about a conffile on the reinstall"
no_dpkg_leftovers reinstall
[ "$(sha256sum <"$root/etc/edgerelay/edgerelay.yaml")" = "$sum" ] || fail "the reinstall changed the edited conffile"
[ -L "$root/etc/systemd/system/multi-user.target.wants/edgerelay.service" ] ||
	fail "the unit is not enabled again after dpkg -r and a reinstall"
in_root dpkg -r edgerelay >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; fail "dpkg -r (after the reinstall) failed"; }
say "reinstalled after dpkg -r: no prompt, edit kept, unit enabled again; removed again"

# 5. Purge: everything the package made is gone, the user excepted.
say "dpkg -P edgerelay"
in_root dpkg -P edgerelay >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg -P failed"; }
cat "$work/purge.log"
[ -z "$(in_root dpkg-query -W -f '${db:Status-Abbrev}' edgerelay 2>/dev/null || true)" ] || fail "dpkg still knows edgerelay after dpkg -P"
for p in /etc/edgerelay /var/lib/edgerelay /etc/default/edgerelay /etc/systemd/system/edgerelay.service.d; do
	[ ! -e "$root$p" ] || fail "dpkg -P left $p"
done
! in_root dpkg-statoverride --list /etc/edgerelay/edgerelay.yaml >/dev/null || fail "dpkg -P left the dpkg-statoverride"
snapshot "$work/after"
if ! diff -u "$work/before" "$work/after" >"$work/purge.diff"; then
	cat "$work/purge.diff" >&2
	fail "the root differs before dpkg -i and after dpkg -P (- before, + after)"
fi
in_root getent passwd edgerelay >/dev/null || fail "the edgerelay user was deleted (it should stay, docs/packaging.md)"
say "purged: the root is as before the install, but for the edgerelay user and group (kept by design)"
say "ok: install, upgrade, remove, purge of $pkgfile in a clean $suite root in $(($(date +%s) - t0))s"
