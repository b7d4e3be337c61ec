package daemon

// registerGauges exposes each sink's queue depth and the age of its oldest undelivered
// event as gauges, read from the pipeline when /metrics is scraped.
func (d *Daemon) registerGauges() {
	d.registerSpaceGauges()
	for _, s := range d.sinks {
		d.registerSinkGauges(s.Name)
	}
}

// registerSinkGauges exposes sink name's queue gauges (at start, or when a reload adds
// the sink; a sink removed reads 0).
func (d *Daemon) registerSinkGauges(name string) {
	d.m.QueueDepth(name, func() float64 {
		st, _ := d.pipe.SinkStatus(name)
		return float64(st.Depth)
	})
	d.m.QueueOldestAge(name, func() float64 {
		if st, _ := d.pipe.SinkStatus(name); !st.Oldest.IsZero() {
			return d.now().Sub(st.Oldest).Seconds()
		}
		return 0
	})
}

// refreshStoreCounters copies the store's running totals into the metrics.
func (d *Daemon) refreshStoreCounters() {
	c := d.db.Counters()
	d.m.StoreCommits().Set(c.Commits)
	d.m.StoreBytesWritten().Set(c.BytesWritten)
	d.refreshEvictions()
}
