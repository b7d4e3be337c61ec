package adaptertest_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// memPeer is an in-memory downstream for checking the sink suite itself.
type memPeer struct {
	mu       sync.Mutex // guards the fields below
	got      []adaptertest.Delivery
	failN    int
	failPerm bool
	gen      int // bumped by restart; sinks connected to an older generation must reconnect
}

type memSink struct {
	p      *memPeer
	secret string
	gen    atomic.Int64 // peer generation at Connect; -1 before
}

func (s *memSink) Connect(ctx context.Context) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.gen.Store(int64(s.p.gen))
	return nil
}

func (s *memSink) Send(ctx context.Context, e *adapters.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if int64(s.p.gen) != s.gen.Load() {
		return adapters.ErrNotConnected
	}
	if s.p.failN > 0 {
		s.p.failN--
		if s.p.failPerm {
			return adapters.Permanent(errors.New("rejected by peer"))
		}
		return errors.New("peer unavailable")
	}
	s.p.got = append(s.p.got, adaptertest.Delivery{ID: e.ID, Payload: append([]byte(nil), e.Payload...)})
	return nil
}

func (s *memSink) Close(context.Context) error { return nil }

func TestRunSinkOnMemorySink(t *testing.T) {
	p := &memPeer{}
	adaptertest.RunSink(t, adaptertest.SinkHarness{
		New: func(t *testing.T) adapters.Sink {
			s := &memSink{p: p, secret: "s3cret"}
			s.gen.Store(-1)
			return s
		},
		Received: func(t *testing.T) []adaptertest.Delivery {
			p.mu.Lock()
			defer p.mu.Unlock()
			return append([]adaptertest.Delivery(nil), p.got...)
		},
		FailNext: func(t *testing.T, n int, permanent bool) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.failN, p.failPerm = n, permanent
		},
		Restart: func(t *testing.T) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.gen++
		},
		Ordered: true,
		Secret:  "s3cret",
	})
}

// memUpstream is an in-memory queue that redelivers unacknowledged messages, for
// checking the source suite itself.
type memUpstream struct {
	mu    sync.Mutex // guards queue and wake
	queue [][]byte
	wake  chan struct{}
}

func newMemUpstream() *memUpstream { return &memUpstream{wake: make(chan struct{}, 1)} }

func (u *memUpstream) put(p []byte) {
	u.mu.Lock()
	u.queue = append(u.queue, p)
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *memUpstream) take() ([]byte, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.queue) == 0 {
		return nil, false
	}
	p := u.queue[0]
	u.queue = u.queue[1:]
	return p, true
}

type memSource struct{ u *memUpstream }

// Run publishes queued messages; a message whose done reports an error goes back to
// the queue (redelivery). It returns nil when ctx ends.
func (s *memSource) Run(ctx context.Context, pub adapters.Publisher) error {
	for {
		p, ok := s.u.take()
		if !ok {
			select {
			case <-ctx.Done():
				return nil
			case <-s.u.wake:
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		e := &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindRaw, Payload: p, Received: time.Now()}
		err := pub.Publish(ctx, e, func(s2 adapters.Settlement) {
			if !s2.OK() {
				s.u.put(p)
			}
		})
		if err != nil {
			return nil // ctx ended
		}
	}
}

func TestRunSourceOnMemorySource(t *testing.T) {
	u := newMemUpstream()
	adaptertest.RunSource(t, adaptertest.SourceHarness{
		New:        func(t *testing.T) adapters.Source { return &memSource{u: u} },
		Inject:     func(t *testing.T, payload []byte) { u.put(payload) },
		Redelivers: true,
	})
}

func TestRecorderRejectFirstDelivery(t *testing.T) {
	rec := adaptertest.NewRecorder(adaptertest.RejectFirstDelivery())
	var results []error
	for _, p := range []string{"a", "b", "a", "a"} {
		require.NoError(t, rec.Publish(context.Background(), &adapters.Event{Payload: []byte(p)}, func(s adapters.Settlement) {
			results = append(results, s.Err)
		}))
	}
	require.Equal(t, []error{adaptertest.ErrRejected, adaptertest.ErrRejected, nil, nil}, results)
	require.Len(t, rec.Published(), 4)
	require.Len(t, rec.Accepted(), 2)
	require.Len(t, rec.Rejected(), 2)
}

func TestRecorderCancelledContext(t *testing.T) {
	rec := adaptertest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := rec.Publish(ctx, &adapters.Event{}, func(adapters.Settlement) { called = true })
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, called, "done is never called when Publish returns an error")
	require.Empty(t, rec.Published())
}

func TestRecorderDelayDoneOutOfOrderAndConcurrent(t *testing.T) {
	const n = 50
	rec := adaptertest.NewRecorder(adaptertest.DelayDone(func(_ *adapters.Event, seq int) time.Duration {
		return time.Duration(n-seq) * time.Millisecond
	}))
	var calls atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		// Each publisher goroutine exits after one Publish.
		go func() {
			defer wg.Done()
			e := &adapters.Event{Payload: []byte{byte(i)}}
			require.NoError(t, rec.Publish(context.Background(), e, func(s adapters.Settlement) {
				require.NoError(t, s.Err)
				calls.Add(1)
			}))
		}()
	}
	wg.Wait()
	rec.Wait()
	require.EqualValues(t, n, calls.Load(), "done called exactly once per event")
	require.Len(t, rec.Accepted(), n)
	rec.WaitFor(t, time.Second, "all accepted", func(acc []*adapters.Event) bool { return len(acc) == n })
}
