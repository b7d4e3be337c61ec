package daemon

import (
	"context"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
)

// sourceState returns the persisted state of the source named name; nil for sinks and
// transforms.
func (d *Daemon) sourceState(dir adapters.Direction, name string) adapters.State {
	if dir != adapters.DirSource {
		return nil
	}
	if d.dry != nil {
		return &dryState{}
	}
	if d.state == nil {
		return nil
	}
	return d.state.For(name)
}

// saveState commits the sources' pending state at shutdown, once the sources have
// stopped and while the writer still runs, for at most the drain timeout.
func (d *Daemon) saveState() {
	limit := d.cfg.Store.DrainTimeout
	if limit <= 0 {
		limit = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := d.state.Close(ctx); err != nil {
		d.log.Warn("source state lost at shutdown; those sources resume from their last saved state", "err", err)
	}
}
