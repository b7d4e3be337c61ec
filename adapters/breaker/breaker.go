// Package breaker is a per-destination circuit breaker for sinks (spec
// alerta-federation.md §9.3): it opens after a number of consecutive retryable
// failures, refuses requests while open so that the pipeline holds the outbox
// instead of hammering a dead peer, and after a pause lets one probe through
// (half-open) whose outcome closes or re-opens it. Time comes from a clock.Clock, so
// tests drive it with clocktest.Fake.
package breaker

import (
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
)

// State is a breaker's state.
type State string

// The three states.
const (
	Closed   State = "closed"    // requests flow; failures are counted
	Open     State = "open"      // requests are refused until the pause is over
	HalfOpen State = "half_open" // one probe request is let through
)

// Defaults of a zero Config.
const (
	DefaultFailures = 5
	DefaultOpenFor  = 30 * time.Second
)

// probeWait is the wait Allow suggests while another caller's probe is in flight:
// short, because the probe's outcome decides within one request timeout.
const probeWait = time.Second

// Config sets when a breaker opens and for how long.
type Config struct {
	// Failures is how many consecutive retryable failures open the breaker. Zero
	// means 5.
	Failures int
	// OpenFor is how long the breaker stays open before it lets a probe through.
	// Zero means 30s.
	OpenFor time.Duration
}

// Change is one state transition, handed to the breaker's observer.
type Change struct {
	From, To State
	// Failures is the count of consecutive failures when the change happened.
	Failures int
	// Until is when an open breaker lets a probe through (zero unless To is Open).
	Until time.Time
}

// Breaker is a circuit breaker. It is safe for concurrent use.
type Breaker struct {
	cfg      Config
	clk      clock.Clock
	onChange func(Change)

	nmu sync.Mutex // held while onChange runs, taken before mu is released

	mu      sync.Mutex // guards the fields below
	state   State
	fails   int       // consecutive failures
	until   time.Time // when Open ends
	probing bool      // a half-open probe is in flight
}

// New returns a closed breaker. onChange, if not nil, is called after every state
// transition, on the goroutine that caused it, outside the breaker's state lock and
// in the order the transitions happened, also when several goroutines cause them. It
// must not call the breaker, and should be quick: the next transition waits for it.
func New(cfg Config, clk clock.Clock, onChange func(Change)) *Breaker {
	if cfg.Failures <= 0 {
		cfg.Failures = DefaultFailures
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = DefaultOpenFor
	}
	return &Breaker{cfg: cfg, clk: clock.Or(clk), onChange: onChange, state: Closed}
}

// State returns the current state. An open breaker whose pause is over still reads
// Open until the next Allow turns it half-open.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// Remaining returns how long an open breaker stays open (0 in any other state or
// once the pause is over).
func (b *Breaker) Remaining() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Open {
		return 0
	}
	return max(b.until.Sub(b.clk.Now()), 0)
}

// Allow asks to send one request. It reports true when the request may go: always
// when closed; when open once the pause is over, which makes the breaker half-open
// with this request as its probe; when half-open only if no probe is in flight.
// Otherwise it reports false with how long to wait. Every allowed request must end
// in exactly one of Success, Failure or Release.
func (b *Breaker) Allow() (bool, time.Duration) {
	b.mu.Lock()
	var ch *Change
	ok, wait := true, time.Duration(0)
	switch b.state {
	case Open:
		if rem := b.until.Sub(b.clk.Now()); rem > 0 {
			ok, wait = false, rem
			break
		}
		ch = b.setLocked(HalfOpen)
		b.probing = true
	case HalfOpen:
		if b.probing {
			ok, wait = false, min(probeWait, b.cfg.OpenFor)
		} else {
			b.probing = true
		}
	}
	b.unlockNotify(ch)
	return ok, wait
}

// Success records that an allowed request reached the peer and got an answer that
// shows it works (a success, or an answer that retrying cannot change): the failure
// count resets and a half-open breaker closes.
func (b *Breaker) Success() {
	b.mu.Lock()
	var ch *Change
	b.fails = 0
	b.probing = false
	if b.state != Closed {
		ch = b.setLocked(Closed)
	}
	b.unlockNotify(ch)
}

// Failure records a retryable failure of an allowed request (transport error,
// timeout, 408, 429, 5xx). The Failures-th in a row opens a closed breaker; a failed
// probe re-opens a half-open one at once.
func (b *Breaker) Failure() {
	b.mu.Lock()
	var ch *Change
	b.fails++
	switch b.state {
	case Closed:
		if b.fails >= b.cfg.Failures {
			ch = b.openLocked()
		}
	case HalfOpen:
		b.probing = false
		ch = b.openLocked()
	}
	b.unlockNotify(ch)
}

// Release ends an allowed request that gave no verdict on the peer (its context was
// cancelled, the event could not be built): nothing is counted, and a half-open
// breaker may let another probe through.
func (b *Breaker) Release() {
	b.mu.Lock()
	if b.state == HalfOpen {
		b.probing = false
	}
	b.mu.Unlock()
}

func (b *Breaker) openLocked() *Change {
	b.until = b.clk.Now().Add(b.cfg.OpenFor)
	return b.setLocked(Open)
}

func (b *Breaker) setLocked(to State) *Change {
	ch := &Change{From: b.state, To: to, Failures: b.fails}
	if to == Open {
		ch.Until = b.until
	}
	b.state = to
	return ch
}

// unlockNotify releases b.mu and hands ch, if any, to the observer. The observer
// lock is taken before b.mu is released, so that a later transition (which needs
// b.mu first) cannot be reported before this one even when another goroutine causes
// it: the observer always ends on the breaker's current state, which is what the
// health condition and the state gauge show.
func (b *Breaker) unlockNotify(ch *Change) {
	if ch == nil || b.onChange == nil {
		b.mu.Unlock()
		return
	}
	b.nmu.Lock()
	b.mu.Unlock()
	defer b.nmu.Unlock()
	b.onChange(*ch)
}
