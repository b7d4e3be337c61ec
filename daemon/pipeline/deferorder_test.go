package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// These tests drive pubJob the way store.Writer does (DeferUntil on every waiting job
// in submission order, then Prepare, commit and Done for the due ones), on the test's
// goroutine and with a fake clock, so that a lane can change health at an exact point
// of the writer's walk.

type nopSink struct{}

func (nopSink) Connect(context.Context) error               { return nil }
func (nopSink) Send(context.Context, *adapters.Event) error { return nil }
func (nopSink) Close(context.Context) error                 { return nil }

type deferRig struct {
	t   *testing.T
	db  *store.DB
	p   *Pipeline
	now time.Time
}

func newDeferRig(t *testing.T, sinks ...string) *deferRig {
	r := &deferRig{t: t, db: storetest.MustOpen(t), now: time.Unix(1_700_000_000, 0)}
	var ss []Sink
	for _, s := range sinks {
		ss = append(ss, Sink{Name: s, Sink: nopSink{}})
	}
	p, err := New(Options{
		DB: r.db, Writer: r.db.NewWriter(store.WriterOptions{}), Router: NewRouter(nil), Sinks: ss,
		MaxPending: 1 << 16, DeliverWindow: 100 * time.Millisecond, Now: func() time.Time { return r.now },
	})
	require.NoError(t, err)
	for _, l := range p.sinks.Load().order { // connected, direct mode: healthy
		l.mu.Lock()
		l.connected, l.backlog = true, false
		l.mu.Unlock()
	}
	r.p = p
	return r
}

// publish queues one event with key k for sinks, as Publish does, without submitting it.
func (r *deferRig) publish(id, k string, sinks ...string) *pubJob {
	r.p.slots <- struct{}{}
	ev := &adapters.Event{ID: id, Key: k, Kind: adapters.KindRaw, Payload: []byte("{}"), Received: r.now}
	j := &pubJob{p: r.p, published: r.now}
	for _, s := range sinks {
		l := r.p.sinks.Load().byName[s]
		j.items = append(j.items, &item{ev: ev, job: j, lane: l, key: orderKey(ev), enqueued: ev.Received})
	}
	j.remaining.Store(int32(len(j.items)))
	for _, it := range j.items {
		it.lane.offer(it)
	}
	return j
}

// held asks j as the writer does and reports whether it keeps waiting.
func (r *deferRig) held(j *pubJob) bool { return j.DeferUntil().After(r.now) }

// commit stores jobs in one transaction, as the writer's flush does.
func (r *deferRig) commit(jobs ...*pubJob) {
	var b store.Batch
	for _, j := range jobs {
		j.Prepare(&b)
	}
	var err error
	if b.Len() > 0 {
		err = r.db.Commit(&b)
	}
	require.NoError(r.t, err)
	for _, j := range jobs {
		j.Done(err)
	}
}

func (r *deferRig) setFailing(sink string, f bool) {
	l := r.p.sinks.Load().byName[sink]
	l.mu.Lock()
	l.setFailingLocked(f)
	l.mu.Unlock()
}

// outbox returns the event IDs in sink's outbox, in store order.
func (r *deferRig) outbox(sink string) []string {
	var ids []string
	require.NoError(r.t, r.db.Scan(sink, 0, 0, func(e store.Entry) error {
		var ev adapters.Event
		require.NoError(r.t, ev.UnmarshalBinary(e.Data))
		ids = append(ids, ev.ID)
		return nil
	}))
	return ids
}

// TestHeldJobKeepsLaterJobsBackWhenHealthChangesMidWalk is the interleaving behind a
// rare failure of TestDeliverWindowKeepsStoreOrder: the writer walks its waiting jobs;
// j1 is held back (here on the fast path: no lane changed since its last check), then
// the sink fails before the writer asks j2. j2 sees a failing sink and would be due,
// but it must stay behind j1, which this walk holds back: otherwise j2 is stored now
// and j1 only at the next window, out of publish order.
func TestHeldJobKeepsLaterJobsBackWhenHealthChangesMidWalk(t *testing.T) {
	r := newDeferRig(t, "a")
	j1, j2 := r.publish("e1", "k", "a"), r.publish("e2", "k", "a")
	require.True(t, r.held(j1), "a healthy sink: held back")
	require.True(t, r.held(j2), "a healthy sink: held back")

	r.now = r.now.Add(time.Millisecond)
	require.True(t, r.held(j1))
	r.setFailing("a", true) // the sink's first failure, in the middle of the walk
	require.True(t, r.held(j2), "j2 is due before j1, held back in this same walk")

	r.now = r.now.Add(time.Millisecond)
	require.False(t, r.held(j1), "a failing sink: j1 is due")
	require.False(t, r.held(j2), "a failing sink: j2 is due right after j1")
	r.commit(j1, j2)
	require.Equal(t, []string{"e1", "e2"}, r.outbox("a"))
}

// TestHeldJobsReachTheStoreInOrder walks the writer over random publishes, deliveries
// and health changes of two sinks (with the occasional full-batch flush that commits
// every waiting job), and checks that each sink's outbox is in publish order and that
// every event was delivered or stored.
func TestHeldJobsReachTheStoreInOrder(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			sinks := []string{"a", "b"}
			r := newDeferRig(t, sinks...)
			want := map[string]map[string]bool{}
			delivered := map[string]map[string]bool{}
			for _, s := range sinks {
				want[s], delivered[s] = map[string]bool{}, map[string]bool{}
			}

			// change flips a sink's health or delivers the head of one of its keys.
			change := func() {
				s := sinks[rng.IntN(len(sinks))]
				l := r.p.sinks.Load().byName[s]
				switch x := rng.IntN(10); {
				case x == 0:
					r.setFailing(s, rng.IntN(2) == 0)
				case x == 1:
					l.mu.Lock()
					l.connected = !l.connected
					l.p.healthGen.Add(1)
					l.mu.Unlock()
				case x < 5:
					it := takeKey(l, fmt.Sprint("k", rng.IntN(3)))
					if it == nil {
						return
					}
					delivered[s][it.ev.ID] = true
					l.finish(it, nil)
				}
			}

			const n = 400
			var waiting []*pubJob
			for i, walks := 0, 0; i < n || len(waiting) > 0; walks++ {
				require.Less(t, walks, 100*n, "held jobs never become due")
				for k := rng.IntN(6); k > 0 && i < n; k-- {
					id, key, to := randomPublish(rng, i, sinks, want)
					waiting = append(waiting, r.publish(id, key, to...))
					i++
				}
				r.now = r.now.Add(time.Duration(rng.IntN(30)) * time.Millisecond)
				if rng.IntN(20) == 0 { // a full batch: everything is committed at once
					r.commit(waiting...)
					waiting = waiting[:0]
					continue
				}
				var due []*pubJob
				kept := waiting[:0]
				for _, j := range waiting {
					change()
					if r.held(j) {
						kept = append(kept, j)
					} else {
						due = append(due, j)
					}
				}
				waiting = kept
				r.commit(due...)
			}

			for _, s := range sinks {
				got := r.outbox(s)
				for i := 1; i < len(got); i++ {
					require.Less(t, got[i-1], got[i], "sink %s: %s stored after %s", s, got[i], got[i-1])
				}
				for _, id := range got {
					delivered[s][id] = true
				}
				require.Equal(t, want[s], delivered[s], "sink %s: every event delivered or stored", s)
			}
		})
	}
}

// randomPublish picks the i-th random publish of the order tests: an id, one of
// three keys, and sink "a", sink "b" or every sink; it records the id as wanted by
// each of them.
func randomPublish(rng *rand.Rand, i int, sinks []string, want map[string]map[string]bool) (id, key string, to []string) {
	switch rng.IntN(3) {
	case 0:
		to = []string{"a"}
	case 1:
		to = []string{"b"}
	default:
		to = sinks
	}
	id = fmt.Sprintf("e%04d", i)
	for _, s := range to {
		want[s][id] = true
	}
	return id, fmt.Sprint("k", rng.IntN(3)), to
}
