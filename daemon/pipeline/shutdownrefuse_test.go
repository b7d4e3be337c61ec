package pipeline_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// TestShutdownRefusesFailedCommits: an event whose commit failed, and that no sink
// delivered, still waits for its commit retry when the pipeline stops; its source
// then hears that it was refused (done is called exactly once), so that upstream
// redelivers it, instead of never hearing anything.
func TestShutdownRefusesFailedCommits(t *testing.T) {
	db := storetest.MustOpen(t)
	db.SetCommitFault(func() error { return errors.New("no space left on device") })
	t.Cleanup(func() { db.SetCommitFault(nil) })
	hook := newPeer()
	hook.setFail(func(*adapters.Event) error { return errors.New("503 from the peer") })
	// A commit retry an hour away: the pipeline stops first.
	h := startWith(t, db, store.WriterOptions{Window: time.Millisecond}, time.Hour, pipeline.Options{
		Sinks: []pipeline.Sink{{Name: "hook", Sink: hook}},
	})
	settled := make(chan adapters.Settlement, 2)
	require.NoError(t, h.p.Publish(t.Context(), "src", &adapters.Event{Key: "k", Payload: []byte(`{}`)},
		func(s adapters.Settlement) { settled <- s }))
	waitFor(t, "the failed commit to park the event in the retry list", func() bool {
		return pipeline.RetryWaiting(h.p) == 1
	})
	require.Empty(t, settled, "not settled while its commit waits for a retry")

	h.cancel()
	select {
	case s := <-settled:
		require.Equal(t, adapters.Refused, s.Outcome)
		require.ErrorIs(t, s.Err, pipeline.ErrStopping)
	case <-time.After(10 * time.Second):
		t.Fatal("the source never heard about its event")
	}
	require.Empty(t, settled, "done is called once")
	require.Zero(t, pipeline.RetryWaiting(h.p))
}
