package buildinfo

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func parse(t *testing.T, s string) *debug.BuildInfo {
	t.Helper()
	bi, err := debug.ParseBuildInfo(s)
	require.NoError(t, err)
	return bi
}

// TestResolve: a plain `go build` gets its version and commit from the build
// information Go embeds; what the linker set (the Makefile's -X flags) wins.
func TestResolve(t *testing.T) {
	const rev = "a8efb72b86c5925a08030e15f374dfbb6695b6ac"
	stamped := "go\tgo1.26.8\npath\tgithub.com/edgerelay/edgerelay/cmd/edgerelay\n" +
		"mod\tgithub.com/edgerelay/edgerelay\tv0.0.0-20261202051631-a8efb72b86c5\t\n" +
		"build\tvcs=git\nbuild\tvcs.revision=" + rev + "\nbuild\tvcs.modified=false\n"
	dirty := "go\tgo1.26.8\npath\tgithub.com/edgerelay/edgerelay/cmd/edgerelay\n" +
		"mod\tgithub.com/edgerelay/edgerelay\tv0.0.0-20261202051631-a8efb72b86c5+dirty\t\n" +
		"build\tvcs=git\nbuild\tvcs.revision=" + rev + "\nbuild\tvcs.modified=true\n"
	devel := "go\tgo1.26.8\npath\tgithub.com/edgerelay/edgerelay/cmd/edgerelay\n" +
		"mod\tgithub.com/edgerelay/edgerelay\t(devel)\t\n" +
		"build\tvcs=git\nbuild\tvcs.revision=" + rev + "\nbuild\tvcs.modified=true\n"
	tagged := "go\tgo1.26.8\npath\tgithub.com/edgerelay/edgerelay/cmd/edgerelay\n" +
		"mod\tgithub.com/edgerelay/edgerelay\tv1.4.0\th1:abc=\n"
	none := "go\tgo1.26.8\npath\tgithub.com/edgerelay/edgerelay/cmd/edgerelay\n" +
		"mod\tgithub.com/edgerelay/edgerelay\t(devel)\t\n"
	tests := []struct {
		name                 string
		version, commit, bi  string
		wantVersion, wantCom string
	}{
		{"go build in a clean clone", unsetVersion, unsetCommit, stamped, "v0.0.0-20261202051631-a8efb72b86c5", "a8efb72b86c5"},
		{"go build with changes", unsetVersion, unsetCommit, dirty, "v0.0.0-20261202051631-a8efb72b86c5+dirty", "a8efb72b86c5-dirty"},
		{"old toolchain: (devel) with a revision", unsetVersion, unsetCommit, devel, "0.0.0-dev+a8efb72b86c5-dirty", "a8efb72b86c5-dirty"},
		{"go install of a tag", unsetVersion, unsetCommit, tagged, "v1.4.0", unsetCommit},
		{"no VCS information", unsetVersion, unsetCommit, none, unsetVersion, unsetCommit},
		{"make: the linker's values win", "v1.4.0-3-gabc1234", "abc1234", stamped, "v1.4.0-3-gabc1234", "abc1234"},
		{"only the version stamped", "v1.4.0", unsetCommit, stamped, "v1.4.0", "a8efb72b86c5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, c := resolve(tc.version, tc.commit, parse(t, tc.bi))
			require.Equal(t, tc.wantVersion, v)
			require.Equal(t, tc.wantCom, c)
		})
	}
	v, c := resolve(unsetVersion, unsetCommit, nil)
	require.Equal(t, unsetVersion, v, "no build information at all")
	require.Equal(t, unsetCommit, c)
}
