//go:build !edgerelay_omit_gpio

package gpio

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/edgerelay/edgerelay/hw"
)

const ms = time.Millisecond

// level is a line level a recPin was driven to, at an offset from the test's start.
type level struct {
	d    time.Duration
	high bool
}

// recPin is periph's fake pin (gpiotest.Pin, which keeps only the last level) that
// also records every level it is driven to, with the time: the hardware side of the
// timing tests. After fail is set, Out fails with it.
type recPin struct {
	gpiotest.Pin
	start time.Time

	rec    sync.Mutex // guards levels, fail, closed
	levels []level
	fail   error
	closed bool
}

func newPin(name string) *recPin { return &recPin{Pin: gpiotest.Pin{N: name}, start: time.Now()} }

func (p *recPin) Out(l gpio.Level) error {
	p.rec.Lock()
	defer p.rec.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.levels = append(p.levels, level{time.Since(p.start), bool(l)})
	return p.Pin.Out(l)
}

func (p *recPin) got() []level {
	p.rec.Lock()
	defer p.rec.Unlock()
	return append([]level(nil), p.levels...)
}

func (p *recPin) reset() {
	p.rec.Lock()
	defer p.rec.Unlock()
	p.levels = nil
}

// TestLEDLevels: on is high, or low with active-low; New and Close leave the LED off;
// Set after Close does nothing.
func TestLEDLevels(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		pin := newPin("GPIO17")
		l, err := New(pin, activeLow)
		require.NoError(t, err)
		off := gpio.Level(activeLow)
		require.Equal(t, off, pin.Read(), "New turns the LED off (active_low %v)", activeLow)
		require.NoError(t, l.Set(true))
		require.Equal(t, !off, pin.Read(), "on (active_low %v)", activeLow)
		require.NoError(t, l.Close())
		require.Equal(t, off, pin.Read(), "Close turns the LED off (active_low %v)", activeLow)
		require.NoError(t, l.Set(true))
		require.Equal(t, off, pin.Read(), "Set after Close")
		require.NoError(t, l.Close())
	}
}

// TestLEDErrors: a line that cannot be driven is an error naming it, at New and at
// Set, and the LED works again once the line does.
func TestLEDErrors(t *testing.T) {
	pin := newPin("GPIO27")
	pin.fail = errors.New("line_request ioctl: device or resource busy")
	_, err := New(pin, false)
	require.ErrorContains(t, err, `gpio line "GPIO27": line_request ioctl: device or resource busy`)

	pin.fail = nil
	l, err := New(pin, false)
	require.NoError(t, err)
	pin.fail = errors.New("boom")
	require.ErrorContains(t, l.Set(true), `gpio line "GPIO27": boom`)
	pin.fail = nil
	require.NoError(t, l.Set(true))
	require.Equal(t, gpio.High, pin.Read())
}

// TestDriverPlaysGPIOInSoftware: a GPIO line has no kernel timer, so the driver plays
// even the plain blinks (heartbeat, config-invalid; the LED class hands those to the
// kernel) on its clock. Checked on virtual time for two cycles, active-high and
// active-low, against docs/leds.md's timings.
func TestDriverPlaysGPIOInSoftware(t *testing.T) {
	cases := []struct {
		p     hw.Pattern
		cycle time.Duration
		want  []level // one cycle of the LED's state (high = lit), expected twice
	}{
		{hw.Heartbeat, 2 * time.Second, []level{{0, true}, {1000 * ms, false}}},
		{hw.ConfigInvalid, 200 * ms, []level{{0, true}, {100 * ms, false}}},
		{hw.Degraded, 2 * time.Second, []level{{0, true}, {200 * ms, false}, {400 * ms, true}, {600 * ms, false}}},
	}
	for _, tc := range cases {
		for _, activeLow := range []bool{false, true} {
			name := tc.p.String()
			if activeLow {
				name += "/active_low"
			}
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					pin := newPin("GPIO17")
					l, err := New(pin, activeLow)
					require.NoError(t, err)
					var _ hw.LED = l
					_, blinks := any(l).(hw.Blinker)
					require.False(t, blinks, "a GPIO line cannot blink by itself")
					d := hw.NewDriver(l, hw.Options{})
					defer func() { _ = d.Close() }()
					pin.reset()
					start := time.Now()
					require.NoError(t, d.Show(tc.p))
					time.Sleep(2*tc.cycle - time.Millisecond)
					synctest.Wait()
					var want []level
					for c := range 2 {
						for _, w := range tc.want {
							want = append(want, level{w.d + time.Duration(c)*tc.cycle + start.Sub(pin.start), w.high != activeLow})
						}
					}
					require.Equal(t, want, pin.got())
					require.NoError(t, d.Close())
					got := pin.got()
					require.Equal(t, activeLow, got[len(got)-1].high, "Close turns the LED off")
				})
			})
		}
	}
}

// TestMultiOnGPIO: a bi-colour LED on two lines shows green for the heartbeat, red
// solid for a storage fault, and amber (both lines) for degraded, the two lines
// switched at the same virtual instants.
func TestMultiOnGPIO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gp, rp := newPin("GPIO17"), newPin("GPIO27")
		g, err := New(gp, false)
		require.NoError(t, err)
		r, err := New(rp, false)
		require.NoError(t, err)
		d := hw.NewDriver(&hw.Multi{Green: g, Red: r}, hw.Options{})
		defer func() { _ = d.Close() }() // a failed check must not leave the playing goroutine in the bubble

		require.NoError(t, d.Show(hw.StorageFault))
		require.Equal(t, gpio.High, rp.Read())
		require.Equal(t, gpio.Low, gp.Read())

		require.NoError(t, d.Show(hw.Heartbeat))
		require.Equal(t, gpio.Low, rp.Read())
		require.Equal(t, gpio.High, gp.Read())

		gp.reset()
		rp.reset()
		start := time.Since(gp.start)
		require.NoError(t, d.Show(hw.Degraded))
		time.Sleep(2*time.Second - time.Millisecond)
		synctest.Wait()
		lit := func(l []level) (out []level) {
			for _, x := range l {
				if len(out) == 0 || out[len(out)-1].high != x.high {
					out = append(out, level{x.d - start, x.high})
				}
			}
			return out
		}
		// SetColour darkens both lines first, then amber lights both.
		want := []level{{0, false}, {0, true}, {200 * ms, false}, {400 * ms, true}, {600 * ms, false}}
		require.Equal(t, want, lit(gp.got()), "green")
		require.Equal(t, want, lit(rp.got()), "red")
		require.NoError(t, d.Close())
		require.Equal(t, gpio.Low, gp.Read())
		require.Equal(t, gpio.Low, rp.Read())
	})
}

// TestOpenArguments: what Open refuses before it looks at any chip.
func TestOpenArguments(t *testing.T) {
	_, err := Open(Options{})
	require.ErrorContains(t, err, "no line given")
	_, err = Open(Options{Line: "17"})
	require.ErrorContains(t, err, "gpio line 17: a line offset needs a chip")

	for line, want := range map[string]int{"0": 0, "17": 17} {
		n, ok := Options{Line: line}.Offset()
		require.True(t, ok, line)
		require.Equal(t, want, n)
	}
	for _, line := range []string{"", "GPIO17", "-1", "17a"} {
		_, ok := Options{Line: line}.Offset()
		require.False(t, ok, line)
	}
}

// TestOpenWithoutChips: on a machine without a GPIO character device (containers,
// most CI), Open says so. Skipped where there are chips: TestOpenSim covers those.
func TestOpenWithoutChips(t *testing.T) {
	if devs, _ := filepath.Glob("/dev/gpiochip*"); len(devs) > 0 {
		t.Skipf("SKIP: this machine has GPIO chips (%v); the test is for one without", devs)
	}
	_, err := Open(Options{Chip: "gpiochip0", Line: "GPIO17"})
	require.ErrorContains(t, err, "gpio: no GPIO chip (no /dev/gpiochip*")
}

// TestDistinct: two keys that resolve to one chip and offset are refused, naming
// both; TestOpenSimSameLine does it through OpenEach on a chip.
func TestDistinct(t *testing.T) {
	lines := []Line{{Key: "indicator.line", Line: "GPIO17"}, {Key: "indicator.red_line", Line: "17"}}
	green := &LED{at: "gpiochip0 offset 17"}
	require.NoError(t, distinct(lines, nil, green))
	err := distinct(lines, []*LED{green}, &LED{at: "gpiochip0 offset 17"})
	require.EqualError(t, err, `gpio: indicator.line "GPIO17" and indicator.red_line "17" are the same line (gpiochip0 offset 17): each colour needs its own line`)
	require.NoError(t, distinct(lines, []*LED{green}, &LED{at: "gpiochip0 offset 27"}))
	require.NoError(t, distinct(lines, []*LED{{}}, &LED{}), "pins without a known place are not compared")
}
