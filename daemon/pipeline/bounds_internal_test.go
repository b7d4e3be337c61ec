package pipeline

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
)

// TestEventSizeEstimate: the room check's estimate is never below the encoding and
// at most a few dozen bytes above it.
func TestEventSizeEstimate(t *testing.T) {
	for _, e := range []*adapters.Event{
		{},
		{ID: "x", Kind: "alert", Key: "k", Source: "s", Topic: "a/b", Payload: []byte(`{}`)},
		{ID: strings.Repeat("i", 300), Topic: strings.Repeat("t", 70000), Payload: make([]byte, 1<<20),
			Attrs: map[string]string{"a": "b", strings.Repeat("k", 200): strings.Repeat("v", 20000)}},
	} {
		b, err := e.MarshalBinary()
		require.NoError(t, err)
		got := eventSize(e)
		require.GreaterOrEqual(t, got, int64(len(b)))
		require.LessOrEqual(t, got, int64(len(b))+48)
	}
}
