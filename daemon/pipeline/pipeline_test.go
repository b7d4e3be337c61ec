package pipeline_test

import (
	"context"
	"errors"
	"fmt"
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

// peer is an in-process delivery target: it records what it receives and fails on
// demand. It stands in for the remote system, not for the code under test.
type peer struct {
	mu       sync.Mutex // guards got, fail
	got      []*adapters.Event
	fail     func(e *adapters.Event) error
	inflight map[string]bool
	overlap  atomic.Bool // two sends of one key at once: an ordering bug
}

func newPeer() *peer { return &peer{inflight: map[string]bool{}} }

func (p *peer) Connect(context.Context) error { return nil }
func (p *peer) Close(context.Context) error   { return nil }
func (p *peer) Send(ctx context.Context, e *adapters.Event) error {
	p.mu.Lock()
	if e.Key != "" {
		if p.inflight[e.Key] {
			p.overlap.Store(true)
		}
		p.inflight[e.Key] = true
	}
	fail := p.fail
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.inflight, e.Key)
		p.mu.Unlock()
	}()
	if fail != nil {
		if err := fail(e); err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.got = append(p.got, e)
	p.mu.Unlock()
	return nil
}

func (p *peer) setFail(f func(e *adapters.Event) error) {
	p.mu.Lock()
	p.fail = f
	p.mu.Unlock()
}

func (p *peer) received() []*adapters.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*adapters.Event(nil), p.got...)
}

type harness struct {
	t      *testing.T
	db     *store.DB
	p      *pipeline.Pipeline
	cancel func()
	done   chan struct{}
}

func start(t *testing.T, db *store.DB, window time.Duration, opt pipeline.Options) *harness {
	t.Helper()
	w := db.NewWriter(store.WriterOptions{Window: window})
	opt.DB, opt.Writer = db, w
	if opt.Router == nil {
		opt.Router = pipeline.NewRouter([]pipeline.Route{{Name: "all", To: sinkNames(opt.Sinks)}})
	}
	p, err := pipeline.New(opt)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	wctx, wcancel := context.WithCancel(context.Background())
	h := &harness{t: t, db: db, p: p, done: make(chan struct{})}
	writerDone := make(chan struct{})
	go func() { _ = w.Run(wctx); close(writerDone) }() // exits when wctx ends
	go func() {                                        // exits when ctx ends: the pipeline drains, then the writer stops, as in the daemon
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

func sinkNames(s []pipeline.Sink) []string {
	var out []string
	for _, x := range s {
		out = append(out, x.Name)
	}
	return out
}

// publish sends n events with keys k0..k(keys-1) round robin and returns a channel
// closed once every done callback has fired, plus a counter of errors.
func publish(t *testing.T, p *pipeline.Pipeline, n, keys int) (<-chan struct{}, *atomic.Int64) {
	t.Helper()
	var wg sync.WaitGroup
	var errs atomic.Int64
	wg.Add(n)
	for i := 0; i < n; i++ {
		e := &adapters.Event{ID: fmt.Sprintf("e%05d", i), Kind: adapters.KindRaw, Topic: "t/x", Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		if keys > 0 {
			e.Key = fmt.Sprintf("k%d", i%keys)
		}
		require.NoError(t, p.Publish(context.Background(), "src", e, func(s adapters.Settlement) {
			if !s.OK() {
				errs.Add(1)
			}
			wg.Done()
		}))
	}
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	return ch, &errs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitCount waits until count reaches n. It fails when count has not moved for 20
// seconds, not after a fixed total: a large volume takes what it takes on a loaded
// machine (the race detector, other builds), and only a stall is a bug.
func waitCount(t *testing.T, what string, n int, count func() int) {
	t.Helper()
	last, moved := count(), time.Now()
	for last < n {
		time.Sleep(5 * time.Millisecond)
		if c := count(); c != last {
			last, moved = c, time.Now()
			continue
		}
		if time.Since(moved) > 20*time.Second {
			t.Fatalf("timed out waiting for %s: stuck at %d of %d for 20s", what, last, n)
		}
	}
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func pending(t *testing.T, db *store.DB, sink string) int {
	st, err := db.Stats()
	require.NoError(t, err)
	return st.Sinks[sink].Pending
}

// checkOrder asserts that, per key, events arrived in publish order (ids ascending),
// allowing duplicates.
func checkOrder(t *testing.T, got []*adapters.Event) map[string]int {
	t.Helper()
	last := map[string]string{}
	seen := map[string]int{}
	for _, e := range got {
		seen[e.ID]++
		if seen[e.ID] > 1 {
			continue
		}
		require.Greater(t, e.ID, last[e.Key], "key %s: %s arrived after %s", e.Key, e.ID, last[e.Key])
		last[e.Key] = e.ID
	}
	return seen
}

func TestHealthySinkWritesNothing(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := newPeer()
	// A long window: every event is delivered long before it closes.
	h := start(t, db, time.Second, pipeline.Options{Sinks: []pipeline.Sink{{Name: "a", Sink: sink, MaxInFlight: 4}}})
	before := db.Counters().Commits
	done, errs := publish(t, h.p, 500, 10)
	wait(t, done, "done callbacks")
	require.Zero(t, errs.Load())
	require.Len(t, checkOrder(t, sink.received()), 500)
	require.False(t, sink.overlap.Load(), "two events of one key were in flight at once")
	h.cancel()
	require.Equal(t, before, db.Counters().Commits, "events delivered inside the commit window must not be written")
	require.Zero(t, pending(t, db, "a"))
}

func TestRetryKeepsOrderPerKey(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := newPeer()
	var calls atomic.Int64
	sink.setFail(func(e *adapters.Event) error {
		// Fail every third call: retries interleave with fresh events.
		if calls.Add(1)%3 == 0 {
			return adapters.RetryAfter(errors.New("503 service unavailable"), time.Millisecond)
		}
		return nil
	})
	h := start(t, db, 2*time.Millisecond, pipeline.Options{Sinks: []pipeline.Sink{{
		Name: "a", Sink: sink, MaxInFlight: 8, Retry: pipeline.Retry{Initial: time.Millisecond, Max: 5 * time.Millisecond},
	}}})
	done, errs := publish(t, h.p, 2000, 16)
	wait(t, done, "done callbacks")
	require.Zero(t, errs.Load())
	waitFor(t, "all delivered", func() bool { return len(sink.received()) >= 2000 })
	seen := checkOrder(t, sink.received())
	require.Len(t, seen, 2000)
	require.False(t, sink.overlap.Load())
	waitFor(t, "outbox empty", func() bool { return pending(t, db, "a") == 0 })
}

func TestOutageThenRestartDeliversEverything(t *testing.T) {
	db := storetest.MustOpen(t)
	down := newPeer()
	down.setFail(func(*adapters.Event) error { return errors.New("connection refused") })
	h := start(t, db, 2*time.Millisecond, pipeline.Options{Sinks: []pipeline.Sink{{
		Name: "a", Sink: down, MaxInFlight: 2, Retry: pipeline.Retry{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond},
	}}, MemLimit: 64})
	done, errs := publish(t, h.p, 1000, 7)
	wait(t, done, "done callbacks: every event durable")
	require.Zero(t, errs.Load())
	waitFor(t, "stored", func() bool { return pending(t, db, "a") == 1000 })
	// Let some retries happen so attempts are persisted.
	waitFor(t, "attempts persisted", func() bool {
		n := 0
		_ = db.Scan("a", 0, 0, func(e store.Entry) error {
			if e.Attempts > 0 {
				n++
			}
			return nil
		})
		return n > 0
	})
	h.cancel()

	up := newPeer()
	h2 := start(t, db, 2*time.Millisecond, pipeline.Options{Sinks: []pipeline.Sink{{Name: "a", Sink: up, MaxInFlight: 4}}, MemLimit: 64})
	waitFor(t, "backlog drained", func() bool { return len(up.received()) >= 1000 })
	require.Len(t, checkOrder(t, up.received()), 1000)
	waitFor(t, "outbox empty", func() bool { return pending(t, db, "a") == 0 })
	h2.cancel()
}

func TestBacklogModeBoundsMemoryAndKeepsOrder(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := newPeer()
	var open atomic.Bool
	sink.setFail(func(*adapters.Event) error {
		if !open.Load() {
			return errors.New("503")
		}
		return nil
	})
	h := start(t, db, time.Millisecond, pipeline.Options{Sinks: []pipeline.Sink{{
		Name: "a", Sink: sink, MaxInFlight: 4, Retry: pipeline.Retry{Initial: time.Millisecond, Max: 2 * time.Millisecond},
	}}, MemLimit: 20})
	done, _ := publish(t, h.p, 600, 5)
	wait(t, done, "done callbacks")
	st := h.p.Status()[0]
	require.True(t, st.Backlog, "a lane over its memory limit must spill to the store")
	require.EqualValues(t, 600, st.Depth)
	open.Store(true)
	// Publish more while draining: they must queue behind the stored backlog.
	done2, _ := publish2(t, h.p, 600, 200, 5)
	wait(t, done2, "second batch")
	waitFor(t, "drained", func() bool { return len(uniq(sink.received())) == 800 })
	checkOrder(t, sink.received())
	waitFor(t, "outbox empty", func() bool { return pending(t, db, "a") == 0 })
	waitFor(t, "depth zero", func() bool { return h.p.Status()[0].Depth == 0 })
}

func publish2(t *testing.T, p *pipeline.Pipeline, from, n, keys int) (<-chan struct{}, *atomic.Int64) {
	var wg sync.WaitGroup
	var errs atomic.Int64
	wg.Add(n)
	for i := from; i < from+n; i++ {
		e := &adapters.Event{ID: fmt.Sprintf("e%05d", i), Key: fmt.Sprintf("k%d", i%keys), Payload: []byte("{}")}
		require.NoError(t, p.Publish(context.Background(), "src", e, func(s adapters.Settlement) {
			if !s.OK() {
				errs.Add(1)
			}
			wg.Done()
		}))
	}
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	return ch, &errs
}

func uniq(evs []*adapters.Event) map[string]bool {
	m := map[string]bool{}
	for _, e := range evs {
		m[e.ID] = true
	}
	return m
}

func TestPermanentErrorDeadLetters(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := newPeer()
	sink.setFail(func(e *adapters.Event) error {
		if e.ID == "e00003" {
			return adapters.Permanent(errors.New("400 bad request: summary missing"))
		}
		return nil
	})
	h := start(t, db, 2*time.Millisecond, pipeline.Options{Sinks: []pipeline.Sink{{Name: "a", Sink: sink}}})
	done, _ := publish(t, h.p, 10, 1)
	wait(t, done, "done callbacks")
	waitFor(t, "delivered", func() bool { return len(sink.received()) == 9 })
	var dead []store.Dead
	waitFor(t, "dead letter", func() bool {
		dead = nil
		_ = db.ScanDead("a", 0, 0, func(d store.Dead) error { dead = append(dead, d); return nil })
		return len(dead) == 1
	})
	require.Contains(t, dead[0].Reason, "summary missing")
	var ev adapters.Event
	require.NoError(t, ev.UnmarshalBinary(dead[0].Data))
	require.Equal(t, "e00003", ev.ID)
}

func TestMaxAttemptsDeadLetters(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := newPeer()
	sink.setFail(func(*adapters.Event) error { return errors.New("timeout") })
	h := start(t, db, time.Millisecond, pipeline.Options{Sinks: []pipeline.Sink{{
		Name: "a", Sink: sink, Retry: pipeline.Retry{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 3},
	}}})
	done, _ := publish(t, h.p, 3, 0)
	wait(t, done, "done callbacks")
	waitFor(t, "dead letters", func() bool {
		st, _ := db.Stats()
		return st.Sinks["a"].Dead == 3 && st.Sinks["a"].Pending == 0
	})
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name     string
		payload  string
		topic    string
		unrouted pipeline.Policy
		wantDead int
	}{
		{"unrouted dropped", `{}`, "other/x", pipeline.Drop, 0},
		{"unrouted dead-lettered", `{}`, "other/x", pipeline.DeadLetter, 1},
		{"not JSON dead-lettered", `not json`, "alarms/x", pipeline.DeadLetter, 1},
		{"oversize dead-lettered", `{"big":"` + string(make([]byte, 200)) + `"}`, "alarms/x", pipeline.Drop, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.MustOpen(t)
			sink := newPeer()
			h := start(t, db, time.Millisecond, pipeline.Options{
				Sinks:    []pipeline.Sink{{Name: "a", Sink: sink}},
				Router:   pipeline.NewRouter([]pipeline.Route{{Name: "alarms", Topics: []string{"alarms/#"}, To: []string{"a"}, RequireJSON: true}}),
				Unrouted: tc.unrouted, MaxEventBytes: 100,
			})
			ev := &adapters.Event{ID: "x", Topic: tc.topic, Payload: []byte(tc.payload)}
			require.NoError(t, adapters.PublishWait(context.Background(), h.p.Publisher("src"), ev))
			st, err := db.Stats()
			require.NoError(t, err)
			require.Equal(t, tc.wantDead, st.Sinks[pipeline.RejectedSink].Dead)
			require.Empty(t, sink.received())
		})
	}
}
