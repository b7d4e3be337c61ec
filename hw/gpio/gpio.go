// Package gpio is the status LED's GPIO backend: an LED on a line of the Linux GPIO
// character device (/dev/gpiochipN), found by the line's name or its number on the
// chip, through periph.io's gpioioctl driver (periph.io/x/host/v3/gpioioctl). It
// does not use /dev/gpiomem or the deprecated /sys/class/gpio: the character device
// works on every board with a GPIO driver, needs no root once a udev rule grants the
// device (docs/leds.md), and the kernel gives the line back when the process ends.
//
// A GPIO line cannot blink by itself, so [LED] is a plain [hw.LED]: the hw.Driver
// plays every pattern in software on its clock. Build with -tags edgerelay_omit_gpio
// to leave the backend, and periph.io with it, out of the binary; [Open] then fails
// with an error naming the tag.
package gpio

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/edgerelay/edgerelay/hw"
)

// OmitTag is the build tag that leaves the GPIO backend out.
const OmitTag = "edgerelay_omit_gpio"

// ErrOmitted is what Open returns in a binary built with OmitTag.
var ErrOmitted = errors.New("this edgerelay was built without the GPIO backend (build tag " + OmitTag + ")")

// Options name one GPIO line.
type Options struct {
	// Chip is the GPIO chip: its device name ("gpiochip0"), its path
	// ("/dev/gpiochip0") or its label ("pinctrl-bcm2711", as gpiodetect prints it).
	// Empty means every chip, searched in periph's order (the SoC's pinctrl chips
	// first); then Line must be a name.
	Chip string
	// Line is the line: its name ("GPIO17", as gpioinfo prints it) or, all digits,
	// its offset on Chip ("17"). An offset is the chip's numbering, which on a
	// Raspberry Pi's pinctrl chip is the BCM GPIO number, not the header pin.
	Line string
	// ActiveLow inverts the output, for an LED wired to light when the line is low
	// (between the supply and the pin).
	ActiveLow bool
}

// Offset returns the line's offset when Line is all digits.
func (o Options) Offset() (int, bool) {
	if o.Line == "" {
		return 0, false
	}
	for _, r := range o.Line {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(o.Line)
	return n, err == nil
}

// LED is a status LED on one GPIO line. Set drives the line; Close turns the LED off
// and releases the line.
type LED struct {
	name      string                // for errors: `line "GPIO17" (gpiochip0 offset 17)`
	at        string                // the chip and offset, "gpiochip0 offset 17"; "" when not known
	out       func(high bool) error // drives the line
	release   func()                // gives the line back to the kernel; nil when not needed
	activeLow bool

	mu     sync.Mutex // guards closed; Set and Close may race at shutdown
	closed bool
}

var _ hw.LED = (*LED)(nil)

// Set turns the LED on or off: the line high for on, or low with ActiveLow.
func (l *LED) Set(on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	return l.set(on)
}

func (l *LED) set(on bool) error {
	if err := l.out(on != l.activeLow); err != nil {
		return fmt.Errorf("gpio %s: %w", l.name, err)
	}
	return nil
}

// Close turns the LED off and releases the line. Later calls do nothing.
func (l *LED) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	err := l.set(false)
	if l.release != nil {
		l.release()
	}
	return err
}

// String names the line.
func (l *LED) String() string { return l.name }

// Open finds the line o names, requests it as an output and turns the LED off. It
// fails, saying why, when there is no GPIO chip, the chip or the line is not there,
// the device cannot be opened (permissions), or another driver or program holds the
// line.
func Open(o Options) (*LED, error) {
	if o.Line == "" {
		return nil, errors.New("gpio: no line given")
	}
	if _, isOffset := o.Offset(); isOffset && o.Chip == "" {
		return nil, fmt.Errorf("gpio line %s: a line offset needs a chip", o.Line)
	}
	return open(o)
}

// Line is one line of a multi-colour LED, with the configuration key that names it
// (for errors).
type Line struct {
	Key  string // "indicator.red_line"
	Line string // as Options.Line
}

// OpenEach opens every line of lines on chip, in order, as Open does. Two keys that
// name the same line of the same chip, once by name and once by offset ("GPIO17"
// and "17" on gpiochip0), would drive one line for two colours: that is an error
// naming both keys. On any error the lines opened already are closed again.
func OpenEach(chip string, activeLow bool, lines ...Line) ([]*LED, error) {
	leds := make([]*LED, 0, len(lines))
	fail := func(err error) ([]*LED, error) {
		for _, l := range leds {
			_ = l.Close()
		}
		return nil, err
	}
	for _, ln := range lines {
		l, err := Open(Options{Chip: chip, Line: ln.Line, ActiveLow: activeLow})
		if err != nil {
			return fail(err)
		}
		if err := distinct(lines, leds, l); err != nil {
			return fail(err) // l is an earlier LED's line again: closing that one releases it
		}
		leds = append(leds, l)
	}
	return leds, nil
}

// distinct fails when l, opened for lines[len(leds)], is the line of one of leds,
// opened for the lines before it.
func distinct(lines []Line, leds []*LED, l *LED) error {
	for j, prev := range leds {
		if l.at != "" && l.at == prev.at {
			ln := lines[len(leds)]
			return fmt.Errorf("gpio: %s %q and %s %q are the same line (%s): each colour needs its own line",
				lines[j].Key, lines[j].Line, ln.Key, ln.Line, l.at)
		}
	}
	return nil
}
