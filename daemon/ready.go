package daemon

import (
	"context"
	"slices"
	"strings"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/daemon/events"
)

// readyWhenSubscribed sends READY=1 once every source that subscribes has done so, or
// when deadline fires (the startup grace, armed by Run as it starts the sources, so
// that it counts from then however late this goroutine runs) with a STATUS line naming
// what is missing.
func (d *Daemon) readyWhenSubscribed(ctx context.Context, deadline clock.Timer) {
	defer deadline.Stop()
	changed, unsub := d.health.Subscribe()
	defer unsub()
	for waiting := false; ; waiting = true {
		missing := d.unsubscribed()
		if len(missing) == 0 {
			_ = d.notify.Ready()
			d.bus.Publish(events.Event{Kind: events.Ready})
			d.log.Info("ready", "http", d.web.Addr(), "sources", len(d.sourceList()), "sinks", len(d.sinkList()))
			return
		}
		if !waiting {
			d.log.Info("READY=1 waits for sources to subscribe", "waiting_for", strings.Join(missing, ", "),
				"grace_s", d.opt.StartupGrace.Seconds())
		}
		select {
		case <-changed:
		case <-deadline.C():
			_ = d.notify.Ready()
			d.bus.Publish(events.Event{Kind: events.Ready, Reason: "startup grace ended; waiting for " + strings.Join(missing, ", ")})
			d.log.Warn("ready without every source subscribed; they keep retrying",
				"waiting_for", strings.Join(missing, ", "), "grace_s", d.opt.StartupGrace.Seconds())
			return
		case <-ctx.Done():
			return
		}
	}
}

func (d *Daemon) unsubscribed() []string {
	var missing []string
	snap := d.health.Snapshot()
	for _, s := range d.sourceList() {
		for _, c := range snap {
			if c.Component == "source:"+s.name && slices.Contains(s.ready, c.Name) && !c.OK {
				missing = append(missing, s.name)
				break
			}
		}
	}
	return missing
}
