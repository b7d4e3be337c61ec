//go:build !edgerelay_omit_gpio

package gpio

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"
)

// Built reports whether the GPIO backend is in this binary (false with OmitTag).
const Built = true

// New returns an LED on pin, which the caller has found and keeps, and turns it off.
// It is the pin-level half of Open, for pins that do not come from the character
// device (periph's gpiotest doubles in tests).
func New(pin gpio.PinOut, activeLow bool) (*LED, error) {
	l := &LED{name: fmt.Sprintf("line %q", pin.Name()), out: outFunc(pin), activeLow: activeLow}
	if err := l.Set(false); err != nil {
		return nil, err
	}
	return l, nil
}

func outFunc(pin gpio.PinOut) func(bool) error {
	return func(high bool) error { return pin.Out(gpio.Level(high)) }
}

// scan is the one scan of the GPIO chips: periph's driver opens every
// /dev/gpiochip* and reads its lines once per process (driverreg.Init).
var scan struct {
	sync.Mutex
	done   bool
	logged string // what the driver logged while scanning (a chip it could not open)
	err    error
}

// scanChips runs periph's driver registry once (only gpioioctl is linked, so only
// the character device is scanned) and returns the driver's log lines. The driver
// reports a chip it cannot open with the standard library's log, not as an error:
// the lines are captured here so that they reach the user in Open's error, and not
// as a stray line on stderr in another format.
func scanChips() (logged string, err error) {
	scan.Lock()
	defer scan.Unlock()
	if !scan.done {
		scan.done = true
		// periph mishandles a chip that does not speak the v2 interface (probeV2)
		// and closes descriptor 0 when it finds a chip twice (guardStdin): both are
		// dealt with here, so that periph's scan is safe to run.
		devs, _ := filepath.Glob("/dev/gpiochip*")
		if scan.err = probeV2(devs); scan.err != nil {
			return "", scan.err
		}
		restore, err := guardStdin()
		if err != nil {
			scan.err = err
			return "", err
		}
		var b strings.Builder
		w, flags := log.Writer(), log.Flags()
		log.SetOutput(&b)
		log.SetFlags(0)
		_, scan.err = driverreg.Init()
		rerr := restore()
		log.SetOutput(w)
		log.SetFlags(flags)
		if scan.err == nil {
			scan.err = rerr
		}
		scan.logged = strings.TrimSpace(b.String())
	}
	return scan.logged, scan.err
}

// open finds o's line on the chips periph found and requests it.
func open(o Options) (*LED, error) {
	logged, err := scanChips()
	if errors.Is(err, errNoV2) {
		return nil, err // already says which chip and why
	}
	if err != nil {
		return nil, fmt.Errorf("gpio: scanning the chips: %w", err)
	}
	chips := gpioioctl.Chips
	if len(chips) == 0 {
		return nil, noChips(logged)
	}
	if o.Chip != "" {
		c := findChip(chips, o.Chip)
		if c == nil {
			return nil, fmt.Errorf("gpio chip %q: not found (there are %s)%s", o.Chip, chipList(chips), detail(logged))
		}
		chips = []*gpioioctl.GPIOChip{c}
	}
	line, chip := findLine(chips, o)
	if line == nil {
		if n, ok := o.Offset(); ok {
			return nil, fmt.Errorf("gpio line %d: %s has lines 0 to %d", n, chips[0].Name(), chips[0].LineCount()-1)
		}
		where := "on " + chipList(chips)
		return nil, fmt.Errorf("gpio line %q: not found %s (gpioinfo lists the names)%s", o.Line, where, detail(logged))
	}
	l := &LED{
		name:      fmt.Sprintf("line %q (%s offset %d)", line.Name(), chip.Name(), line.Number()),
		at:        fmt.Sprintf("%s offset %d", chip.Name(), line.Number()),
		out:       outFunc(line),
		release:   line.Close,
		activeLow: o.ActiveLow,
	}
	holder := line.Consumer() // who held the line when the chip was scanned
	if err := l.set(false); err != nil {
		line.Close() // periph keeps a failed request's direction: reset it
		if holder != "" {
			return nil, fmt.Errorf("%w (the line is in use by %q)", err, holder)
		}
		return nil, err
	}
	return l, nil
}

// noChips explains why periph found no chip: there is no GPIO character device, or
// there is and it could not be opened.
func noChips(logged string) error {
	devs, _ := filepath.Glob("/dev/gpiochip*")
	if len(devs) == 0 {
		return fmt.Errorf("gpio: no GPIO chip (no /dev/gpiochip*: the kernel has no GPIO driver, or the service's devices are restricted)")
	}
	// The chips are there: opening them failed. Say how for the first one.
	f, err := os.Open(devs[0])
	if err == nil {
		_ = f.Close()
		return fmt.Errorf("gpio: no usable GPIO chip among %s%s", strings.Join(devs, ", "), detail(logged))
	}
	return fmt.Errorf("gpio: %w (the daemon's user needs access to %s: see docs/leds.md, udev rule)", err, strings.Join(devs, ", "))
}

// findChip returns the chip spec names: by device name, path, base name of its path,
// label, or a /dev path that resolves to the chip's device (on a Raspberry Pi 5,
// /dev/gpiochip4 is a link to gpiochip0).
func findChip(chips []*gpioioctl.GPIOChip, spec string) *gpioioctl.GPIOChip {
	for _, c := range chips {
		if spec == c.Name() || spec == c.Path() || spec == filepath.Base(c.Path()) || spec == c.Label() {
			return c
		}
	}
	p := spec
	if !strings.HasPrefix(p, "/") {
		p = "/dev/" + p
	}
	want, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil
	}
	for _, c := range chips {
		if got, err := filepath.EvalSymlinks(c.Path()); err == nil && got == want {
			return c
		}
	}
	return nil
}

// findLine returns the line o names on the first of chips that has it. periph
// renames a line whose name an earlier chip already has to "<chip>-<name>"; that
// name is tried too.
func findLine(chips []*gpioioctl.GPIOChip, o Options) (*gpioioctl.GPIOLine, *gpioioctl.GPIOChip) {
	if n, ok := o.Offset(); ok {
		if n < chips[0].LineCount() {
			return chips[0].ByNumber(n), chips[0]
		}
		return nil, nil
	}
	for _, c := range chips {
		if l := c.ByName(o.Line); l != nil {
			return l, c
		}
		if l := c.ByName(c.Name() + "-" + o.Line); l != nil {
			return l, c
		}
	}
	return nil, nil
}

// chipList names chips for an error: `gpiochip0 "pinctrl-bcm2711", gpiochip1 …`.
func chipList(chips []*gpioioctl.GPIOChip) string {
	s := make([]string, len(chips))
	for i, c := range chips {
		s[i] = fmt.Sprintf("%s %q", c.Name(), c.Label())
	}
	return strings.Join(s, ", ")
}

// detail appends what the driver logged while scanning, when it logged anything.
func detail(logged string) string {
	if logged == "" {
		return ""
	}
	return "; while scanning: " + strings.ReplaceAll(logged, "\n", "; ")
}
