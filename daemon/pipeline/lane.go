package pipeline

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/store"
)

// maxErrText bounds the error text kept per event and in the store.
const maxErrText = 512

// keyQ is the FIFO of items of one ordering key.
type keyQ struct {
	items     []*item
	scheduled bool     // the key sits in the ready list or the delay heap
	one       [1]*item // items' backing array while it holds one item: the usual case
}

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

// offer adds a freshly published item: to memory in direct mode, or to the store only
// (spilled) in backlog mode.
func (l *lane) offer(it *item) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.checkLocked("offer")
	l.depth++
	if !l.backlog && l.memCount < l.memLimit {
		it.inMem = true
		l.enqueueLocked(it)
		return
	}
	if !l.backlog {
		l.backlog = true
		l.p.healthGen.Add(1)
		l.log.Info("sink is behind: new events go to the store and are paged back in order",
			"in_memory", l.memCount)
	}
	it.spilled = true
	l.spillPending++
}

// offerDirect adds an item of an unbuffered publish to memory. It refuses, leaving
// the item out, when the sink is disconnected, behind (its outbox holds events the
// item would overtake) or out of memory room: the source then has upstream redeliver.
func (l *lane) offerDirect(it *item) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.checkLocked("offerDirect")
	switch {
	case !l.connected:
		return fmt.Errorf("sink %s is not connected: %w", l.name, ErrNotDelivered)
	case l.backlog || l.memCount >= l.memLimit:
		return fmt.Errorf("sink %s is behind: %w", l.name, ErrNotDelivered)
	}
	l.depth++
	it.inMem = true
	l.enqueueLocked(it)
	return nil
}

func (l *lane) enqueueLocked(it *item) {
	q := l.keys[it.key]
	if q == nil {
		if n := len(l.freeQs); n > 0 {
			q, l.freeQs[n-1] = l.freeQs[n-1], nil
			l.freeQs = l.freeQs[:n-1]
		} else {
			q = &keyQ{}
		}
		q.items = q.one[:0]
		l.keys[it.key] = q
	}
	q.items = append(q.items, it)
	l.memCount++
	if len(q.items) == 1 {
		l.scheduleLocked(it.key, q)
	}
}

// scheduleLocked puts key on the ready list, or on the delay heap if its head waits
// for a retry time.
func (l *lane) scheduleLocked(key string, q *keyQ) {
	if len(q.items) == 0 || q.scheduled || q.items[0].inflight {
		return
	}
	q.scheduled = true
	head := q.items[0]
	if !head.next.IsZero() && head.next.After(l.p.now()) {
		heap.Push(&l.delayed, delayed{at: head.next, key: key})
		l.armTimerLocked()
		return
	}
	l.ready = append(l.ready, key)
	l.signal()
}

func (l *lane) armTimerLocked() {
	if l.stopped || len(l.delayed) == 0 {
		return
	}
	d := l.delayed[0].at.Sub(l.p.now())
	if d < 0 {
		d = 0
	}
	if l.timer == nil {
		l.timer = l.p.opt.Clock.AfterFunc(d, l.onTimer) // one shot; re-armed by armTimerLocked
	} else {
		l.timer.Reset(d)
	}
}

// onTimer moves keys whose retry time has come to the ready list.
func (l *lane) onTimer() {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.checkLocked("timer")
	now := l.p.now()
	for len(l.delayed) > 0 && !l.delayed[0].at.After(now) {
		d := heap.Pop(&l.delayed).(delayed)
		q := l.keys[d.key]
		if q == nil || len(q.items) == 0 {
			continue
		}
		if h := q.items[0]; h.next.After(now) {
			heap.Push(&l.delayed, delayed{at: h.next, key: d.key})
			continue
		}
		l.ready = append(l.ready, d.key)
		l.signal()
	}
	l.armTimerLocked()
}

// take blocks until the sink is connected and a key's head is due, marks it in
// flight and returns it; nil once ctx ends.
func (l *lane) take(ctx context.Context) *item {
	for {
		l.mu.Lock()
		if ctx.Err() != nil || l.stopped {
			l.mu.Unlock()
			return nil
		}
		for l.connected && len(l.ready) > 0 {
			key := l.ready[0]
			l.ready[0] = ""
			l.ready = l.ready[1:]
			q := l.keys[key]
			if q == nil {
				continue
			}
			q.scheduled = false
			if len(q.items) == 0 || q.items[0].inflight {
				continue
			}
			it := q.items[0]
			it.inflight = true
			l.inflight++
			if len(l.ready) > 0 {
				l.signal()
			}
			l.checkLocked("take")
			l.mu.Unlock()
			return it
		}
		l.mu.Unlock()
		select {
		case <-l.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// worker sends until ctx ends. In-flight sends use sendCtx, which outlives ctx by the
// drain timeout.
func (l *lane) worker(ctx, sendCtx context.Context) {
	for {
		it := l.take(ctx)
		if it == nil {
			return
		}
		err := l.send(sendCtx, it.ev)
		if err != nil && errors.Is(err, adapters.ErrNotConnected) {
			l.mu.Lock()
			lost := l.connected
			if l.connected {
				l.connected = false
				l.p.healthGen.Add(1)
			}
			l.mu.Unlock()
			if lost {
				l.p.bus.Publish(events.Event{Kind: events.SinkDisconnected, Sink: l.name, Reason: err.Error()})
			}
			select {
			case l.connReq <- struct{}{}:
			default:
			}
		}
		l.finish(it, err)
	}
}

func (l *lane) send(ctx context.Context, e *adapters.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = adapters.Permanent(fmt.Errorf("sink panicked: %v", r))
		}
	}()
	return l.sink.Send(ctx, e)
}

// connectLoop calls Connect with backoff whenever the sink needs it, until ctx ends.
func (l *lane) connectLoop(ctx context.Context) {
	first := true // the first attempt since start: its failure is a SinkDisconnected
	for {
		select {
		case <-l.connReq:
		case <-ctx.Done():
			return
		}
		for attempt := 1; ; attempt++ {
			err := l.sink.Connect(ctx)
			if err == nil {
				l.mu.Lock()
				l.connected = true
				l.p.healthGen.Add(1)
				l.mu.Unlock()
				first = false
				l.p.bus.Publish(events.Event{Kind: events.SinkConnected, Sink: l.name})
				if attempt > 1 {
					l.log.Info("sink connected", "attempt", attempt)
				}
				l.signal()
				break
			}
			if ctx.Err() != nil {
				return
			}
			d := l.retry.Delay(attempt, 0)
			l.mu.Lock()
			l.lastErr = truncate(err.Error())
			l.setFailingLocked(true)
			l.mu.Unlock()
			if first {
				first = false
				l.p.bus.Publish(events.Event{Kind: events.SinkDisconnected, Sink: l.name, Reason: err.Error()})
			}
			l.p.limiter.log(l.log, "connect:"+l.name, "sink connect failed", "attempt", attempt,
				"retry_in_s", d.Seconds(), "err", err)
			if !clock.Sleep(ctx, l.p.opt.Clock, d) {
				return
			}
		}
	}
}

// finish records the outcome of one send.
func (l *lane) finish(it *item, err error) {
	now := l.p.now()
	var ops []op
	var finished, failed *pubJob
	var deadJob *opJob
	// What to publish on the bus once the lock is released: Delivered, Retried or
	// DeadLettered. The event's id, key and source never change after Publish.
	emit := events.Event{Sink: l.name, Source: it.ev.Source, EventID: it.ev.ID, Key: it.ev.Key}
	l.mu.Lock()
	it.inflight = false
	l.inflight--
	l.lastProgress = now
	switch {
	case err == nil:
		l.setFailingLocked(false)
		l.removeHeadLocked(it)
		switch it.st {
		case stFresh:
			it.st = stDone
		case stStoring:
			it.deliveredInCommit = true
		case stStored:
			it.st = stDone
			l.forgetting[it.seq] = struct{}{}
			ops = append(ops, op{kind: opDelete, seq: it.seq})
		}
		finished = l.settleLocked(it, adapters.Settled(adapters.Delivered, ""))
		emit.Kind = events.Delivered
	default:
		msg := truncate(err.Error())
		l.lastErr = msg
		l.setFailingLocked(true)
		it.attempts++
		it.lastErr = msg
		reason := ""
		switch {
		case adapters.IsPermanent(err):
			reason = "rejected: " + msg
		case l.retry.MaxAttempts > 0 && it.attempts >= l.retry.MaxAttempts:
			reason = fmt.Sprintf("gave up after %d attempts: %s", it.attempts, msg)
		case l.retry.MaxAge > 0 && now.Sub(it.ev.Received) > l.retry.MaxAge:
			reason = fmt.Sprintf("gave up after %s: %s", l.retry.MaxAge, msg)
		}
		if it.job != nil && it.job.unbuffered && reason == "" {
			// Upstream redelivers: no retry here, nothing stored.
			l.removeHeadLocked(it)
			it.st = stDone
			it.settled = true
			emit.Kind, emit.Reason = events.Retried, msg
			l.p.limiter.log(l.log, "retry:"+l.name, "send failed; upstream will redeliver (unbuffered source)",
				"event_id", it.ev.ID, "err", msg)
			failed = it.job
			break
		}
		if reason != "" {
			l.removeHeadLocked(it)
			emit.Kind, emit.Reason = events.DeadLettered, reason
			l.p.limiter.log(l.log, "dead:"+l.name, "event dead-lettered", "event_id", it.ev.ID,
				"attempt", it.attempts, "reason", reason)
			if it.job != nil && it.job.unbuffered {
				// Never stored: write the dead letter now, settle once it is durable.
				it.st = stDone
				data, _ := it.ev.MarshalBinary()
				deadJob = &opJob{p: l.p, ops: []op{{kind: opDead, entry: it.entry(data), reason: reason}},
					done: func() {
						l.mu.Lock()
						f := l.settleLocked(it, adapters.Settled(adapters.DeadLettered, reason))
						l.mu.Unlock()
						if f != nil {
							f.finish()
						}
					}}
				break
			}
			switch it.st {
			case stFresh, stStoring:
				it.deadReason = reason // the commit carrying it writes the dead letter
			case stStored:
				it.st = stDone
				l.forgetting[it.seq] = struct{}{}
				data, _ := it.ev.MarshalBinary()
				ops = append(ops, op{kind: opDead, seq: it.seq, entry: it.entry(data), reason: reason})
			}
			break
		}
		hint, _ := adapters.RetryDelay(err)
		d := l.retry.Delay(it.attempts, hint)
		it.next = now.Add(d)
		emit.Kind, emit.Reason = events.Retried, msg
		l.p.limiter.log(l.log, "retry:"+l.name, "send failed, will retry", "event_id", it.ev.ID,
			"attempt", it.attempts, "retry_in_s", d.Seconds(), "err", msg)
		if it.st == stStored {
			ops = append(ops, op{kind: opUpdate, seq: it.seq, attempts: it.attempts, next: it.next, lastErr: it.lastErr})
			it.persisted = it.attempts
		}
		l.scheduleLocked(it.key, l.keys[it.key])
	}
	l.checkLocked("finish")
	l.mu.Unlock()
	l.p.bus.Publish(emit)
	if len(ops) > 0 {
		l.p.submit(&opJob{p: l.p, lane: l, ops: ops})
	}
	if finished != nil {
		finished.finish()
	}
	if deadJob != nil {
		l.p.submit(deadJob)
	}
	if failed != nil {
		failed.refuse(fmt.Errorf("%w: %s", ErrNotDelivered, truncate(err.Error())))
	}
}

// removeHeadLocked drops it, the head of its key, from memory and schedules the next.
func (l *lane) removeHeadLocked(it *item) {
	q := l.keys[it.key]
	q.items[0] = nil
	q.items = q.items[1:]
	l.memCount--
	l.depth--
	if it.seq != 0 {
		delete(l.known, it.seq)
	}
	if len(q.items) == 0 {
		delete(l.keys, it.key)
		if len(l.freeQs) < l.memLimit {
			*q = keyQ{}
			l.freeQs = append(l.freeQs, q)
		}
	} else {
		l.scheduleLocked(it.key, q)
	}
	l.maybeLoadLocked()
}

// settleLocked records r as its part of its publish's settlement and counts it; it
// returns the job when that was the last item, for the caller to finish outside the
// lock.
func (l *lane) settleLocked(it *item, r adapters.Settlement) *pubJob {
	if it.job == nil || it.settled {
		return nil
	}
	it.settled = true
	it.result = r
	if it.job.remaining.Add(-1) == 0 {
		return it.job
	}
	return nil
}

// maybeLoadLocked starts a page load from the store when the lane is in backlog mode
// and memory has room.
func (l *lane) maybeLoadLocked() {
	if !l.backlog || l.loading || l.stopped || !l.started || l.memCount > l.memLimit/2 {
		return
	}
	l.loading = true
	// The page is read on the writer goroutine (loadJob.Prepare): between two commits,
	// after the previous commit's Done has registered every item it stored. A read
	// anywhere else could see a just-committed item that is also in memory and
	// deliver it twice. Submitting from here could block under l.mu, hence the
	// goroutine, which exits once Submit returns.
	go l.p.submit(loadJob{l})
}

// loadJob pages stored items into a lane's memory; see maybeLoadLocked.
type loadJob struct{ l *lane }

// Prepare reads the page; it writes nothing.
func (j loadJob) Prepare(*store.Batch) { j.l.loadPage() }

// Done has nothing to do: the page was loaded in Prepare.
func (loadJob) Done(error) {}

// loadPage reads up to a memory's worth of stored items after loadedSeq and queues
// them. It must run where no commit can land concurrently: on the writer goroutine,
// or before the writer and Publish start.
func (l *lane) loadPage() {
	l.mu.Lock()
	after, n := l.loadedSeq, l.memLimit-l.memCount
	l.mu.Unlock()
	var entries []store.Entry
	err := l.p.opt.DB.Scan(l.name, after, n, func(e store.Entry) error {
		entries = append(entries, e)
		return nil
	})
	var ops []op
	l.mu.Lock()
	defer func() {
		l.checkLocked("load")
		l.mu.Unlock()
		if len(ops) > 0 {
			go l.p.submit(&opJob{p: l.p, lane: l, ops: ops}) // never block the writer goroutine
		}
	}()
	l.loading = false
	if err != nil {
		l.log.Error("reading the outbox failed; retrying", "err", err)
		l.p.opt.Clock.AfterFunc(time.Second, func() { // one shot
			l.mu.Lock()
			defer l.mu.Unlock()
			l.maybeLoadLocked()
		})
		return
	}
	for i := range entries {
		e := &entries[i]
		if e.Seq > l.loadedSeq {
			l.loadedSeq = e.Seq
		}
		if _, ok := l.known[e.Seq]; ok {
			continue
		}
		if _, ok := l.forgetting[e.Seq]; ok {
			continue
		}
		ev := new(adapters.Event)
		if err := ev.UnmarshalBinary(e.Data); err != nil {
			l.depth--
			l.forgetting[e.Seq] = struct{}{}
			ops = append(ops, op{kind: opDead, seq: e.Seq, entry: e, reason: "undecodable event: " + err.Error()})
			continue
		}
		it := &item{
			ev: ev, lane: l, key: orderKey(ev), enqueued: e.Enqueued, seq: e.Seq, st: stStored,
			inMem: true, settled: true, attempts: e.Attempts, persisted: e.Attempts,
			next: e.NextAttempt, lastErr: e.LastError,
		}
		l.known[e.Seq] = struct{}{}
		l.enqueueLocked(it)
	}
	if len(entries) < n && l.spillPending == 0 {
		if l.backlog && l.loadedSeq > 0 {
			l.log.Info("sink caught up with its stored backlog")
		}
		if l.backlog {
			l.backlog = false
			l.p.healthGen.Add(1)
		}
	} else {
		l.maybeLoadLocked()
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

func truncate(s string) string {
	if len(s) > maxErrText {
		return s[:maxErrText] + "…"
	}
	return s
}

// delayed is a key waiting for its head's retry time.
type delayed struct {
	at  time.Time
	key string
}

// delayHeap is a min-heap of delayed keys by time.
type delayHeap []delayed

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
