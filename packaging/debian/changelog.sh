#!/bin/sh
# Writes the package's Debian changelog (packaging/debian/changelog) for one build:
# the version being packaged, dated $SOURCE_DATE_EPOCH (RFC 5322, as dpkg wants).
# VERSION is packaging/version.sh's; a pre-release (0.0.0-git.3f2a1bc) is written
# 0.0.0~git.3f2a1bc, as nfpm writes it into the .deb's Version field.
# Usage: packaging/debian/changelog.sh VERSION
set -eu
version=$(printf '%s\n' "$1" | sed 's/^\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\)-/\1~/')
date=$(LC_ALL=C date -u -d "@${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH is not set}" '+%a, %d %b %Y %H:%M:%S +0000')
sed -e "s/@VERSION@/$version/" -e "s/@DATE@/$date/" "$(dirname "$0")/changelog"
