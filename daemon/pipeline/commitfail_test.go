package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// startWith is start with writer options of the test's choosing and, unless
// retryDelay is zero, a wait before failed commits are retried other than the
// daemon's 500 ms.
func startWith(t *testing.T, db *store.DB, wo store.WriterOptions, retryDelay time.Duration, opt pipeline.Options) *harness {
	t.Helper()
	w := db.NewWriter(wo)
	opt.DB, opt.Writer = db, w
	if opt.Router == nil {
		opt.Router = pipeline.NewRouter([]pipeline.Route{{Name: "all", To: sinkNames(opt.Sinks)}})
	}
	p, err := pipeline.New(opt)
	require.NoError(t, err)
	if retryDelay > 0 {
		pipeline.SetCommitRetryDelay(p, retryDelay)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wctx, wcancel := context.WithCancel(context.Background())
	h := &harness{t: t, db: db, p: p, done: make(chan struct{})}
	writerDone := make(chan struct{})
	go func() { _ = w.Run(wctx); close(writerDone) }() // exits when wctx ends
	go func() {                                        // exits when ctx ends; the writer stops after the pipeline, as in the daemon
		_ = p.Run(ctx)
		wcancel()
		<-writerDone
		close(h.done)
	}()
	h.cancel = func() {
		p.StopIntake()
		cancel()
		<-h.done
	}
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			h.cancel()
		}
	})
	return h
}

// outboxIDs returns the event IDs in sink's outbox, in store (replay) order.
func outboxIDs(t *testing.T, db *store.DB, sink string) []string {
	t.Helper()
	var ids []string
	require.NoError(t, db.Scan(sink, 0, 0, func(e store.Entry) error {
		var ev adapters.Event
		require.NoError(t, ev.UnmarshalBinary(e.Data))
		ids = append(ids, ev.ID)
		return nil
	}))
	return ids
}

// TestFailedCommitsKeepStoreOrder publishes through a store whose commits fail at
// random (a disk that comes and goes) and checks that each sink's outbox, the order a
// restart replays, is still publish order, and that the replay delivers every key in
// order. Sink a never delivers (everything is stored, and its attempt updates fail
// too); sink b delivers half of the keys (some of its items are stored and deleted,
// with failing deletes) and holds the other half. The writer's small MaxBatch flushes
// jobs that would rather wait, and sink a outgrows its memory (backlog mode).
func TestFailedCommitsKeepStoreOrder(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			const n, keys = 400, 8
			db := storetest.MustOpen(t)
			full := errors.New("no space left on device")
			var (
				mu       sync.Mutex // guards rng
				rng      = rand.New(rand.NewPCG(seed, 7))
				failing  atomic.Bool
				failures atomic.Int64
			)
			failing.Store(true)
			db.SetCommitFault(func() error {
				if !failing.Load() {
					return nil
				}
				mu.Lock()
				fail := rng.IntN(5) < 2
				mu.Unlock()
				if fail {
					failures.Add(1)
					return full
				}
				return nil
			})

			a, b := newPeer(), newPeer()
			a.setFail(func(*adapters.Event) error { return errors.New("503 service unavailable") })
			held := func(e *adapters.Event) bool { return e.Key >= fmt.Sprint("k", keys/2) }
			b.setFail(func(e *adapters.Event) error {
				if held(e) {
					return errors.New("503 service unavailable")
				}
				return nil
			})
			retry := pipeline.Retry{Initial: 2 * time.Millisecond, Max: 10 * time.Millisecond}
			h := startWith(t, db, store.WriterOptions{Window: 2 * time.Millisecond, MaxBatch: 8}, 5*time.Millisecond, pipeline.Options{
				Sinks: []pipeline.Sink{
					{Name: "a", Sink: a, MaxInFlight: 2, Retry: retry},
					{Name: "b", Sink: b, MaxInFlight: 4, Retry: retry},
				},
				MemLimit: 256, MaxPending: 64, DeliverWindow: 10 * time.Millisecond,
			})

			var wantA, wantB []string
			var acked, nacked atomic.Int64
			for i := range n {
				e := &adapters.Event{ID: fmt.Sprintf("e%05d", i), Key: fmt.Sprint("k", i%keys), Payload: []byte("{}")}
				wantA = append(wantA, e.ID)
				if held(e) {
					wantB = append(wantB, e.ID)
				}
				require.NoError(t, h.p.Publish(context.Background(), "src", e, func(s adapters.Settlement) {
					if !s.OK() {
						nacked.Add(1)
					}
					acked.Add(1)
				}))
			}
			waitFor(t, "every event acknowledged", func() bool { return acked.Load() == n })
			require.Zero(t, nacked.Load())
			require.NotZero(t, failures.Load(), "no commit failed: the test tests nothing")
			t.Logf("%d commits failed", failures.Load())
			failing.Store(false)
			waitFor(t, "sink b to deliver its keys", func() bool { return len(uniq(b.received())) == n-len(wantB) })
			waitFor(t, "the delivered events to leave b's outbox", func() bool { return pending(t, db, "b") == len(wantB) })
			h.cancel()

			require.Equal(t, wantA, outboxIDs(t, db, "a"), "sink a: outbox not in publish order")
			require.Equal(t, wantB, outboxIDs(t, db, "b"), "sink b: outbox not in publish order")

			// The replay after a restart delivers each key in publish order.
			a2, b2 := newPeer(), newPeer()
			h2 := startWith(t, db, store.WriterOptions{Window: 2 * time.Millisecond}, 0, pipeline.Options{
				Sinks:    []pipeline.Sink{{Name: "a", Sink: a2, MaxInFlight: 4}, {Name: "b", Sink: b2, MaxInFlight: 4}},
				MemLimit: 32,
			})
			waitFor(t, "the replay", func() bool {
				return len(uniq(a2.received())) == n && len(uniq(b2.received())) == len(wantB)
			})
			require.Len(t, checkOrder(t, a2.received()), n)
			require.Len(t, checkOrder(t, b2.received()), len(wantB))
			got := slices.Sorted(func(yield func(string) bool) {
				for id := range uniq(b2.received()) {
					if !yield(id) {
						return
					}
				}
			})
			require.Equal(t, wantB, got)
			waitFor(t, "outboxes empty", func() bool { return pending(t, db, "a") == 0 && pending(t, db, "b") == 0 })
			h2.cancel()
		})
	}
}

// TestFullDiskInBacklogKeepsOrder fills a real 2 MiB tmpfs while the sink is down and
// the lane is in backlog mode, where events live only in the store until the loader
// pages them in by sequence: an event whose commit failed must not be paged in after
// younger ones. Deletes of delivered events must still get through the full disk, or
// nothing would ever free room. When the sink returns, every event arrives, each key
// in publish order.
func TestFullDiskInBacklogKeepsOrder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root to mount a 2 MiB tmpfs as a disk that fills up")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	require.NoError(t, os.Mkdir(dir, 0o700))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	db, err := store.Open(filepath.Join(dir, "queue.db"), store.Options{NoVerify: true, Logger: storetest.Options(t).Logger})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })

	sink := newPeer()
	var open atomic.Bool
	sink.setFail(func(*adapters.Event) error {
		if !open.Load() {
			return errors.New("503 service unavailable")
		}
		return nil
	})
	// The daemon's retry delay: with retries every few milliseconds the deletes that
	// would free room keep meeting in one transaction too large for the full disk
	// (so it was before the retry list too).
	h := startWith(t, db, store.WriterOptions{Window: 2 * time.Millisecond}, 0, pipeline.Options{
		Sinks: []pipeline.Sink{{Name: "a", Sink: sink, MaxInFlight: 4,
			Retry: pipeline.Retry{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}}},
		MaxPending: 64, MemLimit: 16,
	})

	const n = 1500
	payload := strings.Repeat("x", 3000)
	var acked, nacked, published atomic.Int64
	pubDone := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // exits after n publishes or when ctx ends
		defer close(pubDone)
		for i := range n {
			e := &adapters.Event{ID: fmt.Sprintf("e%05d", i), Key: fmt.Sprint("k", i%8), Payload: []byte(`{"p":"` + payload + `"}`)}
			err := h.p.Publish(ctx, "src", e, func(s adapters.Settlement) {
				if !s.OK() {
					nacked.Add(1)
				}
				acked.Add(1)
			})
			if err != nil {
				return
			}
			published.Add(1)
		}
	}()

	waitFor(t, "the store to fail", func() bool { return h.p.StoreError() != "" })
	require.Contains(t, h.p.StoreError(), "no space left")
	waitPublishBlocked(t, &published, &acked, 64, n)
	require.Less(t, acked.Load(), published.Load(), "events the store could not take must stay unacknowledged")
	require.True(t, h.p.Status()[0].Backlog)

	open.Store(true)
	select {
	case <-pubDone:
	case <-time.After(60 * time.Second):
		t.Fatal("publishing did not resume after the sink came back")
	}
	waitFor(t, "every event acknowledged", func() bool { return acked.Load() == n })
	require.Zero(t, nacked.Load())
	waitFor(t, "every event delivered", func() bool { return len(uniq(sink.received())) == n })
	require.Len(t, checkOrder(t, sink.received()), n)
	waitFor(t, "the outbox empty", func() bool { return pending(t, db, "a") == 0 })
	h.cancel()
}
