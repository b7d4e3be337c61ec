package fakehttp

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"*", "/api/v1/events/mqtt/k", true},
		{"/alert/*/action", "/alert/abc/action", true},
		{"/alert/*", "/alert/abc/action", false},
		{"[", "/alert", false},
	} {
		require.Equal(t, tc.want, Match(tc.pattern, tc.path), "%q ~ %q", tc.pattern, tc.path)
	}
}

func TestQueueTakesInOrderAndCounts(t *testing.T) {
	var q Queue[int]
	q.Add("/a", 2, 1)
	q.Add("*", 1, 2)
	got := []int{}
	for _, p := range []string{"/b", "/a", "/a", "/a", "/a"} {
		if v, ok := q.Take(p); ok {
			got = append(got, v)
		} else {
			got = append(got, 0)
		}
	}
	// "/b" takes the "*" fault, the two "/a" faults follow, then the queue is empty.
	require.Equal(t, []int{2, 1, 1, 0, 0}, got)
	q.Add("*", 1, 3)
	q.Reset()
	_, ok := q.Take("/a")
	require.False(t, ok)
}
