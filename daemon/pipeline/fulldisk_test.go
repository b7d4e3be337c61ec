package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
)

// TestFullDiskIsBackPressure fills a real (tiny tmpfs) disk while the sink is down:
// commits fail, sources stop getting acknowledgements and Publish blocks — nothing is
// acknowledged that is not delivered or stored. When the sink returns, the held
// events are delivered and acknowledged, and none is lost.
func TestFullDiskIsBackPressure(t *testing.T) {
	dir := tinyDisk(t)

	db, err := store.Open(filepath.Join(dir, "queue.db"), store.Options{NoVerify: true})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })

	h, sink, open := startGated(t, db)

	const n = 1500
	bp := publishInBackground(t, h.p, n, 3000)
	ackCount, published := &bp.ackCount, &bp.published

	waitFor(t, "the store to fail", func() bool { return h.p.StoreError() != "" })
	require.Contains(t, h.p.StoreError(), "no space left")
	// Back-pressure: the publisher is blocked and acknowledgements stopped.
	waitPublishBlocked(t, published, ackCount, 64, n)
	stalled := ackCount.Load()
	require.Less(t, stalled, published.Load(), "events the store could not take must stay unacknowledged")
	t.Logf("disk full after %d published, %d acknowledged", published.Load(), stalled)

	open.Store(true)
	requireRecovered(t, bp, sink, n)
	h.cancel()
}

// startGated starts a pipeline on db with one sink "a" that answers 503 until open is
// set, and at most 64 events pending: the setting of the back-pressure tests.
func startGated(t *testing.T, db *store.DB) (*harness, *peer, *atomic.Bool) {
	t.Helper()
	sink := newPeer()
	open := new(atomic.Bool)
	sink.setFail(func(*adapters.Event) error {
		if !open.Load() {
			return errors.New("503 service unavailable")
		}
		return nil
	})
	h := start(t, db, 2*time.Millisecond, pipeline.Options{
		Sinks: []pipeline.Sink{{Name: "a", Sink: sink, MaxInFlight: 4,
			Retry: pipeline.Retry{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}}},
		MaxPending: 64,
	})
	return h, sink, open
}

// requireRecovered waits, once the sink accepts again, for the publisher to finish and
// every event to be acknowledged, and checks that each acknowledged event reached
// the sink, all n of them, in order per key.
func requireRecovered(t *testing.T, bp *backgroundPublisher, sink *peer, n int) {
	t.Helper()
	wait(t, bp.done, "publishing to resume after the sink came back")
	waitFor(t, "every event acknowledged", func() bool { return bp.ackCount.Load() == int64(n) })
	got := uniq(sink.received())
	bp.acked.Range(func(k, _ any) bool {
		require.True(t, got[k.(string)], "acknowledged event %s was never delivered", k)
		return true
	})
	require.Len(t, got, n)
	checkOrder(t, sink.received())
}

// waitPublishBlocked waits until all maxPending of the pipeline's slots are held by
// events published and not settled, while fewer than n were published. Publish then
// blocks, deterministically: it waits for a slot, and only a settle (which settled
// would count) frees one. published counts returned Publish calls, settled done
// callbacks.
func waitPublishBlocked(t *testing.T, published, settled *atomic.Int64, maxPending, n int) {
	t.Helper()
	waitFor(t, "the publisher to block", func() bool {
		p := published.Load()
		return p-settled.Load() == int64(maxPending) && p < int64(n)
	})
}

// backgroundPublisher publishes events of about size bytes from its own goroutine
// and counts what was published and acknowledged (by id in acked).
type backgroundPublisher struct {
	acked               sync.Map
	ackCount, published atomic.Int64
	done                chan struct{} // closed after the last Publish, or when the test ends
}

// publishInBackground publishes n events e00000… with 8 keys and a payload of about
// size bytes through p, one at a time, until all were published or the test ends.
func publishInBackground(t *testing.T, p *pipeline.Pipeline, n, size int) *backgroundPublisher {
	t.Helper()
	bp := &backgroundPublisher{done: make(chan struct{})}
	payload := strings.Repeat("x", size)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); <-bp.done })
	go func() { // exits after n publishes or when ctx ends
		defer close(bp.done)
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("e%05d", i)
			e := &adapters.Event{ID: id, Key: fmt.Sprintf("k%d", i%8), Payload: []byte(`{"p":"` + payload + `"}`)}
			err := p.Publish(ctx, "src", e, func(s adapters.Settlement) {
				if s.OK() {
					bp.acked.Store(id, true)
					bp.ackCount.Add(1)
				}
			})
			if err != nil {
				return
			}
			bp.published.Add(1)
		}
	}()
	return bp
}
