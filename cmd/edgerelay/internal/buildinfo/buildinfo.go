// Package buildinfo holds what the linker stamps into the binary (-X flags from the
// Makefile) and what the runtime knows about the build.
//
// Version and Commit come from the linker when the Makefile builds the binary. A
// plain `go build` (or `go install`) sets neither; they then come from the build
// information the Go toolchain embeds: the module version (a tag or a pseudo-version
// with the commit in it) and vcs.revision, with "-dirty" when vcs.modified says the
// work tree had changes. Only when that is missing too (a test binary, a build with
// -buildvcs=false outside a module version) do they stay 0.0.0-dev and unknown.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set by -ldflags "-X …/buildinfo.Version=… -X …/buildinfo.Commit=…".
var (
	Version = "0.0.0-dev"
	Commit  = "unknown"
)

// The values Version and Commit have when the linker did not set them.
const (
	unsetVersion = "0.0.0-dev"
	unsetCommit  = "unknown"
)

func init() {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	Version, Commit = resolve(Version, Commit, bi)
}

// resolve fills the version and commit the linker left unset from bi (nil when the
// binary carries no build information). A value the linker set always wins.
func resolve(version, commit string, bi *debug.BuildInfo) (string, string) {
	if bi == nil {
		return version, commit
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if commit == unsetCommit && rev != "" {
		commit = rev
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if modified {
			commit += "-dirty"
		}
	}
	if version == unsetVersion {
		switch v := bi.Main.Version; {
		case v != "" && v != "(devel)":
			// A tag (v1.2.3) or a pseudo-version; Go 1.24 and later derive one from
			// the commit for a build in the repository, with +dirty for changes.
			version = v
		case commit != unsetCommit:
			version = unsetVersion + "+" + commit
		}
	}
	return version, commit
}

// GOARM returns the GOARM (or GOMIPS, GOAMD64) level the binary was built for, from
// the build settings the Go toolchain records.
func GOARM() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOARM", "GOMIPS", "GOAMD64", "GOARM64":
			return s.Key + "=" + s.Value
		}
	}
	return ""
}

// Platform is GOOS/GOARCH plus the sub-architecture level.
func Platform() string {
	p := runtime.GOOS + "/" + runtime.GOARCH
	if v := GOARM(); v != "" {
		p += " (" + v + ")"
	}
	return p
}
