package daemon

import (
	"context"
	"time"

	"github.com/edgerelay/edgerelay/daemon/health"
)

// statusEvery is how often statusLoop refreshes.
const statusEvery = 2 * time.Second

// statusLoop keeps the sink and store health conditions current (every 2 s) and the
// systemd STATUS line, which it renders from the event bus (statusSub) as soon as a
// condition changes.
func (d *Daemon) statusLoop(ctx context.Context) {
	defer d.statusSub.Close()
	t := d.clock.NewTicker(statusEvery)
	defer t.Stop()
	for {
		d.refreshStatus()
		select {
		case <-t.C():
		case e := <-d.statusSub.C():
			d.status.apply(e)
		case <-d.deadWake:
		case <-ctx.Done():
			return
		}
	}
}

func (d *Daemon) refreshStatus() {
	var queued int64
	for _, s := range d.pipe.Status() {
		queued += s.Depth
		comp := "sink:" + s.Name
		connected := s.Connected || s.LastError == "" // "" : the first Connect has not failed
		switch {
		case !connected:
			d.health.Set(comp, "connected", false, health.Degraded, "not connected: "+s.LastError)
			d.health.Set(comp, "delivering", false, health.Degraded, "")
		case s.Failing:
			d.health.Set(comp, "connected", true, health.Degraded, "")
			d.health.Set(comp, "delivering", false, health.Degraded, "retrying: "+s.LastError)
		default:
			d.health.Set(comp, "connected", true, health.Degraded, "")
			d.health.Set(comp, "delivering", true, health.Degraded, "")
		}
	}
	if e := d.pipe.StoreError(); e != "" {
		d.health.Set("store", "writable", false, health.Critical, e)
	} else {
		d.health.Set("store", "writable", true, health.Critical, "")
	}
	d.refreshSpace()
	moved, _ := d.db.Quarantined()
	d.status.catchUp(d.statusSub, d.health, moved)
	// Counting dead letters walks the dead-letter pages: refresh it every 30 s, or
	// soon after a new one. (Not Stats: it walks every outbox too, which would page
	// the whole store file into memory during a long outage.)
	d.refreshDead()
	d.sampleRates()
	_ = d.notify.Status(d.status.line(queued, d.dead, d.sinkNames()))
}
