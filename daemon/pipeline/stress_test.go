package pipeline_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// TestBurstThroughBacklogDeliversEachOnce pushes a burst far larger than a lane's
// memory through a healthy sink: the lane spills to the store and pages back, every
// event arrives exactly once (nothing crashed, so a duplicate is a bug) and in order
// per key. It caught a writer that could leave jobs waiting for a full batch, and a
// loader that could read an item just stored while it was still in memory.
func TestBurstThroughBacklogDeliversEachOnce(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := newPeer()
	h := start(t, db, 5*time.Millisecond, pipeline.Options{
		Sinks:    []pipeline.Sink{{Name: "a", Sink: sink, MaxInFlight: 8}},
		MemLimit: 64, MaxPending: 256,
	})
	const n = 20000
	done, errs := publish(t, h.p, n, 64)
	wait(t, done, "done callbacks")
	require.Zero(t, errs.Load())
	waitCount(t, "every event delivered", n, func() int { return len(sink.received()) })
	got := sink.received()
	require.Len(t, got, n, "duplicates without a crash")
	require.Len(t, checkOrder(t, got), n)
	waitFor(t, "outbox empty", func() bool { return pending(t, db, "a") == 0 })
}
