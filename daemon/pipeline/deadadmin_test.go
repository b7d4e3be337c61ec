package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

func deadSeqs(t *testing.T, db *store.DB, sink string) []uint64 {
	t.Helper()
	var seqs []uint64
	require.NoError(t, db.ScanDead(sink, 0, 0, func(d store.Dead) error { seqs = append(seqs, d.Seq); return nil }))
	return seqs
}

// TestRetryDeadWhileRunning: dead letters retried on the running pipeline (the status
// page's action) are paged back into their lane and delivered at once, in outbox order
// behind what is queued, while fresh events keep flowing; the lane's bookkeeping holds
// after every step (the invariant checks every test of this package runs), and the
// rules of queue retry apply: named truncated records refuse the request, "all" leaves
// them, @rejected and unknown sinks are refused. Drop removes dead letters for good.
func TestRetryDeadWhileRunning(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := newPeer()
	refuse := func(e *adapters.Event) error {
		if e.ID < "e00005" {
			return adapters.Permanent(errors.New("400: refused"))
		}
		return nil
	}
	sink.setFail(refuse)
	h := start(t, db, 2*time.Millisecond, pipeline.Options{Sinks: []pipeline.Sink{{Name: "a", Sink: sink}}})
	done, _ := publish(t, h.p, 10, 3)
	wait(t, done, "done callbacks")
	waitFor(t, "5 dead letters", func() bool { return len(deadSeqs(t, db, "a")) == 5 })
	waitFor(t, "5 delivered", func() bool { return len(sink.received()) == 5 })

	// A truncated record among them.
	data, err := (&adapters.Event{ID: "huge", Kind: adapters.KindRaw, Payload: []byte("{"),
		Attrs: map[string]string{pipeline.TruncatedAttr: "999999"}}).MarshalBinary()
	require.NoError(t, err)
	var b store.Batch
	b.DeadLetter(&store.Entry{Sink: "a", Data: data}, "too_large")
	require.NoError(t, db.Commit(&b))
	seqs := deadSeqs(t, db, "a")
	cutSeq := seqs[len(seqs)-1]

	ctx := context.Background()
	_, err = h.p.RetryDead(ctx, "a", []uint64{seqs[0], cutSeq})
	require.ErrorIs(t, err, pipeline.ErrNotRetryable)
	require.ErrorContains(t, err, "nothing retried")
	require.Len(t, deadSeqs(t, db, "a"), 6, "nothing moved")
	_, err = h.p.RetryDead(ctx, pipeline.RejectedSink, nil)
	require.ErrorIs(t, err, pipeline.ErrNotRetryable)
	_, err = h.p.RetryDead(ctx, "b", nil)
	require.ErrorIs(t, err, pipeline.ErrNoSuchSink)

	// One by seq, then all, with fresh events in between.
	sink.setFail(nil)
	r, err := h.p.RetryDead(ctx, "a", []uint64{seqs[0]})
	require.NoError(t, err)
	require.Equal(t, 1, r.Done)
	waitFor(t, "the retried one delivered", func() bool { return len(sink.received()) == 6 })
	more := &adapters.Event{ID: "fresh", Kind: adapters.KindRaw, Payload: []byte("{}")}
	fresh := make(chan struct{})
	require.NoError(t, h.p.Publish(ctx, "src", more, func(adapters.Settlement) { close(fresh) }))
	r, err = h.p.RetryDead(ctx, "a", nil)
	require.NoError(t, err)
	require.Equal(t, 4, r.Done)
	require.Contains(t, r.Left, "cannot be retried")
	wait(t, fresh, "the fresh event settled")
	waitFor(t, "every retried event delivered", func() bool { return len(sink.received()) == 11 })
	seen := map[string]int{}
	for _, e := range sink.received() {
		seen[e.ID]++
	}
	for i := range 10 {
		require.Equal(t, 1, seen[fmt.Sprintf("e%05d", i)], "e%05d", i)
	}
	require.Equal(t, 1, seen["fresh"])
	waitFor(t, "depth back to 0", func() bool { st, _ := h.p.SinkStatus("a"); return st.Depth == 0 })
	require.Equal(t, []uint64{cutSeq}, deadSeqs(t, db, "a"), "the truncated record stays")

	r, err = h.p.DropDead(ctx, "a", nil)
	require.NoError(t, err)
	require.Equal(t, 1, r.Done)
	require.Empty(t, deadSeqs(t, db, "a"))
	_, err = h.p.DropDead(ctx, "b", nil)
	require.ErrorIs(t, err, pipeline.ErrNoSuchSink)
}
