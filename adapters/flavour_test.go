package adapters

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOmitted(t *testing.T) {
	require.NoError(t, NotBuiltIn(DirSink, "flavour_test_sink"), "not omitted: no such error")
	RegisterOmitted(DirSink, "flavour_test_sink", "edgerelay_omit_flavour_test")
	RegisterOmitted(DirSource, "flavour_test_source", "edgerelay_omit_flavour_test")

	tag, ok := Omitted(DirSink, "flavour_test_sink")
	require.True(t, ok)
	require.Equal(t, "edgerelay_omit_flavour_test", tag)
	_, ok = Omitted(DirSource, "flavour_test_sink")
	require.False(t, ok, "omission is per direction")
	require.Contains(t, OmitTags(), "edgerelay_omit_flavour_test")
	require.Equal(t, 1, countOf(OmitTags(), "edgerelay_omit_flavour_test"), "each tag listed once")
	require.EqualError(t, NotBuiltIn(DirSource, "flavour_test_source"),
		"this edgerelay was built without the flavour_test_source source (build tag edgerelay_omit_flavour_test); use a build that includes it")
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
