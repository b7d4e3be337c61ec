package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// TestOversizeKeepsABoundedPrefix publishes payloads over MaxEventBytes: the dead
// letter in @rejected holds the event's identity, the first RejectPrefixBytes of the
// payload and its original size, never the whole payload, and the source is told
// DeadLettered (so it acknowledges and the publisher does not resend).
func TestOversizeKeepsABoundedPrefix(t *testing.T) {
	for _, size := range []int{1025, 5000, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			db := storetest.MustOpen(t)
			sink := newPeer()
			h := start(t, db, time.Millisecond, pipeline.Options{
				Sinks: []pipeline.Sink{{Name: "a", Sink: sink}}, MaxEventBytes: 1024,
			})
			payload := []byte(strings.Repeat("p", size))
			ev := &adapters.Event{ID: "big", Key: "k", Topic: strings.Repeat("t", 1000), Payload: payload,
				Attrs: map[string]string{"header.X": strings.Repeat("a", 5000)}}
			var got adapters.Settlement
			done := make(chan struct{})
			require.NoError(t, h.p.Publish(context.Background(), "src", ev, func(s adapters.Settlement) { got = s; close(done) }))
			wait(t, done, "the settlement")
			require.Equal(t, adapters.DeadLettered, got.Outcome)
			require.True(t, got.OK())

			var dead []store.Dead
			require.NoError(t, db.ScanDead(pipeline.RejectedSink, 0, 0, func(d store.Dead) error { dead = append(dead, d); return nil }))
			require.Len(t, dead, 1)
			require.Less(t, len(dead[0].Data), 2<<10, "the record is bounded, whatever the event's size")
			require.Contains(t, dead[0].Reason, fmt.Sprintf("payload of %d bytes exceeds store.max_event_bytes (1024)", size))
			var rec adapters.Event
			require.NoError(t, rec.UnmarshalBinary(dead[0].Data))
			require.Equal(t, "big", rec.ID)
			require.Equal(t, payload[:pipeline.RejectPrefixBytes], rec.Payload)
			require.Len(t, rec.Topic, 256)
			n, ok := pipeline.Truncated(&rec)
			require.True(t, ok)
			require.Equal(t, size, n)
			require.NotContains(t, rec.Attrs, "header.X")
			require.Empty(t, sink.received())
		})
	}
}

// TestTruncatedRecordIsNeverDelivered puts a truncated record in a sink's outbox (as
// a store-level retry would) and restarts the pipeline on it: the loader dead-letters
// it again instead of sending a prefix as if it were the event.
func TestTruncatedRecordIsNeverDelivered(t *testing.T) {
	db := storetest.MustOpen(t)
	rec := &adapters.Event{ID: "cut", Key: "k", Payload: []byte("prefix"),
		Attrs: map[string]string{pipeline.TruncatedAttr: "300000"}}
	whole := &adapters.Event{ID: "whole", Key: "k", Payload: []byte(`{}`)}
	var b store.Batch
	for _, e := range []*adapters.Event{rec, whole} {
		data, err := e.MarshalBinary()
		require.NoError(t, err)
		b.Put(&store.Entry{Sink: "a", Key: e.Key, Data: data})
	}
	require.NoError(t, db.Commit(&b))

	sink := newPeer()
	h := start(t, db, time.Millisecond, pipeline.Options{Sinks: []pipeline.Sink{{Name: "a", Sink: sink}}})
	waitFor(t, "the whole event delivered", func() bool { return len(sink.received()) == 1 })
	require.Equal(t, "whole", sink.received()[0].ID)
	waitFor(t, "the outbox empty", func() bool { return pending(t, db, "a") == 0 })
	h.cancel()
	var dead []store.Dead
	require.NoError(t, db.ScanDead("a", 0, 0, func(d store.Dead) error { dead = append(dead, d); return nil }))
	require.Len(t, dead, 1)
	require.Contains(t, dead[0].Reason, "truncated record of a 300000-byte event")
}

// TestMaxBytesIsBackPressure bounds the store's live data to 512 KiB while the sink
// is down: once it is reached no more events are stored, the store reports itself
// full, sources stop getting acknowledgements and Publish blocks — long before the
// disk is full, and the store stays near its bound. When the sink returns, the
// backlog drains, the store leaves the full state, and every event is delivered and
// acknowledged: nothing is lost.
func TestMaxBytesIsBackPressure(t *testing.T) {
	db := storetest.MustOpen(t)
	const maxBytes = 512 << 10
	db.SetLimits(store.Limits{MaxBytes: maxBytes})

	h, sink, open := startGated(t, db)
	pipeline.SetCommitRetryDelay(h.p, 10*time.Millisecond)

	const n = 600 // 600 × 3 KiB: over three times the bound
	bp := publishInBackground(t, h.p, n, 3000)
	ackCount, published := &bp.ackCount, &bp.published

	waitFor(t, "the store to be full", func() bool { return db.Space().Full })
	waitPublishBlocked(t, published, ackCount, 64, n)
	stalled := ackCount.Load()
	require.Less(t, stalled, published.Load(), "events the store has no room for stay unacknowledged")
	sp := db.Space()
	require.Less(t, sp.Live, int64(maxBytes)+64<<10, "the store stays within one batch of its bound")
	require.Empty(t, h.p.StoreError(), "a bounded store is not a failing one: commits go on")
	t.Logf("full after %d published, %d acknowledged, %d live bytes", published.Load(), stalled, sp.Live)

	open.Store(true)
	requireRecovered(t, bp, sink, n)
	waitFor(t, "the store to leave the full state", func() bool { return !db.Space().Full })
	h.cancel()
	require.NoError(t, db.Check())
}
