package adapters

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ilagent's reconnect backoff: 100, 200, 400 ms … 25.6 s, then 30 s.
func TestReconnectDelay(t *testing.T) {
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond,
		12800 * time.Millisecond, 25600 * time.Millisecond, 30 * time.Second, 30 * time.Second}
	for n, w := range want {
		require.Equal(t, w, ReconnectDelay(n), "n=%d", n)
	}
	require.Equal(t, 30*time.Second, ReconnectDelay(1000))
	require.Equal(t, 100*time.Millisecond, ReconnectDelay(-1))
}
