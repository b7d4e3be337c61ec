package pipeline

import (
	"container/heap"
	"context"
	"fmt"
	"time"
)

// keyQ is the FIFO of items of one ordering key.
type keyQ struct {
	items     []*item
	scheduled bool     // the key sits in the ready list or the delay heap
	one       [1]*item // items' backing array while it holds one item: the usual case
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
