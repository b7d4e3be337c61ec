package daemon

import (
	"fmt"
	"time"
)

// alive is the watchdog's liveness probe: the store writer has made progress
// recently and no sink is stuck with work waiting.
func (d *Daemon) alive() error {
	interval := d.notify.WatchdogInterval()
	limit := 2 * interval
	if limit < 10*time.Second {
		limit = 10 * time.Second
	}
	if last := d.writer.LastProgress(); !last.IsZero() && d.now().Sub(last) > limit {
		return fmt.Errorf("store writer has not made progress for %s", d.now().Sub(last).Round(time.Second))
	}
	return d.pipe.Alive(2 * time.Minute)
}
