package pipeline_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// TestRetryBackoffFollowsTheClock: a failing event is retried on the pipeline's
// Clock, at the times its backoff schedule gives (doubling from Initial up to Max,
// less at most the jitter), and at no other time. The fake clock moves only when the
// test advances it to the lane's armed timer, so every send is stamped with the
// exact instant that caused it; 15 s of backoff take no wall time.
func TestRetryBackoffFollowsTheClock(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktest.NewFake(t0)
	db := storetest.MustOpen(t)
	sink := newPeer()
	var mu sync.Mutex // guards sentAt
	var sentAt []time.Time
	const failures = 5
	sink.setFail(func(*adapters.Event) error {
		mu.Lock()
		defer mu.Unlock()
		sentAt = append(sentAt, clk.Now())
		if len(sentAt) <= failures {
			return errors.New("503 service unavailable")
		}
		return nil
	})
	sends := func() []time.Time { mu.Lock(); defer mu.Unlock(); return append([]time.Time(nil), sentAt...) }
	retry := pipeline.Retry{Initial: time.Second, Max: 4 * time.Second, Jitter: 0.3}
	h := start(t, db, time.Millisecond, pipeline.Options{
		Sinks: []pipeline.Sink{{Name: "a", Sink: sink, Retry: retry}},
		Clock: clk,
	})
	done, errs := publish(t, h.p, 1, 1)

	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, full := range want {
		waitFor(t, "a send", func() bool { return len(sends()) == i+1 })
		failedAt := sends()[i]
		require.Equal(t, clk.Now(), failedAt, "send %d happened at the time the clock was moved to", i+1)
		// Only the lane's retry timer runs on this clock: the one before it fired
		// and caused this send, so an armed timer is the next retry.
		var next time.Time
		waitFor(t, "the retry timer", func() bool { var ok bool; next, ok = clk.Next(); return ok })
		gap := next.Sub(failedAt)
		require.LessOrEqual(t, gap, full, "retry %d", i+1)
		require.GreaterOrEqual(t, gap, time.Duration(float64(full)*(1-retry.Jitter)), "retry %d", i+1)
		clk.AdvanceTo(next)
	}
	waitFor(t, "the delivery", func() bool { return len(sink.received()) == 1 })
	wait(t, done, "done callback")
	require.Zero(t, errs.Load())
	require.Len(t, sends(), failures+1)
}
