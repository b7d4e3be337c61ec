package pipeline_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// slowPeer takes a little time per send, like a real HTTP peer.
type slowPeer struct {
	*peer
	d time.Duration
}

func (s slowPeer) Send(ctx context.Context, e *adapters.Event) error {
	time.Sleep(s.d)
	return s.peer.Send(ctx, e)
}

// TestDeliverWindowSparesTheStore: with a healthy sink, a burst that is delivered
// within the deliver window is never written, although the commit window is short.
// It runs in a synctest bubble: the commit windows close many times during the burst
// while the sink's sends take their (virtual) time, and a loaded machine cannot
// stretch the burst past the deliver window.
func TestDeliverWindowSparesTheStore(t *testing.T) {
	synctest.Test(t, testDeliverWindowSparesTheStore)
}

func testDeliverWindowSparesTheStore(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := slowPeer{newPeer(), 200 * time.Microsecond}
	h := start(t, db, 2*time.Millisecond, pipeline.Options{
		Sinks:         []pipeline.Sink{{Name: "a", Sink: sink, MaxInFlight: 8}},
		MaxPending:    256,
		DeliverWindow: time.Second,
	})
	waitFor(t, "the sink to connect", func() bool { return h.p.Status()[0].Connected })
	before := db.Counters()
	const n = 5000
	done, errs := publish(t, h.p, n, 64)
	wait(t, done, "done callbacks")
	require.Zero(t, errs.Load())
	after := db.Counters()
	t.Logf("%d events: %d commits, %d bytes written", n, after.Commits-before.Commits, after.BytesWritten-before.BytesWritten)
	require.Less(t, after.Commits-before.Commits, uint64(5), "a healthy burst must not be written")
	require.Len(t, checkOrder(t, sink.received()), n)
}

// TestDeliverWindowKeepsStoreOrder: the sink fails in the middle of a burst, so some
// events were held back as deliverable and must now be written. Per key, the outbox
// (what a restart replays) must still be in publish order.
func TestDeliverWindowKeepsStoreOrder(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := slowPeer{newPeer(), 100 * time.Microsecond}
	var sent atomic.Int64
	sink.setFail(func(*adapters.Event) error {
		if sent.Add(1) > 300 {
			return errors.New("503 service unavailable")
		}
		return nil
	})
	h := start(t, db, 2*time.Millisecond, pipeline.Options{
		Sinks:         []pipeline.Sink{{Name: "a", Sink: sink, MaxInFlight: 4, Retry: pipeline.Retry{Initial: time.Hour}}},
		MaxPending:    128,
		DeliverWindow: 300 * time.Millisecond,
	})
	const n = 2000
	done, errs := publish(t, h.p, n, 8)
	wait(t, done, "done callbacks: every event delivered or stored")
	require.Zero(t, errs.Load())
	h.cancel()

	last := map[string]string{}
	stored := 0
	require.NoError(t, db.Scan("a", 0, 0, func(e store.Entry) error {
		var ev adapters.Event
		require.NoError(t, ev.UnmarshalBinary(e.Data))
		require.Greater(t, ev.ID, last[ev.Key], "key %s: %s stored after %s", ev.Key, ev.ID, last[ev.Key])
		last[ev.Key] = ev.ID
		stored++
		return nil
	}))
	delivered := len(uniq(sink.received()))
	t.Logf("%d delivered, %d stored", delivered, stored)
	require.Equal(t, n, delivered+stored)
}
