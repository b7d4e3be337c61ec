package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// clockJob is a deferJob whose Done records the fake time it was called at.
type clockJob struct {
	*deferJob
	clk    *clocktest.Fake
	doneAt atomic.Pointer[time.Time]
}

func (j *clockJob) Done(err error) {
	now := j.clk.Now()
	j.doneAt.Store(&now)
	j.deferJob.Done(err)
}

// waitNext waits until the earliest timer armed on clk is due at want.
func waitNext(t *testing.T, clk *clocktest.Fake, want time.Time, what string) {
	t.Helper()
	require.Eventually(t, func() bool { next, ok := clk.Next(); return ok && next.Equal(want) },
		10*time.Second, time.Millisecond, "%s: the next timer is not due at %s", what, want)
}

// TestWriterWindowsFollowTheClock: the commit window, a deferred job's wait and the
// idle progress report are timed by the writer's Clock, not by wall time. The fake
// clock moves only when the test advances it, so each job's Done, stamped with the
// fake time, shows exactly which timer committed it.
func TestWriterWindowsFollowTheClock(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktest.NewFake(t0)
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{Window: 5 * time.Millisecond, Clock: clk})
	startWriter(t, w)
	waitNext(t, clk, t0.Add(time.Second), "idle")

	// A job opens a window of 5ms on the clock and is committed when it closes.
	a := &clockJob{deferJob: &deferJob{putJob: newPutJob("s", "a")}, clk: clk}
	require.NoError(t, w.Submit(context.Background(), a))
	waitNext(t, clk, t0.Add(5*time.Millisecond), "commit window")
	clk.Advance(4 * time.Millisecond)
	clk.Advance(time.Millisecond)
	require.NoError(t, a.wait(t))
	require.Equal(t, t0.Add(5*time.Millisecond), *a.doneAt.Load(), "committed when the window closed")

	// A job deferring for 500ms waits past its first window, for the time it asked.
	until := clk.Now().Add(500 * time.Millisecond)
	b := &clockJob{deferJob: &deferJob{putJob: newPutJob("s", "b"), until: until}, clk: clk}
	require.NoError(t, w.Submit(context.Background(), b))
	waitNext(t, clk, clk.Now().Add(5*time.Millisecond), "commit window")
	clk.Advance(5 * time.Millisecond)
	waitNext(t, clk, until, "deferral")
	require.Zero(t, b.prepared.Load(), "deferred past its window")
	clk.AdvanceTo(until)
	require.NoError(t, b.wait(t))
	require.Equal(t, until, *b.doneAt.Load(), "committed when its deferral ended")

	// Idle, the writer reports progress on the clock's ticker.
	clk.AdvanceTo(t0.Add(time.Second))
	require.Eventually(t, func() bool { return w.LastProgress().Equal(t0.Add(time.Second)) },
		10*time.Second, time.Millisecond, "idle progress at the fake time")
	require.Equal(t, []string{"a", "b"}, scanData(t, db, "s"))
}

func scanData(t *testing.T, db *store.DB, sink string) []string {
	t.Helper()
	var got []string
	require.NoError(t, db.Scan(sink, 0, 0, func(e store.Entry) error { got = append(got, string(e.Data)); return nil }))
	return got
}
