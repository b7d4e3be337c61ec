package pipeline

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/store"
)

// These tests drive the writer's side by hand, as deferorder_test.go does, and make
// commits fail on demand: the retryJob the pipeline schedules after a failure is
// caught and handed to the "writer" when the test decides that the delay has passed.

var errDiskFull = errors.New("no space left on device")

// retryRig is a deferRig whose retries the test submits itself.
type retryRig struct {
	*deferRig
	retries []store.Job // scheduled, not yet submitted
}

func newRetryRig(t *testing.T, sinks ...string) *retryRig {
	r := &retryRig{deferRig: newDeferRig(t, sinks...)}
	r.p.scheduleRetry = func(j store.Job, _ time.Duration) { r.retries = append(r.retries, j) }
	return r
}

// flush prepares jobs in order, as the writer's flush does, calls during between
// Prepare and Done, and commits unless fail is set.
func (r *retryRig) flush(fail bool, during func(), jobs ...store.Job) {
	var b store.Batch
	for _, j := range jobs {
		j.Prepare(&b)
	}
	if during != nil {
		during()
	}
	err := errDiskFull
	if !fail {
		err = nil
		if b.Len() > 0 {
			err = r.db.Commit(&b)
		}
		require.NoError(r.t, err)
	}
	for _, j := range jobs {
		j.Done(err)
	}
}

// retry takes the one scheduled retry.
func (r *retryRig) retry() store.Job {
	require.Len(r.t, r.retries, 1, "one retry scheduled")
	j := r.retries[0]
	r.retries = r.retries[:0]
	return j
}

// deliver sends the head of key k on sink s successfully.
func (r *retryRig) deliver(s, k string) {
	l := r.p.sinks.Load().byName[s]
	it := takeKey(l, k)
	require.NotNil(r.t, it, "sink %s has no ready head of key %s", s, k)
	l.finish(it, nil)
}

// takeKey takes the head of key k as a worker's take does (off the ready list, in
// flight) and returns it; nil unless the lane is connected and k's head is ready.
// The order tests pick the key themselves instead of taking the front of the list.
func takeKey(l *lane, k string) *item {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.keys[k]
	i := slices.Index(l.ready, k)
	if q == nil || i < 0 || !l.connected {
		return nil
	}
	l.ready = slices.Delete(l.ready, i, i+1)
	q.scheduled = false
	it := q.items[0]
	it.inflight = true
	l.inflight++
	l.checkLocked("take")
	return it
}

// unsettled counts publishes not yet acknowledged (their back-pressure slots).
func (r *retryRig) unsettled() int { return len(r.p.slots) }

// TestFailedCommitKeepsItsPlace walks one failure episode: jobs prepared after a
// failed commit, whether due at a window's close or flushed with a full batch, wait
// behind the failed ones; the retry commits them in order; a retry that fails puts
// its jobs back in front and the next one takes half; a delivered item is not
// written; publishes stay unacknowledged until their events are stored or delivered.
func TestFailedCommitKeepsItsPlace(t *testing.T) {
	r := newRetryRig(t, "a", "b")
	r.setFailing("a", true) // jobs of a are due at once
	j1, j2 := r.publish("e1", "k", "a"), r.publish("e2", "k", "a")
	require.False(t, r.held(j1))
	require.False(t, r.held(j2))
	r.flush(true, nil, j1, j2)
	require.Equal(t, 2, r.unsettled())
	require.Equal(t, "no space left on device", r.p.StoreError())

	// The next window commits fine, but e3 must not overtake e1 and e2.
	j3 := r.publish("e3", "k", "a")
	require.False(t, r.held(j3), "a failing sink: due")
	r.flush(false, nil, j3)
	require.Empty(t, r.outbox("a"))
	// A full batch prepares every waiting job, held or not: they wait too.
	j4, j5 := r.publish("e4", "k", "b"), r.publish("e5", "k2", "a")
	require.True(t, r.held(j4), "b is healthy: held back")
	r.flush(false, nil, j4, j5)
	require.Empty(t, r.outbox("a"))
	require.Empty(t, r.outbox("b"))

	// The retry, and behind it in the same batch a job submitted after it: both fail.
	j6 := r.publish("e6", "k", "a")
	r.flush(true, nil, r.retry(), j6)
	require.Equal(t, 6, r.unsettled())
	// b delivers e4 meanwhile: it is never written to b's outbox.
	r.deliver("b", "k")
	j7 := r.publish("e7", "k", "a")
	r.flush(false, nil, j7)
	require.Empty(t, r.outbox("a"))

	// The next retry takes half of the five that failed in it: e1, e2.
	r.flush(false, nil, r.retry())
	require.Equal(t, []string{"e1", "e2"}, r.outbox("a"))
	require.Empty(t, r.p.StoreError())
	require.Equal(t, 4, r.unsettled(), "e3, e5, e6, e7")
	// Then at once twice as many: j3..j6; then the rest.
	r.flush(false, nil, r.retry())
	require.Equal(t, []string{"e1", "e2", "e3", "e5", "e6"}, r.outbox("a"))
	r.flush(false, nil, r.retry())
	require.Equal(t, []string{"e1", "e2", "e3", "e5", "e6", "e7"}, r.outbox("a"))
	require.Empty(t, r.outbox("b"), "delivered: never written")
	require.Empty(t, r.retries, "nothing left to retry")
	require.Zero(t, r.unsettled(), "every event is stored or delivered")

	// Back to normal: a new job is committed in its own window.
	j8 := r.publish("e8", "k", "a")
	r.flush(false, nil, j8)
	require.Equal(t, []string{"e1", "e2", "e3", "e5", "e6", "e7", "e8"}, r.outbox("a"))
	require.Empty(t, r.retries)
}

// TestDeliveredDuringFailedCommitIsNotRewritten: an item delivered while the commit
// carrying it ran, and that commit failed, is not written by the retry.
func TestDeliveredDuringFailedCommitIsNotRewritten(t *testing.T) {
	r := newRetryRig(t, "a")
	r.setFailing("a", true)
	j1, j2 := r.publish("e1", "k1", "a"), r.publish("e2", "k2", "a")
	r.flush(true, func() { r.deliver("a", "k1") }, j1, j2)
	require.Equal(t, 1, r.unsettled())
	r.flush(false, nil, r.retry())
	require.Equal(t, []string{"e2"}, r.outbox("a"))
	require.Zero(t, r.unsettled())
}

// TestFailedCommitsReachTheStoreInOrder walks the writer over random publishes,
// deliveries, health changes, full-batch flushes and commit failures, with the retry
// arriving after a random number of windows, and checks that each sink's outbox is
// in publish order and that every event ends up delivered or stored.
func TestFailedCommitsReachTheStoreInOrder(t *testing.T) {
	for seed := uint64(1); seed <= 16; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			sinks := []string{"a", "b"}
			r := newRetryRig(t, sinks...)
			want := map[string]map[string]bool{}
			delivered := map[string]map[string]bool{}
			for _, s := range sinks {
				want[s], delivered[s] = map[string]bool{}, map[string]bool{}
			}

			// deliver sends the head of a random key of s, if it has one.
			deliver := func(s string) {
				l := r.p.sinks.Load().byName[s]
				it := takeKey(l, fmt.Sprint("k", rng.IntN(3)))
				if it == nil {
					return
				}
				delivered[s][it.ev.ID] = true
				l.finish(it, nil)
			}
			// change flips a sink's health or delivers.
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
					deliver(s)
				}
			}
			during := func() {
				if rng.IntN(3) == 0 {
					deliver(sinks[rng.IntN(len(sinks))])
				}
			}

			const n = 400
			var waiting []store.Job
			failures := 0
			for i, walks := 0, 0; i < n || len(waiting) > 0 || len(r.retries) > 0; walks++ {
				require.Less(t, walks, 100*n, "jobs never committed")
				for k := rng.IntN(6); k > 0 && i < n; k-- {
					id, key, to := randomPublish(rng, i, sinks, want)
					waiting = append(waiting, r.publish(id, key, to...))
					i++
				}
				// The retry's delay has passed: it joins the writer's queue.
				if len(r.retries) > 0 && rng.IntN(4) == 0 {
					waiting = append(waiting, r.retry())
				}
				r.now = r.now.Add(time.Duration(rng.IntN(30)) * time.Millisecond)
				fail := i < n && rng.IntN(4) == 0 // the disk recovers once publishing ends
				if fail {
					failures++
				}
				if rng.IntN(20) == 0 { // a full batch: everything is prepared at once
					r.flush(fail, during, waiting...)
					waiting = waiting[:0]
					continue
				}
				var due []store.Job
				kept := waiting[:0]
				for _, j := range waiting {
					change()
					if d, ok := j.(store.Deferrer); ok && d.DeferUntil().After(r.now) {
						kept = append(kept, j)
					} else {
						due = append(due, j)
					}
				}
				waiting = kept
				r.flush(fail, during, due...)
			}
			require.NotZero(t, failures)

			require.Empty(t, r.p.retry.jobs, "jobs left behind in the retry list")
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
			require.Zero(t, r.unsettled(), "a publish never acknowledged")
		})
	}
}
