// Package buildinfo holds what the linker stamps into the binary (-X flags from the
// Makefile) and what the runtime knows about the build.
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
