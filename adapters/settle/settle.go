// Package settle releases acknowledgements in order when settlements arrive out of
// order: the one ordered-settle tracker of the sources that acknowledge upstream in
// arrival order (the MQTT source per connection, the Kafka source per partition, the
// embedded broker's bridge per client).
//
// A source pushes each received message (an Ack handle, an offset, a packet) and hands
// the entry's Done to Publisher.Publish. Release then takes the longest prefix of
// entries whose every part settled with an acceptable outcome and passes their values
// to a function in push order, each exactly once. A refusal stops the prefix for good:
// neither the refused entry nor any later one is ever released, so upstream
// redelivers them all, in order, after the source reconnects or rejoins.
package settle

import (
	"context"
	"errors"
	"sync"

	"github.com/edgerelay/edgerelay/adapters"
)

// ErrClosed is returned by Push once the tracker is closed.
var ErrClosed = errors.New("settle: tracker closed")

// closedCh is returned by Idle when the tracker is idle already.
var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Options configure a Tracker.
type Options struct {
	// Capacity bounds entries pushed and not yet released (the in-flight limit): Push
	// blocks at it. Zero means no bound.
	Capacity int
	// OnFail, when set, is called once, with the first refusal's error, from the
	// goroutine that reported it. It must not block.
	OnFail func(error)
}

// Tracker holds pushed values in order until they are settled and released. Its
// methods may be called from any goroutine.
type Tracker[T any] struct {
	slots  chan struct{} // a token per unreleased entry; nil without Capacity
	ready  chan struct{} // capacity 1: an entry settled
	halted chan struct{} // closed at the first refusal or Close: a Push waiting for a slot gives up
	onFail func(error)
	batch  []T // ReleaseBatch's reused slice: only the goroutine releasing touches it

	mu        sync.Mutex // guards every field below and every entry's pending and err
	items     []*Entry[T]
	releasing bool          // a Release is handing values over
	failed    error         // the first refusal: push nothing more
	closed    bool          // Close was called: push, settle and release nothing more
	idle      chan struct{} // closed once idle; nil until Idle asks while busy
}

// Entry is one pushed value. Its Done is the done callback of a publish.
type Entry[T any] struct {
	t       *Tracker[T]
	value   T
	pending int   // Done calls still due; guarded by t.mu
	err     error // the first refusal among them; guarded by t.mu
}

// New returns an empty tracker.
func New[T any](o Options) *Tracker[T] {
	t := &Tracker[T]{ready: make(chan struct{}, 1), halted: make(chan struct{}), onFail: o.OnFail}
	if o.Capacity > 0 {
		t.slots = make(chan struct{}, o.Capacity)
	}
	return t
}

// Push appends v, to be released once parts Done calls have settled it (zero: at
// once, after the entries before it). It blocks while Capacity entries are
// unreleased and fails with ctx.Err() if ctx ends first, with ErrClosed after Close,
// and with the first refusal once an entry was refused (a later entry could never be
// released).
func (t *Tracker[T]) Push(ctx context.Context, v T, parts int) (*Entry[T], error) {
	if err := t.refusing(); err != nil {
		return nil, err
	}
	if t.slots != nil {
		select {
		case t.slots <- struct{}{}:
		case <-t.halted:
			return nil, t.refusing()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e := &Entry[T]{t: t, value: v, pending: parts}
	t.mu.Lock()
	err := t.refusingLocked()
	if err == nil {
		t.items = append(t.items, e)
	}
	t.mu.Unlock()
	if err != nil {
		t.free(1)
		return nil, err
	}
	if parts <= 0 {
		t.signal()
	}
	return e, nil
}

func (t *Tracker[T]) refusing() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refusingLocked()
}

func (t *Tracker[T]) refusingLocked() error {
	switch {
	case t.closed:
		return ErrClosed
	case t.failed != nil:
		return t.failed
	}
	return nil
}

// Value returns the pushed value.
func (e *Entry[T]) Value() T { return e.value }

// Done records one part's settlement: a Refused one refuses the entry (and with it
// every later one). Calls past the entry's parts, and after Close, are ignored. It
// never blocks.
func (e *Entry[T]) Done(s adapters.Settlement) {
	t := e.t
	t.mu.Lock()
	if e.pending <= 0 || t.closed {
		t.mu.Unlock()
		return
	}
	e.pending--
	var first error
	if !s.OK() && e.err == nil {
		e.err = s.Err
		if e.err == nil {
			e.err = adapters.ErrNoOutcome
		}
		if t.failed == nil {
			t.failed, first = e.err, e.err
			close(t.halted)
		}
	}
	t.checkIdleLocked()
	t.mu.Unlock()
	if first != nil && t.onFail != nil {
		t.onFail(first)
	}
	t.signal()
}

func (t *Tracker[T]) signal() {
	select {
	case t.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled (capacity 1) whenever an entry settled: a goroutine that
// releases acknowledgements waits on it and then calls Release.
func (t *Tracker[T]) Ready() <-chan struct{} { return t.ready }

// Release passes the values of the settled prefix to fn, in push order, and drops
// them; it repeats while more settled meanwhile. It returns how many it released and
// the refusal that stops the prefix, if the first unreleased entry was refused. Calls
// never overlap: while one Release (or ReleaseBatch) runs, another returns (0, nil)
// at once and the running one takes over its work. fn runs without the tracker's
// lock.
func (t *Tracker[T]) Release(fn func(T)) (int, error) {
	return t.release(func(es []*Entry[T]) {
		for _, e := range es {
			fn(e.value)
		}
	})
}

// ReleaseBatch is Release handing fn the values of each settled prefix at once, so
// that their acknowledgements can leave together (one write for several). The slice
// is reused: fn must not keep it. While fn runs the tracker is not Empty, so a value
// that skips the queue cannot be acknowledged before fn's.
func (t *Tracker[T]) ReleaseBatch(fn func([]T)) (int, error) {
	return t.release(func(es []*Entry[T]) {
		vs := t.batch[:0]
		for _, e := range es {
			vs = append(vs, e.value)
		}
		fn(vs)
		clear(vs) // drop what the values point to
		if cap(vs) > maxBatchCap {
			vs = nil // a burst's batch is not kept for good
		}
		t.batch = vs
	})
}

// maxBatchCap bounds the values ReleaseBatch keeps allocated between calls.
const maxBatchCap = 256

// release hands each settled prefix to fn; see Release.
func (t *Tracker[T]) release(fn func([]*Entry[T])) (int, error) {
	t.mu.Lock()
	if t.releasing || t.closed {
		t.mu.Unlock()
		return 0, nil
	}
	t.releasing = true
	n := 0
	for {
		k := 0
		for k < len(t.items) && t.items[k].pending <= 0 && t.items[k].err == nil {
			k++
		}
		if k == 0 {
			break
		}
		ready := t.items[:k:k]
		t.items = t.items[k:]
		if len(t.items) == 0 {
			t.items = nil
		}
		t.mu.Unlock()
		fn(ready)
		t.free(k)
		n += k
		t.mu.Lock()
		if t.closed {
			break
		}
	}
	t.releasing = false
	var err error
	if len(t.items) > 0 {
		err = t.items[0].err
	}
	t.checkIdleLocked()
	t.mu.Unlock()
	return n, err
}

func (t *Tracker[T]) free(n int) {
	if t.slots == nil {
		return
	}
	for range n {
		<-t.slots
	}
}

// Empty reports whether nothing is held, nothing is being released and nothing was
// refused: a value that needs no settlement may then skip the queue.
func (t *Tracker[T]) Empty() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.items) == 0 && !t.releasing && t.failed == nil
}

// idleLocked: nothing more can be released (nothing held, or the first held entry
// was refused) and no Release is handing values over.
func (t *Tracker[T]) idleLocked() bool {
	return !t.releasing && (len(t.items) == 0 || t.items[0].err != nil || t.closed)
}

func (t *Tracker[T]) checkIdleLocked() {
	if t.idle != nil && t.idleLocked() {
		close(t.idle)
		t.idle = nil
	}
}

// Idle returns a channel closed once nothing more can be released: every held entry
// released (and its value handed to Release's fn), or the first one refused, or the
// tracker closed. It only reflects entries pushed before the call.
func (t *Tracker[T]) Idle() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idleLocked() {
		return closedCh
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	return t.idle
}

// Close stops the tracker: Push fails, Done and Release do nothing. It returns the
// values still held, in push order, which will never be released (a Release running
// concurrently still hands over those it took). Later calls return nil.
func (t *Tracker[T]) Close() []T {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	if t.failed == nil {
		close(t.halted)
	}
	items := t.items
	t.items = nil
	t.checkIdleLocked()
	t.mu.Unlock()
	t.free(len(items))
	out := make([]T, len(items))
	for i, e := range items {
		out[i] = e.value
	}
	return out
}
