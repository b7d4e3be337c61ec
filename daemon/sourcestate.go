package daemon

import (
	"context"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/state"
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

// sourceTable is the Deps.Table of source name: its tables in the store, or in
// memory in the dry run of Check (which must not write; each source of the run sees
// its tables start empty, as its dryState does). Nil for sinks and transforms.
func (d *Daemon) sourceTable(dir adapters.Direction, name string) func(string, adapters.TableLimits) (adapters.Table, error) {
	if dir != adapters.DirSource {
		return nil
	}
	c := d.state
	if d.dry != nil {
		if d.dry.tables == nil {
			d.dry.tables = state.Memory()
		}
		c = d.dry.tables
	}
	if c == nil {
		return nil
	}
	return func(table string, l adapters.TableLimits) (adapters.Table, error) {
		return c.Table(name, table, l)
	}
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
