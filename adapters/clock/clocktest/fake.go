// Package clocktest provides Fake, a clock.Clock that moves only when a test advances
// it. Use it where testing/synctest cannot work: when the code under test also talks
// to a real peer over the network (see the clock package documentation).
package clocktest

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
)

// Fake is a manual clock. Its timers and tickers fire only from Advance or AdvanceTo,
// in deadline order (arming order among equal deadlines); while one fires, Now reads
// its deadline. A timer armed for a zero or negative duration fires at once, as with
// the time package. A channel timer's send never blocks (the channel holds one value, a
// tick is dropped when it is full, as with the time package). Stop and Reset empty the
// channel, so no value sent before them is received after (Go 1.23 timer semantics).
// An AfterFunc function runs in its own goroutine, so Advance returns without waiting
// for it. The zero Fake is not usable: call NewFake.
type Fake struct {
	mu     sync.Mutex // guards now, timers, seq
	now    time.Time
	timers []*timer // armed ones only
	seq    uint64
	// armed, when not nil, is closed (and dropped) the next time a timer is armed:
	// WaitNext waits on it.
	armed chan struct{}
}

var _ clock.Clock = (*Fake)(nil)

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Since returns Now minus t.
func (f *Fake) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// NewTimer arms a channel timer for Now+d.
func (f *Fake) NewTimer(d time.Duration) clock.Timer {
	t := &timer{f: f, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// AfterFunc arms a timer that runs fn in a goroutine at Now+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) clock.Timer {
	t := &timer{f: f, fn: fn}
	t.Reset(d)
	return t
}

// NewTicker arms a ticker with period d.
func (f *Fake) NewTicker(d time.Duration) clock.Ticker {
	if d <= 0 {
		panic("clocktest: non-positive ticker period")
	}
	t := &timer{f: f, ch: make(chan time.Time, 1)}
	t.resetTicker(d)
	return tickerOf{t}
}

// Next returns the deadline of the earliest armed timer or ticker; false when none
// is armed. A test reads it (or waits with WaitNext) to learn that the code under
// test has armed the timer it expects, and advances to it.
func (f *Fake) Next() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.timers) == 0 {
		return time.Time{}, false
	}
	return f.earliestLocked().when, true
}

// WaitNext waits until a timer or ticker is armed and returns the earliest deadline,
// like Next; false when none was armed within d of real time. A test calls it to wait
// for the code under test to arm the timer it expects, without polling.
func (f *Fake) WaitNext(d time.Duration) (time.Time, bool) {
	limit := time.NewTimer(d)
	defer limit.Stop()
	for {
		f.mu.Lock()
		if len(f.timers) > 0 {
			when := f.earliestLocked().when
			f.mu.Unlock()
			return when, true
		}
		if f.armed == nil {
			f.armed = make(chan struct{})
		}
		armed := f.armed
		f.mu.Unlock()
		select {
		case <-armed:
		case <-limit.C:
			return time.Time{}, false
		}
	}
}

// armLocked adds t to the armed timers and wakes WaitNext.
func (f *Fake) armLocked(t *timer) {
	f.timers = append(f.timers, t)
	if f.armed != nil {
		close(f.armed)
		f.armed = nil
	}
}

// Advance moves the clock forward by d, firing every timer due on the way.
func (f *Fake) Advance(d time.Duration) { f.AdvanceTo(f.Now().Add(d)) }

// AdvanceTo moves the clock to t (never backwards), firing every timer due on the
// way, tickers as often as their period fits.
func (f *Fake) AdvanceTo(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.timers) > 0 {
		next := f.earliestLocked()
		if next.when.After(t) {
			break
		}
		if next.when.After(f.now) {
			f.now = next.when
		}
		if next.period > 0 {
			next.when = next.when.Add(next.period)
			next.seq = f.nextSeq()
		} else {
			f.removeLocked(next)
		}
		next.fireLocked()
	}
	if t.After(f.now) {
		f.now = t
	}
}

func (f *Fake) earliestLocked() *timer {
	return slices.MinFunc(f.timers, func(a, b *timer) int {
		if c := a.when.Compare(b.when); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
}

func (f *Fake) nextSeq() uint64 {
	f.seq++
	return f.seq
}

// removeLocked disarms t; it reports whether t was armed.
func (f *Fake) removeLocked(t *timer) bool {
	i := slices.Index(f.timers, t)
	if i < 0 {
		return false
	}
	f.timers = slices.Delete(f.timers, i, i+1)
	return true
}

// timer is a Fake's timer or (period > 0) ticker.
type timer struct {
	f      *Fake
	ch     chan time.Time // nil for AfterFunc
	fn     func()
	when   time.Time     // guarded by f.mu
	period time.Duration // guarded by f.mu; tickers only
	seq    uint64        // guarded by f.mu
}

func (t *timer) C() <-chan time.Time { return t.ch }

// fireLocked runs fn in a goroutine or sends the time without blocking.
func (t *timer) fireLocked() {
	if t.fn != nil {
		go t.fn()
		return
	}
	select {
	case t.ch <- t.f.now:
	default:
	}
}

// drainLocked empties the channel, so that after Stop or Reset no value sent before
// is received (the time package's semantics since Go 1.23).
func (t *timer) drainLocked() {
	if t.ch == nil {
		return
	}
	select {
	case <-t.ch:
	default:
	}
}

func (t *timer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.drainLocked()
	return t.f.removeLocked(t)
}

func (t *timer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := t.f.removeLocked(t)
	t.drainLocked()
	if d <= 0 {
		t.fireLocked()
		return was
	}
	t.when, t.seq = t.f.now.Add(d), t.f.nextSeq()
	t.f.armLocked(t)
	return was
}

func (t *timer) resetTicker(d time.Duration) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.f.removeLocked(t)
	t.drainLocked()
	t.period, t.when, t.seq = d, t.f.now.Add(d), t.f.nextSeq()
	t.f.armLocked(t)
}

// tickerOf gives a ticker timer the clock.Ticker method set.
type tickerOf struct{ t *timer }

func (k tickerOf) C() <-chan time.Time { return k.t.ch }
func (k tickerOf) Stop()               { k.t.Stop() }
func (k tickerOf) Reset(d time.Duration) {
	if d <= 0 {
		panic("clocktest: non-positive ticker period")
	}
	k.t.resetTicker(d)
}
