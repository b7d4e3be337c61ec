package clock_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/clock"
)

// TestSleep: Sleep waits its duration on the clock, or returns early when ctx ends.
// Real inside a synctest bubble runs on the bubble's virtual time.
func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := clock.Real.Now()
		require.True(t, clock.Sleep(context.Background(), clock.Real, time.Minute))
		require.Equal(t, time.Minute, clock.Real.Since(start))

		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		require.False(t, clock.Sleep(ctx, clock.Or(nil), time.Hour))
		require.Equal(t, time.Minute+time.Second, clock.Real.Since(start))
	})
}
