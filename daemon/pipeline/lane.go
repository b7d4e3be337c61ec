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
// lane's goroutines on wg.
func (l *lane) start(ctx, sendCtx context.Context, wg *sync.WaitGroup, stored int) {
	l.mu.Lock()
	l.depth += int64(stored)
	l.lastProgress = l.p.now()
	l.started = true
	l.loading = true
	l.mu.Unlock()
	// The first page loads before Publish is let through and before anything is
	// committed, so a lane with an empty outbox starts in direct mode.
	l.loadPage()

	wg.Add(1 + l.maxInFlight)
	go func() { // exits when ctx ends
		defer wg.Done()
		l.connectLoop(ctx)
	}()
	for i := 0; i < l.maxInFlight; i++ {
		go func() { // exits when ctx ends, after its current send
			defer wg.Done()
			l.worker(ctx, sendCtx)
		}()
	}
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
