package adaptertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
)

// ErrRejected is the error a Recorder refuses an event with when it was told to
// refuse.
var ErrRejected = errors.New("adaptertest: recorder refused the event")

// Recorder is an [adapters.Publisher] for source tests. It records every Publish and
// completes each with done, by default at once; options make it refuse events or
// complete them later from other goroutines. Accepted events are settled with each
// outcome but Refused in turn (stored, delivered, dead-lettered, dropped), so a source
// that acknowledges only some of them fails its tests. It is safe for concurrent use.
type Recorder struct {
	reject func(e *adapters.Event, nth int) error // nil: accept everything
	delay  func(e *adapters.Event, seq int) time.Duration

	pending sync.WaitGroup // counts delayed done calls not yet made

	mu        sync.Mutex // guards the fields below
	published []*adapters.Event
	accepted  []*adapters.Event
	rejected  []*adapters.Event
	seen      map[string]int // Publish calls per payload
}

// RecorderOption configures a Recorder.
type RecorderOption func(*Recorder)

// RejectWhen makes the Recorder complete an event with the error f returns (nil
// accepts). nth counts Publish calls with the same payload, starting at 1, so a
// redelivery can be told from the first delivery.
func RejectWhen(f func(e *adapters.Event, nth int) error) RecorderOption {
	return func(r *Recorder) { r.reject = f }
}

// RejectFirstDelivery makes the Recorder complete the first Publish of each distinct
// payload with ErrRejected and accept every later one: a source that acknowledges
// only after an accepted settlement must have upstream redeliver each message once.
func RejectFirstDelivery() RecorderOption {
	return RejectWhen(func(_ *adapters.Event, nth int) error {
		if nth == 1 {
			return ErrRejected
		}
		return nil
	})
}

// DelayDone makes the Recorder call done from a timer goroutine after f's delay
// rather than before Publish returns. seq numbers Publish calls from 0; a delay that
// shrinks with seq completes events out of order.
func DelayDone(f func(e *adapters.Event, seq int) time.Duration) RecorderOption {
	return func(r *Recorder) { r.delay = f }
}

// accepted are the outcomes a Recorder settles accepted events with, in turn.
var accepted = []adapters.Outcome{adapters.Stored, adapters.Delivered, adapters.DeadLettered, adapters.Dropped}

// NewRecorder returns a Recorder configured by opts.
func NewRecorder(opts ...RecorderOption) *Recorder {
	r := &Recorder{seen: make(map[string]int)}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Publish records e and completes it as configured. Like the daemon, it returns
// ctx.Err() without recording or calling done when ctx has already ended.
func (r *Recorder) Publish(ctx context.Context, e *adapters.Event, done func(adapters.Settlement)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e == nil {
		return errors.New("adaptertest: Publish of a nil event")
	}
	r.mu.Lock()
	seq := len(r.published)
	r.published = append(r.published, e)
	r.seen[string(e.Payload)]++
	nth := r.seen[string(e.Payload)]
	r.mu.Unlock()

	var result error
	if r.reject != nil {
		result = r.reject(e, nth)
	}
	complete := func() {
		r.mu.Lock()
		s := adapters.Settled(accepted[seq%len(accepted)], "")
		if result == nil {
			r.accepted = append(r.accepted, e)
		} else {
			r.rejected = append(r.rejected, e)
			s = adapters.Refuse(result)
		}
		r.mu.Unlock()
		done(s)
	}
	var d time.Duration
	if r.delay != nil {
		d = r.delay(e, seq)
	}
	if d <= 0 {
		complete()
		return nil
	}
	r.pending.Add(1)
	// The timer goroutine exits after calling done once.
	time.AfterFunc(d, func() {
		defer r.pending.Done()
		complete()
	})
	return nil
}

// Published returns every event passed to Publish, in call order.
func (r *Recorder) Published() []*adapters.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*adapters.Event(nil), r.published...)
}

// Accepted returns the events settled without refusal, in completion order.
func (r *Recorder) Accepted() []*adapters.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*adapters.Event(nil), r.accepted...)
}

// Rejected returns the events refused, in completion order.
func (r *Recorder) Rejected() []*adapters.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*adapters.Event(nil), r.rejected...)
}

// Wait blocks until every delayed done call has been made.
func (r *Recorder) Wait() { r.pending.Wait() }

// WaitFor polls until cond holds for the accepted events or fails the test after
// timeout, naming what.
func (r *Recorder) WaitFor(t testing.TB, timeout time.Duration, what string, cond func(accepted []*adapters.Event) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(r.Accepted()) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s: %d events published, %d accepted, %d rejected",
				timeout, what, len(r.Published()), len(r.Accepted()), len(r.Rejected()))
		}
		time.Sleep(pollInterval)
	}
}
