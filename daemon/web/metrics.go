package web

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// The names of the daemon's metrics. Labels are given in braces; every name carries the
// edgerelay_ prefix. Label values are adapter instance names and fixed reason codes,
// never free text, so the number of series stays bounded.
const (
	// MetricEventsIn counts events a source handed to the daemon. Labels: source.
	MetricEventsIn = "edgerelay_events_in_total"
	// MetricEventsOut counts events a sink delivered. Labels: sink.
	MetricEventsOut = "edgerelay_events_out_total"
	// MetricEventsRejected counts events refused at intake (malformed, filtered, over
	// size). Labels: source, reason.
	MetricEventsRejected = "edgerelay_events_rejected_total"
	// MetricRetries counts failed Send attempts that were scheduled for a retry. Labels:
	// sink.
	MetricRetries = "edgerelay_retries_total"
	// MetricDeadLetters counts events moved to a sink's dead-letter bucket. Labels: sink.
	MetricDeadLetters = "edgerelay_dead_letters_total"
	// MetricQueueDepth is the number of events waiting in a sink's outbox. Labels: sink.
	MetricQueueDepth = "edgerelay_queue_depth"
	// MetricQueueOldestAge is the age in seconds of the oldest event in a sink's outbox,
	// 0 when it is empty. Labels: sink.
	MetricQueueOldestAge = "edgerelay_queue_oldest_age_seconds"
	// MetricStoreCommits counts the store's write transactions.
	MetricStoreCommits = "edgerelay_store_commits_total"
	// MetricStoreBytesWritten counts the bytes the store wrote to disk: the flash-wear
	// figure.
	MetricStoreBytesWritten = "edgerelay_store_bytes_written_total"
	// MetricStoreQuarantined is 1 when a corrupt store file was moved aside at startup
	// and the daemon runs on a fresh one, else 0.
	MetricStoreQuarantined = "edgerelay_store_quarantined"
	// MetricStoreStranded is the number of entries, found at start, in an outbox or
	// dead-letter bucket of a sink the configuration no longer has (renamed or
	// removed). Labels: sink, bucket ("outbox" or "dead").
	MetricStoreStranded = "edgerelay_store_stranded"
	// MetricBusDropped counts the daemon events (package daemon/events) a bus
	// subscriber lost because it did not read them in time. Labels: subscriber.
	MetricBusDropped = "edgerelay_bus_dropped_total"
	// MetricBrokerRejects counts connections and packets the embedded MQTT broker
	// refused. Labels: reason (package daemon/broker's Reject* codes).
	MetricBrokerRejects = "edgerelay_broker_rejects_total"
	// MetricSourceRejects counts requests a source's listener refused before they
	// became events (the ilert_http API's 400, 401, 404, 405 and 413 answers). Labels:
	// source, reason.
	MetricSourceRejects = "edgerelay_source_rejects_total"
	// MetricHTTPErrors counts the error lines of the daemon's HTTP servers:
	// connections given up before a request was read (a failed TLS handshake: no or
	// a wrong client certificate, plain HTTP to a TLS port), malformed requests,
	// panics. Labels: listener (the health component: "http" or "source:<name>"),
	// reason (tls_handshake, panic, accept, other).
	MetricHTTPErrors = "edgerelay_http_errors_total"
	// MetricAdminRefused counts the status page's actions (POST /api/dead-letters/…)
	// refused before they ran. Labels: reason (the Refused* codes).
	MetricAdminRefused = "edgerelay_http_admin_refused_total"
	// MetricLifecyclePublished counts the lifecycle events the broker took. Labels:
	// type.
	MetricLifecyclePublished = "edgerelay_lifecycle_published_total"
	// MetricLifecycleFailed counts failed connects and publishes to the lifecycle
	// broker.
	MetricLifecycleFailed = "edgerelay_lifecycle_failed_total"
	// MetricLifecycleDropped counts lifecycle events lost: the buffer was full (the
	// oldest goes), or shutdown came before the broker took them.
	MetricLifecycleDropped = "edgerelay_lifecycle_dropped_total"
	// MetricLifecycleBuffered is the number of lifecycle events waiting.
	MetricLifecycleBuffered = "edgerelay_lifecycle_buffered"
	// MetricLifecycleConnected is 1 while the lifecycle broker is connected.
	MetricLifecycleConnected = "edgerelay_lifecycle_connected"
	// MetricConfigReloads counts configuration reloads (SIGHUP). Labels: result
	// ("ok", "failed").
	MetricConfigReloads = "edgerelay_config_reloads_total"
	// MetricConfigReloadOK is 1 when the last reload applied the file (or none was
	// tried), 0 when it was refused and the previous configuration still runs.
	MetricConfigReloadOK = "edgerelay_config_last_reload_successful"
	// MetricConfigReloadTime is the Unix time of the last configuration that was
	// applied: the start, then each successful reload.
	MetricConfigReloadTime = "edgerelay_config_last_reload_success_timestamp_seconds"
)

// ConfigReloads returns the counter of reloads with result "ok" or "failed".
func (m *Metrics) ConfigReloads(result string) *metrics.Counter {
	return m.set.GetOrCreateCounter(series(MetricConfigReloads, "result", result))
}

// ConfigReloaded records a reload's result (ok) at unix, or the start when ok and
// nothing was reloaded yet.
func (m *Metrics) ConfigReloaded(ok bool, unix float64) {
	v := 0.0
	if ok {
		v = 1
		m.set.GetOrCreateGauge(MetricConfigReloadTime, nil).Set(unix)
	}
	m.set.GetOrCreateGauge(MetricConfigReloadOK, nil).Set(v)
}

// LifecycleStats sets the lifecycle publisher's series from its counters.
func (m *Metrics) LifecycleStats(published map[string]uint64, failed, dropped uint64, buffered int, connected bool) {
	for typ, n := range published {
		m.set.GetOrCreateCounter(series(MetricLifecyclePublished, "type", typ)).Set(n)
	}
	m.set.GetOrCreateCounter(MetricLifecycleFailed).Set(failed)
	m.set.GetOrCreateCounter(MetricLifecycleDropped).Set(dropped)
	m.set.GetOrCreateGauge(MetricLifecycleBuffered, nil).Set(float64(buffered))
	c := 0.0
	if connected {
		c = 1
	}
	m.set.GetOrCreateGauge(MetricLifecycleConnected, nil).Set(c)
}

// Metrics creates the daemon's metrics in a metrics.Set under the names above, so that
// every part of the daemon uses the same names and labels. Per-label series are created
// on first use and cached; the returned counters are safe for concurrent use and worth
// keeping by the caller on hot paths. It is safe for concurrent use.
type Metrics struct {
	set *metrics.Set

	eventsIn, eventsOut, retries, deadLetters *counterVec[string]
	rejected                                  *counterVec[[2]string]
	busDropped                                *counterVec[string]
	brokerRejects                             *counterVec[string]
	sourceRejects                             *counterVec[[2]string]

	storeCommits, storeBytesWritten *metrics.Counter
	storeQuarantined                *metrics.Gauge

	circuits circuits // the sinks' circuit states, for MetricSinkCircuit

	mu        sync.Mutex                                 // guards callbacks
	callbacks map[string]*atomic.Pointer[func() float64] // by full series name
}

// NewMetrics registers the daemon's metrics in set. The store series exist (at 0) from
// the start; per-adapter series appear on first use. Call it once per set: a second
// call panics on the duplicate names.
func NewMetrics(set *metrics.Set) *Metrics {
	source := func(name string) func(string) string {
		return func(v string) string { return series(name, "source", v) }
	}
	sink := func(name string) func(string) string {
		return func(v string) string { return series(name, "sink", v) }
	}
	return &Metrics{
		set:         set,
		eventsIn:    newCounterVec(set, source(MetricEventsIn)),
		eventsOut:   newCounterVec(set, sink(MetricEventsOut)),
		retries:     newCounterVec(set, sink(MetricRetries)),
		deadLetters: newCounterVec(set, sink(MetricDeadLetters)),
		rejected: newCounterVec(set, func(k [2]string) string {
			return series(MetricEventsRejected, "source", k[0], "reason", k[1])
		}),
		busDropped: newCounterVec(set, func(v string) string {
			return series(MetricBusDropped, "subscriber", v)
		}),
		brokerRejects: newCounterVec(set, func(v string) string {
			return series(MetricBrokerRejects, "reason", v)
		}),
		sourceRejects: newCounterVec(set, func(k [2]string) string {
			return series(MetricSourceRejects, "source", k[0], "reason", k[1])
		}),
		storeCommits:      set.NewCounter(MetricStoreCommits),
		storeBytesWritten: set.NewCounter(MetricStoreBytesWritten),
		storeQuarantined:  set.NewGauge(MetricStoreQuarantined, nil),
		callbacks:         map[string]*atomic.Pointer[func() float64]{},
	}
}

// EventsIn returns the counter of events received from source.
func (m *Metrics) EventsIn(source string) *metrics.Counter { return m.eventsIn.get(source) }

// EventsOut returns the counter of events delivered by sink.
func (m *Metrics) EventsOut(sink string) *metrics.Counter { return m.eventsOut.get(sink) }

// EventsRejected returns the counter of events source refused for reason, a short fixed
// snake_case code ("invalid_json", "too_large", "filtered"), never an error text.
func (m *Metrics) EventsRejected(source, reason string) *metrics.Counter {
	return m.rejected.get([2]string{source, reason})
}

// Retries returns the counter of sink's failed attempts that were scheduled for retry.
func (m *Metrics) Retries(sink string) *metrics.Counter { return m.retries.get(sink) }

// DeadLetters returns the counter of events sink dead-lettered.
func (m *Metrics) DeadLetters(sink string) *metrics.Counter { return m.deadLetters.get(sink) }

// BusDropped returns the counter of events the bus subscriber named subscriber
// dropped, to Set from its running total.
func (m *Metrics) BusDropped(subscriber string) *metrics.Counter { return m.busDropped.get(subscriber) }

// BrokerRejects returns the counter of what the embedded broker refused for reason, a
// short fixed snake_case code ("auth_failed", "oversize"), never an error text.
func (m *Metrics) BrokerRejects(reason string) *metrics.Counter { return m.brokerRejects.get(reason) }

// SourceRejects returns the counter of requests source's listener refused for reason,
// a short fixed snake_case code ("unauthorized", "too_large"), never an error text.
func (m *Metrics) SourceRejects(source, reason string) *metrics.Counter {
	return m.sourceRejects.get([2]string{source, reason})
}

// QueueDepth makes f the source of sink's outbox depth, read at every scrape. Calling it
// again for the same sink replaces f; a nil f reports 0. f must be cheap and safe for
// concurrent calls.
func (m *Metrics) QueueDepth(sink string, f func() float64) {
	m.callbackGauge(series(MetricQueueDepth, "sink", sink), f)
}

// QueueOldestAge makes f the source of the age in seconds of sink's oldest queued event,
// with the same rules as QueueDepth.
func (m *Metrics) QueueOldestAge(sink string, f func() float64) {
	m.callbackGauge(series(MetricQueueOldestAge, "sink", sink), f)
}

// StoreCommits returns the counter of store write transactions. The store side may Inc
// it per commit or Set it from its own running total.
func (m *Metrics) StoreCommits() *metrics.Counter { return m.storeCommits }

// StoreBytesWritten returns the counter of bytes the store wrote, to Add per commit or
// Set from the store's running total.
func (m *Metrics) StoreBytesWritten() *metrics.Counter { return m.storeBytesWritten }

// StoreQuarantined returns the gauge to Set to 1 when a corrupt store was moved aside.
func (m *Metrics) StoreQuarantined() *metrics.Gauge { return m.storeQuarantined }

// StoreStranded reports n entries stranded in bucket ("outbox" or "dead") of the
// unconfigured sink.
func (m *Metrics) StoreStranded(sink, bucket string, n int) {
	v := float64(n)
	m.callbackGauge(series(MetricStoreStranded, "sink", sink, "bucket", bucket), func() float64 { return v })
}

func (m *Metrics) callbackGauge(name string, f func() float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.callbacks[name]
	if p == nil {
		p = new(atomic.Pointer[func() float64])
		m.set.NewGauge(name, func() float64 {
			if f := p.Load(); f != nil {
				return (*f)()
			}
			return 0
		})
		m.callbacks[name] = p
	}
	if f == nil {
		p.Store(nil)
		return
	}
	p.Store(&f)
}

// counterVec caches one counter per label value. Lookups read an immutable map through
// an atomic pointer, so the per-event path neither locks nor allocates (a sync.Map
// would box every string key into an interface); a new label value copies the map,
// which happens once per adapter instance or reason.
type counterVec[K comparable] struct {
	set  *metrics.Set
	name func(K) string
	m    atomic.Pointer[map[K]*metrics.Counter]
	mu   sync.Mutex // serialises additions
}

func newCounterVec[K comparable](set *metrics.Set, name func(K) string) *counterVec[K] {
	v := &counterVec[K]{set: set, name: name}
	v.m.Store(&map[K]*metrics.Counter{})
	return v
}

func (v *counterVec[K]) get(k K) *metrics.Counter {
	if c, ok := (*v.m.Load())[k]; ok {
		return c
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	old := *v.m.Load()
	if c, ok := old[k]; ok {
		return c
	}
	next := maps.Clone(old)
	c := v.set.GetOrCreateCounter(v.name(k))
	next[k] = c
	v.m.Store(&next)
	return c
}

// series formats name{k1="v1",k2="v2"}, escaping the values as the Prometheus text
// format requires.
func series(name string, kv ...string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(kv[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
