package hw

import (
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
)

// Change is one state change a Fake recorded: the LED turned On (or off) at At, or,
// with Blink set, handed a hardware blink of BlinkOn/BlinkOff.
type Change struct {
	At                time.Time
	On                bool
	Blink             bool
	BlinkOn, BlinkOff time.Duration
}

// Fake is an LED for tests: it records each change of state with the time of its
// clock. With CanBlink it is also a Blinker. After SetErr every call fails.
type Fake struct {
	Clock    clock.Clock // nil means clock.Real (virtual inside a synctest bubble)
	CanBlink bool

	mu      sync.Mutex // guards the fields below
	err     error
	changes []Change
	on      bool
	known   bool // on holds a state Set has set (no Blink since)
	closed  bool
}

var _ Blinker = (*Fake)(nil)

// Set records a change when on differs from the state (the first Set, and the first
// after a Blink, always records one).
func (f *Fake) Set(on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if f.known && f.on == on {
		return nil
	}
	f.on, f.known = on, true
	f.changes = append(f.changes, Change{At: clock.Or(f.Clock).Now(), On: on})
	return nil
}

// Blink records a hardware blink, or returns ErrNoBlink without CanBlink.
func (f *Fake) Blink(on, off time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.CanBlink {
		return ErrNoBlink
	}
	if f.err != nil {
		return f.err
	}
	f.known = false
	f.changes = append(f.changes, Change{At: clock.Or(f.Clock).Now(), Blink: true, BlinkOn: on, BlinkOff: off})
	return nil
}

// SetErr makes every later call fail with err (nil: succeed again).
func (f *Fake) SetErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// Close records that the LED was released.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// Closed reports whether Close was called.
func (f *Fake) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// Changes returns the changes recorded so far.
func (f *Fake) Changes() []Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Change(nil), f.changes...)
}

// Reset forgets the changes recorded so far (not the state).
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = nil
}

// On reports whether the LED is lit by the last Set (false after a Blink).
func (f *Fake) On() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.known && f.on
}
