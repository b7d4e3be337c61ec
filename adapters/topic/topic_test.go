package topic

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/x/d", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"+", "a", true},
		{"+", "", true},
		{"+", "a/b", false},
		{"a/+", "a/", true},
		{"/+", "/x", true},
		{"a", "a/b", false},
		{"a/b", "a", false},
		{"$share/g/a/+", "a/b", true},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, Match(tc.filter, tc.topic), "%s vs %s", tc.filter, tc.topic)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		filter string
		ok     bool
	}{
		{"a/+/#", true},
		{"#", true},
		{"$share/g/a/#", true},
		{"", false},
		{"a/#/b", false},
		{"a/b+", false},
		{"a/#b", false},
		{"$share/g", false},
		{"$share//a", false},
		{"$share/g+/a", false},
		{"a\x00b", false},
	}
	for _, tc := range cases {
		err := Validate(tc.filter)
		require.Equal(t, tc.ok, err == nil, "%q: %v", tc.filter, err)
	}
	require.Equal(t, "a/+", Unshare("$share/g/a/+"))
	require.Equal(t, "a/+", Unshare("a/+"))
}
