package hw

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/logx"
)

// Indicator shows one pattern at a time. Implementations are safe for concurrent use.
type Indicator interface {
	// Show makes p the pattern shown, from now until the next Show or Close. Showing
	// the pattern already shown changes nothing. An error means the output could not
	// be driven; the indicator stays usable.
	Show(p Pattern) error
	// Close turns the output off, stops every goroutine of the indicator and releases
	// the device. Show after Close does nothing; Close may be called more than once.
	Close() error
}

// LED is a plain on/off output. Only one goroutine (the Driver's) calls it at a time.
type LED interface {
	// Set turns the LED on or off.
	Set(on bool) error
}

// Blinker is an LED that can blink by itself, on for on and off for off, until the
// next Set or Blink. Blink returns [ErrNoBlink] when the device cannot.
type Blinker interface {
	LED
	Blink(on, off time.Duration) error
}

// Colourer is an LED of several colours: SetColour chooses what the next Set and
// Blink light. The driver calls it before it shows a pattern.
type Colourer interface {
	LED
	SetColour(c Colour) error
}

// ErrNoBlink is returned by Blinker.Blink when the LED cannot blink by itself.
var ErrNoBlink = errors.New("no hardware blink")

// Options configure a Driver.
type Options struct {
	// Clock times the software-played steps. Nil means clock.Real.
	Clock clock.Clock
	// Log gets the first failure to drive the LED (and the first success after one).
	// Nil means no logging.
	Log *slog.Logger
	// Limiter makes the failure condition (logx.Limiter.Condition): its recovery is
	// logged once it has held, so a flapping LED logs once. Nil logs the recovery at
	// once.
	Limiter *logx.Limiter
}

// Driver is the Indicator that plays patterns on an LED.
type Driver struct {
	led   LED
	clock clock.Clock
	log   *slog.Logger

	mu      sync.Mutex // guards pattern, stop, done, closed; held across Show and Close
	pattern Pattern
	stop    chan struct{} // closed to end the playing goroutine; nil when none runs
	done    chan struct{} // closed when it has ended
	closed  bool

	cond *logx.Condition // the LED's write failures, logged once
}

var _ Indicator = (*Driver)(nil)

// NewDriver returns a driver for led, showing Off (the LED is turned off).
func NewDriver(led LED, o Options) *Driver {
	d := &Driver{led: led, clock: clock.Or(o.Clock), log: o.Log, cond: o.Limiter.Condition()}
	_ = d.write(led.Set(false))
	return d
}

// Pattern returns the pattern shown.
func (d *Driver) Pattern() Pattern {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pattern
}

// Show implements Indicator: a steady pattern is one write; a plain blink is handed
// to a Blinker when the LED is one and accepts it; anything else is played by a
// goroutine that runs until the next Show or Close.
func (d *Driver) Show(p Pattern) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || p == d.pattern {
		return nil
	}
	d.stopLocked()
	d.pattern = p
	if c, ok := d.led.(Colourer); ok {
		if err := d.write(c.SetColour(p.Colour())); err != nil {
			return err
		}
	}
	if on, ok := p.Steady(); ok {
		return d.write(d.led.Set(on))
	}
	if b, ok := d.led.(Blinker); ok {
		if on, off, ok := p.Blink(); ok {
			err := b.Blink(on, off)
			if err == nil || !errors.Is(err, ErrNoBlink) {
				return d.write(err)
			}
			if err != ErrNoBlink && d.log != nil {
				// The device gave up its own blinking (sysfs: the timer's delays could
				// not be written); it answers the bare ErrNoBlink from now on, so this
				// is said once.
				d.log.Warn("status LED: the kernel cannot blink it; blinking in software", "err", err)
			}
		}
	}
	steps := p.Steps()
	err := d.write(d.led.Set(steps[0].On)) // the first step at once, so Show reports the device
	d.stop, d.done = make(chan struct{}), make(chan struct{})
	go d.play(steps, d.stop, d.done)
	return err
}

// Close implements Indicator; it also closes the LED when that is an io.Closer.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	d.stopLocked()
	d.pattern = Off
	err := d.led.Set(false)
	if c, ok := d.led.(io.Closer); ok {
		err = errors.Join(err, c.Close())
	}
	return err
}

// stopLocked ends the playing goroutine, if any, and waits for it.
func (d *Driver) stopLocked() {
	if d.stop == nil {
		return
	}
	close(d.stop)
	done := d.done
	d.stop, d.done = nil, nil
	<-done
}

// play loops over steps, the first of which Show has set already: it waits each
// step's time on the clock and sets the next. It exits when stop is closed, and then
// closes done.
func (d *Driver) play(steps []Step, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := d.clock.NewTimer(steps[0].D)
	defer t.Stop()
	for i := 0; ; {
		select {
		case <-t.C():
		case <-stop:
			return
		}
		i = (i + 1) % len(steps)
		_ = d.write(d.led.Set(steps[i].On))
		t.Reset(steps[i].D)
	}
}

// write logs the first failure of a run of failures, and the recovery; it returns
// err.
func (d *Driver) write(err error) error {
	if d.log == nil {
		return err
	}
	if err != nil {
		d.cond.Fail(d.log, "status LED write failed", "err", err)
	} else {
		d.cond.OK(d.log, "status LED writes again")
	}
	return err
}
