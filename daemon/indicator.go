package daemon

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/hw"
	"github.com/edgerelay/edgerelay/hw/gpio"
	"github.com/edgerelay/edgerelay/store"
)

// indicatorEvery is how often the indicator loop also rereads the facts without an
// event: the store's fill level (near full) changes without one.
const indicatorEvery = 10 * time.Second

// nearFullPercent is the store fill level, of store.max_bytes, from which the LED
// shows near-full.
const nearFullPercent = 80

// OpenIndicator opens the status LED c configures, driven as o says (its clock, log
// and limiter): nil (and no error) for backend none, an error when a device cannot
// be opened (every device opened before it is closed again).
func OpenIndicator(c config.Indicator, o hw.Options) (*hw.Driver, error) {
	var open func(name string) (hw.LED, error)
	green, red, amber := c.LED, c.RedLED, c.AmberLED
	switch c.Backend {
	case config.IndicatorSysfsLED:
		open = func(name string) (hw.LED, error) {
			l, err := hw.OpenSysfs(hw.SysfsOptions{Root: c.Root, Name: name, ActiveLow: c.ActiveLow, Clock: o.Clock})
			if err != nil {
				return nil, err
			}
			return l, nil
		}
	case config.IndicatorGPIO:
		return openGPIOIndicator(c, o)
	case config.IndicatorNone, "":
		return nil, nil
	default:
		return nil, fmt.Errorf("indicator backend %q: unknown", c.Backend)
	}
	var opened []hw.LED
	get := func(name string) (hw.LED, error) {
		l, err := open(name)
		if err != nil {
			for _, o := range opened {
				if c, ok := o.(io.Closer); ok {
					_ = c.Close()
				}
			}
			return nil, err
		}
		opened = append(opened, l)
		return l, nil
	}
	g, err := get(green)
	if err != nil {
		return nil, err
	}
	if red == "" {
		return hw.NewDriver(g, o), nil
	}
	m := &hw.Multi{Green: g}
	if m.Red, err = get(red); err != nil {
		return nil, err
	}
	if amber != "" {
		if m.Amber, err = get(amber); err != nil {
			return nil, err
		}
	}
	return hw.NewDriver(m, o), nil
}

// openGPIOIndicator is OpenIndicator for backend gpio: the lines are opened
// together, so that two keys naming one line (by name and by offset) are refused.
func openGPIOIndicator(c config.Indicator, o hw.Options) (*hw.Driver, error) {
	lines := []gpio.Line{{Key: "indicator.line", Line: c.Line}}
	if c.RedLine != "" {
		lines = append(lines, gpio.Line{Key: "indicator.red_line", Line: c.RedLine})
		if c.AmberLine != "" {
			lines = append(lines, gpio.Line{Key: "indicator.amber_line", Line: c.AmberLine})
		}
	}
	leds, err := gpio.OpenEach(c.Chip, c.ActiveLow, lines...)
	if err != nil {
		return nil, err
	}
	if len(leds) == 1 {
		return hw.NewDriver(leds[0], o), nil
	}
	m := &hw.Multi{Green: leds[0], Red: leds[1]}
	if len(leds) == 3 {
		m.Amber = leds[2]
	}
	return hw.NewDriver(m, o), nil
}

// IndicatorName names the device c configures, for messages: the LED-class device
// or the GPIO line (with its chip), the green one of a multi-colour LED.
func IndicatorName(c config.Indicator) string {
	if c.Backend != config.IndicatorGPIO {
		return c.LED
	}
	if c.Chip == "" {
		return c.Line
	}
	return c.Chip + " line " + c.Line
}

// ledState is the pattern the daemon's state calls for, kept whether or not an LED
// shows it, for the status page and /metrics.
type ledState struct{ p atomic.Uint32 }

func (l *ledState) set(p hw.Pattern) { l.p.Store(uint32(p)) }

// LEDPattern returns the pattern the status LED shows (or would show, without one).
func (d *Daemon) LEDPattern() hw.Pattern { return hw.Pattern(d.led.p.Load()) }

// openIndicator sets d.ind from Options.Indicator or the configuration. No LED
// configured, or a device that cannot be opened, is one warning, and the daemon runs
// without an LED.
func (d *Daemon) openIndicator() {
	names := make([]string, 0, len(hw.Patterns()))
	for _, p := range hw.Patterns() {
		names = append(names, p.String())
	}
	d.m.LEDPattern(names, func() string { return d.LEDPattern().String() })
	d.indSub = d.bus.Subscribe("indicator", 64, events.ReadinessChanged) // a quarantine sets the store's condition too
	if d.opt.Indicator != nil {
		d.ind = d.opt.Indicator
	} else {
		c := d.cfg.Indicator
		ind, err := OpenIndicator(c, hw.Options{Clock: d.clock, Log: d.log.With("component", "indicator"), Limiter: d.lim})
		if err != nil {
			d.log.Warn("status LED not available; running without it", "backend", c.Backend,
				"led", IndicatorName(c), "err", err)
			return
		}
		if ind == nil {
			// The pattern is still worked out, for /metrics and the status page.
			if c.Chosen {
				d.log.Info("no status LED (indicator.backend: none)")
			} else {
				d.log.Warn("no status LED configured; set indicator.backend (sysfs-led or gpio) to show the daemon's state on one, or none to say there is none (docs/leds.md, edgerelay led test)")
			}
			return
		}
		d.ind = ind
	}
	d.onStop("status LED", d.ind.Close) // registered early, so it runs last: the LED goes off at the end
}

// indicatorLoop works out the pattern for the daemon's state, again at every condition
// change and every indicatorEvery, records it for LEDPattern and shows it on the LED
// when there is one. It exits when ctx ends.
func (d *Daemon) indicatorLoop(ctx context.Context) {
	t := d.clock.NewTicker(indicatorEvery)
	defer t.Stop()
	for {
		p := hw.Choose(indicatorFacts(d.health.Snapshot(), d.health.Node(), d.db.Space()))
		d.led.set(p)
		if d.ind != nil {
			_ = d.ind.Show(p) // a failing LED is logged by the driver
		}
		select {
		case <-ctx.Done():
			return
		case <-d.indSub.C():
		case <-t.C():
		}
	}
}

// indicatorFacts gathers what hw.Choose needs from the tracker's conditions, its node
// state and the store's space. A sink draining its backlog is a degraded condition
// for /ready, but for the LED it is the draining pattern, not the degraded one.
func indicatorFacts(conds []health.Condition, node string, sp store.Space) hw.Facts {
	f := hw.Facts{Running: true, Node: events.NodeOK}
	degraded := false
	for _, c := range conds {
		if !c.Failing() {
			continue
		}
		switch {
		case c.Name == "draining":
			f.Backlog = true
			continue
		case c.Component == "store" && (c.Name == "quarantined" || c.Name == "writable" || c.Name == "space"):
			f.StoreFault = true
		}
		if c.Severity == health.Degraded {
			degraded = true
		}
	}
	switch {
	case node == events.NodeNotReady:
		f.Node = events.NodeNotReady
	case degraded:
		f.Node = events.NodeDegraded
	}
	if sp.Full {
		f.StoreFault = true
	}
	if sp.Max > 0 && sp.Live*100 >= sp.Max*nearFullPercent {
		f.NearFull = true
	}
	return f
}
