package daemon

import (
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/daemon/web"
)

// statusBuffer is the STATUS line's subscription buffer: room for every condition the
// daemon sets while it starts, before the status loop reads.
const statusBuffer = 512

// wireEvents creates the event bus and its first subscribers: the health tracker
// publishes its transitions on it, the metrics count from it, and the STATUS line reads
// it. It runs before anything can publish.
func (d *Daemon) wireEvents() {
	d.bus = events.New(d.now)
	d.health.SetBus(d.bus)
	d.bus.Handle("metrics", countEvents(d.m), countedKinds...)
	d.bus.Handle("dead-letters", d.deadWatch.handle, events.DeadLettered)
	d.bus.Handle("status-page", d.page.recordError, pageErrorKinds...)
	d.deadWake = make(chan struct{}, 1)
	d.statusSub = d.bus.Subscribe("status", statusBuffer, events.ReadinessChanged, events.StoreQuarantined, events.ConfigReloaded)
	d.status = newStatusView()
}

// countedKinds are the kinds countEvents counts.
var countedKinds = []events.Kind{
	events.Received, events.Rejected, events.Delivered, events.Retried, events.DeadLettered, events.StoreQuarantined,
}

// countEvents returns the bus handler that keeps the Prometheus counters of m.
//
// It is a synchronous handler (events.Bus.Handle), not a channel subscriber, on
// purpose. It sees every received and delivered event, the hot path: a channel would
// wake the reading goroutine for them and could drop counts under a burst, while a
// handler is never lost and costs about half the CPU (BenchmarkPublish in
// daemon/events, -cpu 1, so that the reader's work is counted: best of 6 runs ~70 ns
// per event for the handler, ~150 ns for a channel, no allocation either way). It
// neither blocks nor publishes.
func countEvents(m *web.Metrics) func(events.Event) {
	return func(e events.Event) {
		switch e.Kind {
		case events.Received:
			m.EventsIn(e.Source).Inc()
		case events.Rejected:
			m.EventsRejected(e.Source, e.Reason).Inc()
		case events.Delivered:
			m.EventsOut(e.Sink).Inc()
		case events.Retried:
			m.Retries(e.Sink).Inc()
		case events.DeadLettered:
			m.DeadLetters(e.Sink).Inc()
		case events.StoreQuarantined:
			m.StoreQuarantined().Set(1)
		}
	}
}

// refreshBusCounters copies each bus subscriber's drop count into the metrics.
func (d *Daemon) refreshBusCounters() {
	for _, s := range d.bus.Stats() {
		d.m.BusDropped(s.Name).Set(s.Dropped)
	}
}

func (d *Daemon) sourceNames() []string {
	srcs := d.sourceList()
	out := make([]string, 0, len(srcs))
	for _, s := range srcs {
		out = append(out, s.name)
	}
	return out
}

func (d *Daemon) sinkNames() []string {
	sinks := d.sinkList()
	out := make([]string, 0, len(sinks))
	for _, s := range sinks {
		out = append(out, s.Name)
	}
	return out
}

// sourceList returns the configured sources; a reload replaces the slice, never
// changes it.
func (d *Daemon) sourceList() []source {
	d.adaptersMu.RLock()
	defer d.adaptersMu.RUnlock()
	return d.sources
}

// sinkList returns the configured sinks, as sourceList does the sources.
func (d *Daemon) sinkList() []pipeline.Sink {
	d.adaptersMu.RLock()
	defer d.adaptersMu.RUnlock()
	return d.sinks
}

// sinkTypeOf returns a configured sink's type ("" for none).
func (d *Daemon) sinkTypeOf(name string) string {
	d.adaptersMu.RLock()
	defer d.adaptersMu.RUnlock()
	return d.sinkTypes[name]
}

// queued counts the events waiting in every outbox.
func (d *Daemon) queued() int64 {
	var n int64
	for _, s := range d.pipe.Status() {
		n += s.Depth
	}
	return n
}
