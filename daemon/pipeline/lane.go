package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/store"
)

// lane delivers to one sink.
type lane struct {
	p           *Pipeline
	name        string
	sink        adapters.Sink
	retry       Retry
	maxInFlight int
	memLimit    int
	log         *slog.Logger

	wake    chan struct{} // capacity 1: work may be ready
	connReq chan struct{} // capacity 1: the sink needs Connect

	// The lane's goroutines (connectLoop and the workers) and how to stop them alone,
	// for a sink swapped or removed while the pipeline runs (halt): cancel ends their
	// loop, cancelSends their in-flight sends. Set by launch, used by halt; both run
	// under the pipeline's reconfMu.
	cancel      context.CancelFunc
	cancelSends context.CancelFunc
	running     sync.WaitGroup

	mu           sync.Mutex // guards every field below
	keys         map[string]*keyQ
	ready        []string
	delayed      delayHeap
	timer        clock.Timer
	memCount     int
	inflight     int
	connected    bool
	backlog      bool
	loading      bool
	loadedSeq    uint64
	spillPending int
	known        map[uint64]struct{} // seqs of stored items held in memory
	forgetting   map[uint64]struct{} // seqs whose delete or dead letter is being committed
	depth        int64
	held         heldQueue // fresh items whose publish job the writer holds back (DeferUntil)
	freeQs       []*keyQ   // emptied key queues for reuse: most keys hold one item at a time
	lastErr      string
	failing      bool
	lastProgress time.Time
	stopped      bool
	started      bool
}

func newLane(p *Pipeline, s Sink) *lane {
	n := s.MaxInFlight
	if n <= 0 {
		n = 1
	}
	l := &lane{
		p: p, name: s.Name, sink: s.Sink, retry: s.Retry.WithDefaults(), maxInFlight: n,
		memLimit: p.opt.MemLimit, log: p.log.With("sink", s.Name),
		wake: make(chan struct{}, 1), connReq: make(chan struct{}, 1),
		keys: map[string]*keyQ{}, known: map[uint64]struct{}{}, forgetting: map[uint64]struct{}{},
		backlog: true, // until the first load has seen the end of the stored outbox
	}
	l.connReq <- struct{}{}
	return l
}

// start takes the lane's stored backlog count, loads its first page and launches the
// lane's goroutines.
func (l *lane) start(ctx, sendCtx context.Context, stored int) {
	l.mu.Lock()
	l.depth += int64(stored)
	l.lastProgress = l.p.now()
	l.started = true
	l.loading = true
	l.mu.Unlock()
	// The first page loads before Publish is let through and before anything is
	// committed, so a lane with an empty outbox starts in direct mode.
	l.loadPage()
	l.launch(ctx, sendCtx)
}

// launch starts the lane's connect loop and workers under contexts of their own
// (children of ctx and sendCtx), counted by the pipeline and by the lane.
func (l *lane) launch(ctx, sendCtx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	sendCtx, l.cancelSends = context.WithCancel(sendCtx)
	l.mu.Lock()
	n := l.maxInFlight
	l.mu.Unlock()
	l.p.lanes.Add(1 + n)
	l.running.Add(1 + n)
	go func() { // exits when ctx ends
		defer l.p.lanes.Done()
		defer l.running.Done()
		l.connectLoop(ctx)
	}()
	for i := 0; i < n; i++ {
		go func() { // exits when ctx ends, after its current send
			defer l.p.lanes.Done()
			defer l.running.Done()
			l.worker(ctx, sendCtx)
		}()
	}
}

// halt stops the lane's goroutines: no worker takes another item, an in-flight send
// gets up to timeout to finish and is then cancelled (a cancelled send is a failed
// attempt: its event stays queued, and in the store when it was stored). The lane is
// left disconnected, so that the writer no longer holds its events back for it.
// When ctx ends (the pipeline stops) the sends are cancelled at once. A send that
// ignores its cancellation is still waited for (see docs/reload.md).
func (l *lane) halt(ctx context.Context, timeout time.Duration) {
	l.cancel()
	done := make(chan struct{})
	go func() { l.running.Wait(); close(done) }() // exits once the goroutines have
	t := l.p.opt.Clock.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-ctx.Done():
		l.cancelSends()
	case <-t.C():
		l.log.Warn("sink swap: cancelling in-flight sends after the drain timeout; their events are retried",
			"timeout_s", timeout.Seconds())
		l.cancelSends()
	}
	<-done
	l.cancelSends()
	l.mu.Lock()
	if l.connected {
		l.connected = false
		l.p.healthGen.Add(1)
	}
	l.mu.Unlock()
}

// stop ends the lane's timer and refuses the events of unbuffered publishes it
// still holds: none will be delivered, and nothing of them is stored.
func (l *lane) stop() {
	var refused []*pubJob
	l.mu.Lock()
	l.stopped = true
	if l.timer != nil {
		l.timer.Stop()
	}
	for _, q := range l.keys {
		for _, it := range q.items {
			if it.job != nil && it.job.unbuffered && !it.settled {
				it.settled = true
				refused = append(refused, it.job)
			}
		}
	}
	l.mu.Unlock()
	for _, j := range refused {
		j.refuse(fmt.Errorf("%w: %w", ErrNotDelivered, ErrStopping))
	}
}

// setFailingLocked records whether the sink's last attempt failed, counting a change
// in the pipeline's health generation (see pubJob.DeferUntil).
func (l *lane) setFailingLocked(f bool) {
	if l.failing != f {
		l.failing = f
		l.p.healthGen.Add(1)
	}
}

func (l *lane) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *lane) status() SinkStatus {
	l.mu.Lock()
	s := SinkStatus{
		Name: l.name, Connected: l.connected, Depth: l.depth, InFlight: l.inflight,
		Backlog: l.backlog, LastError: l.lastErr, Failing: l.failing,
	}
	for _, q := range l.keys {
		if len(q.items) > 0 && (s.Oldest.IsZero() || q.items[0].enqueued.Before(s.Oldest)) {
			s.Oldest = q.items[0].enqueued
		}
	}
	backlog := l.backlog
	l.mu.Unlock()
	if backlog {
		_ = l.p.opt.DB.Scan(l.name, 0, 1, func(e store.Entry) error {
			if s.Oldest.IsZero() || e.Enqueued.Before(s.Oldest) {
				s.Oldest = e.Enqueued
			}
			return nil
		})
	}
	return s
}

func (l *lane) alive(now time.Time, stuckAfter time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inflight >= l.maxInFlight && len(l.ready) > 0 && now.Sub(l.lastProgress) > stuckAfter {
		return fmt.Errorf("sink %s: no send has finished for %s while events wait", l.name, now.Sub(l.lastProgress).Round(time.Second))
	}
	return nil
}
