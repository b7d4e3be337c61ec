package hw

import (
	"errors"
	"io"
	"time"
)

// Multi is a bi-colour or RGB LED made of one on/off LED per colour: Green and Red,
// and Amber when the LED has its own (else amber lights green and red together).
// Set lights the channels of the colour chosen with SetColour and darkens the
// others. Blink goes to the kernel only when the colour is one channel that is a
// Blinker; two channels blinking on two kernel timers could drift apart, so amber
// made of green and red blinks in software.
type Multi struct {
	Green, Red LED
	Amber      LED // optional
	colour     Colour
}

var (
	_ Colourer = (*Multi)(nil)
	_ Blinker  = (*Multi)(nil)
)

// SetColour chooses the colour of the next Set or Blink; it darkens every channel.
func (m *Multi) SetColour(c Colour) error {
	m.colour = c
	return m.Set(false)
}

// channels returns every channel and, for each, whether the current colour lights it.
func (m *Multi) channels() (chs []LED, lit []bool) {
	chs, lit = []LED{m.Green, m.Red}, []bool{false, false}
	if m.Amber != nil {
		chs, lit = append(chs, m.Amber), append(lit, false)
	}
	switch {
	case m.colour == Red:
		lit[1] = true
	case m.colour == Amber && m.Amber != nil:
		lit[2] = true
	case m.colour == Amber:
		lit[0], lit[1] = true, true
	default:
		lit[0] = true
	}
	return chs, lit
}

// Set lights the current colour (on) or darkens every channel.
func (m *Multi) Set(on bool) error {
	chs, lit := m.channels()
	var errs []error
	for i, ch := range chs {
		errs = append(errs, ch.Set(on && lit[i]))
	}
	return errors.Join(errs...)
}

// Blink hands the blink to the one channel of the current colour when it is a
// Blinker, after darkening the others; else ErrNoBlink.
func (m *Multi) Blink(on, off time.Duration) error {
	chs, lit := m.channels()
	var b Blinker
	n := 0
	for i, ch := range chs {
		if lit[i] {
			n++
			b, _ = ch.(Blinker)
		}
	}
	if n != 1 || b == nil {
		return ErrNoBlink
	}
	var errs []error
	for i, ch := range chs {
		if !lit[i] {
			errs = append(errs, ch.Set(false))
		}
	}
	return errors.Join(append(errs, b.Blink(on, off))...)
}

// Close darkens every channel and closes each that is an io.Closer.
func (m *Multi) Close() error {
	errs := []error{m.Set(false)}
	chs, _ := m.channels()
	for _, ch := range chs {
		if c, ok := ch.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
