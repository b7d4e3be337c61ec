#!/bin/sh
# Turns `git describe --tags --always --dirty` output into a package version that
# dpkg, opkg and nfpm's semver parsing all accept, and that sorts sensibly:
#   v1.2.3                  -> 1.2.3
#   v1.2.3-4-g3f2a1bc       -> 1.2.3+4.g3f2a1bc       (after 1.2.3)
#   v1.2.3-4-g3f2a1bc-dirty -> 1.2.3+4.g3f2a1bc.dirty
#   3f2a1bc (no tag yet)    -> 0.0.0-git.3f2a1bc      (before 0.0.0)
#   0.0.0-dev               -> 0.0.0-dev
# Usage: packaging/version.sh VERSION
set -eu
v=${1#v}
dirty=
case $v in *-dirty) dirty=1 v=${v%-dirty} ;; esac
case $v in *.*) ;; *) v=0.0.0-git.$v ;; esac
v=$(printf '%s\n' "$v" | sed 's/-\([0-9][0-9]*\)-g\([0-9a-f][0-9a-f]*\)$/+\1.g\2/')
if [ -n "$dirty" ]; then
	case $v in *+*) v=$v.dirty ;; *) v=$v+dirty ;; esac
fi
printf '%s\n' "$v"
