package mqtt

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// acker is a received message that can be acknowledged: paho's Message.
type acker interface{ Ack() }

// Entry states.
const (
	entryPending = iota
	entryOK
	entryFailed
)

// ackQueue releases acknowledgements for one connection in the order the messages
// arrived (MQTT 3.1.1 §4.6), whatever order their done callbacks come in. The
// acknowledgement of a message is released once it and every message before it are
// done. The first failure poisons the queue: neither that message nor any later one
// is ever acknowledged on this connection, so the broker redelivers them after a
// reconnect.
type ackQueue struct {
	slots  chan struct{} // a token per held message; its capacity is the inflight limit
	wake   chan struct{} // capacity 1: an entry became done
	onFail func(error)   // called once, on the first failure; must not block
	acked  atomic.Int64  // acknowledgements released so far

	mu     sync.Mutex    // guards items, failed and idle
	items  []*ackEntry   // held messages in arrival order
	failed bool          // a message failed: release nothing from it on
	idle   chan struct{} // closed by release once nothing more can be released; nil then
}

// ackEntry is one held message.
type ackEntry struct {
	q     *ackQueue
	m     acker
	state int // guarded by q.mu
}

func newAckQueue(max int, onFail func(error)) *ackQueue {
	return &ackQueue{
		slots:  make(chan struct{}, max),
		wake:   make(chan struct{}, 1),
		onFail: onFail,
	}
}

// push holds m until its done callback; it blocks while the inflight limit is
// reached and returns ctx.Err() if ctx ends first.
func (q *ackQueue) push(ctx context.Context, m acker) (*ackEntry, error) {
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	e := &ackEntry{q: q, m: m}
	q.mu.Lock()
	q.items = append(q.items, e)
	if q.idle == nil && !q.stuckLocked() {
		q.idle = make(chan struct{})
	}
	q.mu.Unlock()
	return e, nil
}

// done records the outcome of e's delivery. Only the first call counts. It never
// blocks.
func (e *ackEntry) done(err error) {
	q := e.q
	q.mu.Lock()
	if e.state != entryPending {
		q.mu.Unlock()
		return
	}
	first := false
	if err != nil {
		e.state = entryFailed
		if !q.failed {
			q.failed, first = true, true
		}
	} else {
		e.state = entryOK
	}
	q.mu.Unlock()
	if first && q.onFail != nil {
		q.onFail(err)
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// stuckLocked reports whether nothing more can be released: the queue is empty or
// its head failed.
func (q *ackQueue) stuckLocked() bool {
	return len(q.items) == 0 || q.items[0].state == entryFailed
}

// setIdleLocked wakes waitIdle: nothing more can be released.
func (q *ackQueue) setIdleLocked() {
	if q.idle != nil {
		close(q.idle)
		q.idle = nil
	}
}

// release acknowledges the done prefix of the queue, in order, and returns how many
// it acknowledged. Only the goroutine running run calls it, so acknowledgements are
// sent one at a time in order.
func (q *ackQueue) release() int {
	q.mu.Lock()
	n := 0
	for n < len(q.items) && q.items[n].state == entryOK {
		n++
	}
	ready := q.items[:n:n]
	q.items = q.items[n:]
	q.mu.Unlock()
	for _, e := range ready {
		e.m.Ack()
		<-q.slots
	}
	q.acked.Add(int64(n))
	// Idle only once the acknowledgements are handed over, so that a disconnect
	// after waitIdle cannot overtake them.
	q.mu.Lock()
	if len(q.items) == 0 {
		q.items = nil
	}
	if q.stuckLocked() {
		q.setIdleLocked()
	}
	q.mu.Unlock()
	return n
}

// run releases acknowledgements as done callbacks arrive. It returns when stop is
// closed, after a last release.
func (q *ackQueue) run(stop <-chan struct{}) {
	for {
		select {
		case <-q.wake:
			q.release()
		case <-stop:
			q.release()
			return
		}
	}
}

// waitIdle waits up to d until nothing more can be released (every held message
// acknowledged, or the next one failed), and reports whether that happened. It
// relies on the goroutine running run.
func (q *ackQueue) waitIdle(d time.Duration) bool {
	q.mu.Lock()
	ch := q.idle
	q.mu.Unlock()
	if ch == nil {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}
