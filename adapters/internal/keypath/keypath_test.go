package keypath

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		path, payload, want string
	}{
		{"", `{"id":"x"}`, "fb"},
		{"id", `{"id":"x"}`, "x"},
		{"id", `{"id":7}`, "7"},
		{"a.b", `{"a":{"b":"deep"}}`, "deep"},
		{"id", `not json`, "fb"},
		{"id", `{"id":""}`, "fb"},
		{"id", `{}`, "fb"},
	} {
		require.Equal(t, tc.want, Key(tc.path, "fb", []byte(tc.payload)), "path %q payload %s", tc.path, tc.payload)
	}
}
