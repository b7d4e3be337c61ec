package daemon

import (
	"context"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
)

// superviseSource runs a source, restarting it with backoff when it fails, until ctx
// ends.
func (d *Daemon) superviseSource(ctx context.Context, s source) error {
	pub := d.pipe.Publisher(s.name)
	retry := pipeline.Retry{Initial: 100 * time.Millisecond, Max: 30 * time.Second}.WithDefaults()
	for attempt := 1; ; attempt++ {
		started := d.now()
		err := s.src.Run(ctx, pub)
		if ctx.Err() != nil {
			return nil
		}
		if d.now().Sub(started) > time.Minute {
			attempt = 1
		}
		delay := retry.Delay(attempt, 0)
		msg := "source stopped"
		if err != nil {
			msg = err.Error()
		}
		d.health.Set("source:"+s.name, "running", false, health.Critical, msg)
		d.lim.Error(d.log, "source:"+s.name, "source failed; restarting", "source", s.name, "err", err, "retry_in_s", delay.Seconds())
		if !clock.Sleep(ctx, d.clock, delay) {
			return nil
		}
		d.health.Set("source:"+s.name, "running", true, health.Critical, "")
	}
}
