package daemon

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/hw"
	"github.com/edgerelay/edgerelay/store"
)

// indicatorEvery is how often the indicator loop also rereads the facts without an
// event: the store's fill level (near full) changes without one.
const indicatorEvery = 10 * time.Second

// nearFullPercent is the store fill level, of store.max_bytes, from which the LED
// shows near-full.
const nearFullPercent = 80

// OpenIndicator opens the status LED c configures, driven as o says (its clock, log
// and limiter): nil (and no error) for backend none, an error when the device
// cannot be opened.
func OpenIndicator(c config.Indicator, o hw.Options) (*hw.Driver, error) {
	switch c.Backend {
	case config.IndicatorSysfsLED:
		var opened []*hw.Sysfs
		open := func(name string) (*hw.Sysfs, error) {
			l, err := hw.OpenSysfs(hw.SysfsOptions{Root: c.Root, Name: name, ActiveLow: c.ActiveLow})
			if err != nil {
				for _, o := range opened {
					_ = o.Close()
				}
				return nil, err
			}
			opened = append(opened, l)
			return l, nil
		}
		green, err := open(c.LED)
		if err != nil {
			return nil, err
		}
		if c.RedLED == "" {
			return hw.NewDriver(green, o), nil
		}
		m := &hw.Multi{Green: green}
		if m.Red, err = open(c.RedLED); err != nil {
			return nil, err
		}
		if c.AmberLED != "" {
			if m.Amber, err = open(c.AmberLED); err != nil {
				return nil, err
			}
		}
		return hw.NewDriver(m, o), nil
	case config.IndicatorNone, "":
		return nil, nil
	}
	return nil, fmt.Errorf("indicator backend %q: unknown", c.Backend)
}

// ledState is the pattern the daemon's state calls for, kept whether or not an LED
// shows it, for the status page and /metrics.
type ledState struct{ p atomic.Uint32 }

func (l *ledState) set(p hw.Pattern) { l.p.Store(uint32(p)) }

// LEDPattern returns the pattern the status LED shows (or would show, without one).
func (d *Daemon) LEDPattern() hw.Pattern { return hw.Pattern(d.led.p.Load()) }

// openIndicator sets d.ind from Options.Indicator or the configuration. A device that
// cannot be opened is one warning, and the daemon runs without an LED.
func (d *Daemon) openIndicator() {
	d.indSub = d.bus.Subscribe("indicator", 64, events.ReadinessChanged) // a quarantine sets the store's condition too
	if d.opt.Indicator != nil {
		d.ind = d.opt.Indicator
	} else {
		ind, err := OpenIndicator(d.cfg.Indicator, hw.Options{Clock: d.clock, Log: d.log.With("component", "indicator"), Limiter: d.lim})
		if err != nil {
			d.log.Warn("status LED not available; running without it", "backend", d.cfg.Indicator.Backend,
				"led", d.cfg.Indicator.LED, "err", err)
			return
		}
		if ind == nil {
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
