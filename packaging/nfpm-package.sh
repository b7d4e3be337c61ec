#!/bin/sh
# Builds one package with nfpm from packaging/nfpm.yaml; `make package` and
# .goreleaser.yaml's build hooks both call it, so the two give the same files.
# Run from the repository root after `make pkgdocs` (dist/share/).
# Usage: packaging/nfpm-package.sh NFPM FORMAT ARCH BINARY PKG_VERSION OUTDIR
#   FORMAT deb or ipk; ARCH the package manager's name (amd64, armhf, arm64;
#   mipsel_24kc, mips_24kc, arm_cortex-a7_neon-vfpv4, aarch64_cortex-a53,
#   aarch64_cortex-a72, x86_64); PKG_VERSION from packaging/version.sh.
set -eu
[ $# = 6 ] || { echo "usage: $0 NFPM FORMAT ARCH BINARY PKG_VERSION OUTDIR" >&2; exit 2; }
nfpm=$1 format=$2 arch=$3 binary=$4 version=$5 out=$6
[ -f dist/share/man/edgerelay.1.gz ] || { echo "$0: dist/share is missing: run make pkgdocs" >&2; exit 1; }
mkdir -p "$out"
echo "nfpm: $format $arch $version ($binary)"
PKG_VERSION=$version PKG_ARCH=$arch PKG_BINARY=$binary \
	"$nfpm" package --config packaging/nfpm.yaml --packager "$format" --target "$out/"
