package text

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCutAndBound(t *testing.T) {
	for _, tc := range []struct {
		s        string
		n        int
		cut, bnd string
	}{
		{"abc", 3, "abc", "abc"},
		{"abcdef", 4, "abcd", "a…"},
		{"aé", 2, "a", "…"}, // no room for a character and the mark
		{"ééé", 5, "éé", "é…"},
		{"abc", -1, "", "…"},
	} {
		require.Equal(t, tc.cut, Cut(tc.s, tc.n), "Cut(%q, %d)", tc.s, tc.n)
		require.Equal(t, tc.bnd, Bound(tc.s, tc.n), "Bound(%q, %d)", tc.s, tc.n)
	}
}
