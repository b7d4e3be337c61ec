package web

import "github.com/VictoriaMetrics/metrics"

// The store's bounds (store.max_bytes, store.max_dead_letters, store.max_dead_bytes).
const (
	// MetricStoreLiveBytes is the store's live data in bytes: the pages in use, which
	// store.max_bytes bounds (not the file size: the file never shrinks).
	MetricStoreLiveBytes = "edgerelay_store_live_bytes"
	// MetricStoreMaxBytes is the bound in effect (store.max_bytes, lowered to what the
	// disk can hold); 0 when unbounded.
	MetricStoreMaxBytes = "edgerelay_store_max_bytes"
	// MetricStoreFull is 1 while the store is at store.max_bytes (back-pressure),
	// else 0.
	MetricStoreFull = "edgerelay_store_full"
	// MetricDeadLettersEvicted counts dead letters evicted, oldest first, to keep a
	// sink's dead letters within store.max_dead_letters and store.max_dead_bytes.
	// Labels: sink (@rejected for the refused events).
	MetricDeadLettersEvicted = "edgerelay_dead_letters_evicted_total"
	// MetricDeadLettersKept is the number of dead letters a sink has in the store,
	// waiting for `edgerelay queue retry` or `queue drop` (refreshed every 30 s, and
	// within seconds of a new dead letter). Labels: sink.
	MetricDeadLettersKept = "edgerelay_dead_letters_kept"
)

// DeadLettersKept reports that sink has n dead letters in the store.
func (m *Metrics) DeadLettersKept(sink string, n int) {
	v := float64(n)
	m.callbackGauge(series(MetricDeadLettersKept, "sink", sink), func() float64 { return v })
}

// StoreLiveBytes makes f the source of the store's live bytes, read at every scrape.
func (m *Metrics) StoreLiveBytes(f func() float64) { m.callbackGauge(MetricStoreLiveBytes, f) }

// StoreMaxBytes makes f the source of the store's bound in bytes.
func (m *Metrics) StoreMaxBytes(f func() float64) { m.callbackGauge(MetricStoreMaxBytes, f) }

// StoreFull makes f the source of the store's full flag (0 or 1).
func (m *Metrics) StoreFull(f func() float64) { m.callbackGauge(MetricStoreFull, f) }

// DeadLettersEvicted returns the counter of sink's evicted dead letters, to Set from
// the store's running total.
func (m *Metrics) DeadLettersEvicted(sink string) *metrics.Counter {
	return m.set.GetOrCreateCounter(series(MetricDeadLettersEvicted, "sink", sink))
}
