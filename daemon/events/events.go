// Package events is the daemon's event bus: one ordered stream of typed facts about
// what the daemon does (it started, a condition changed, a sink connected, an event was
// delivered or dead-lettered, the store was quarantined), for everything that watches
// it: the metrics, the systemd STATUS line and, later, the lifecycle CloudEvents
// publisher, the LEDs and the status page.
//
// # Events
//
// An [Event] is one flat struct with a [Kind]; each kind documents which fields it
// fills. Every event gets a sequence number (1, 2, … per bus, in publish order) and a
// timestamp from the daemon's clock when it is published. Events carry names, ids,
// keys and short reasons, never payloads or secrets: reasons come from errors the
// adapters already redact, and the bus redacts them again (every known secret,
// package adapters/secret) before it cuts them to [MaxReason] bytes.
//
// # Fan-out
//
// [Bus.Publish] never blocks. A subscriber made with [Bus.Subscribe] has a channel with
// a bounded buffer; when it is full the oldest buffered event is dropped to make room
// and the subscriber's drop counter grows (a gap in Seq shows where). A handler made
// with [Bus.Handle] is called synchronously inside Publish, for cheap work such as
// incrementing counters, where a channel would cost a goroutine wake-up per event.
// Both take a set of kinds; a kind no one asked for costs Publish one atomic load.
//
// Every subscriber and handler sees the events of its kinds in Seq order. Publish may
// be called from any goroutine, also while the caller holds its own locks, as long as
// no handler takes those locks (handlers must never publish or call back into the
// publisher).
package events

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Kind says what an event reports and which of its fields are set.
type Kind uint8

// The kinds of events. The fields each kind sets are listed; Seq, Time and Kind are
// always set.
const (
	_ Kind = iota
	// Started: the daemon runs (store, pipeline, web server and sources started; READY
	// may still wait for the sources). Version, Sources, Sinks.
	Started
	// Ready: READY=1 was sent to the service manager. Reason is empty when every source
	// had subscribed, else it names what was still missing when the startup grace ended.
	Ready
	// Stopping: shutdown began (step 1). Reason (the cause), Queued (events waiting in
	// the outboxes).
	Stopping
	// ReadinessChanged: a health condition changed state. Component, Condition, From
	// and To (condition states: "" for a condition not seen before or removed,
	// [StateOK], [StateDegraded], [StateCritical]), Reason (the condition's detail),
	// NodeFrom and NodeTo (the node's state before and after: [NodeOK],
	// [NodeDegraded], [NodeNotReady]).
	ReadinessChanged
	// SinkConnected: a sink's Connect succeeded. Sink.
	SinkConnected
	// SinkDisconnected: a connected sink lost its connection, or its first Connect
	// failed. Sink, Reason.
	SinkDisconnected
	// Received: a source handed an event to the daemon. Source, EventID, Key.
	Received
	// Rejected: an event was refused at intake (no route, too large, invalid, skipped
	// by a transform). Source, EventID, Key, Reason (a fixed snake_case code).
	Rejected
	// Delivered: a sink delivered an event. Sink, Source, EventID, Key.
	Delivered
	// Retried: a send failed and the event will be tried again (or, for a source with
	// ack: delivered, redelivered by upstream). Sink, Source, EventID, Key, Reason.
	Retried
	// DeadLettered: a sink's event was moved to its dead letters. Sink, Source,
	// EventID, Key, Reason.
	DeadLettered
	// StoreQuarantined: the store file was unreadable at start and was moved aside.
	// Path (where it was moved), Reason.
	StoreQuarantined
	// SourceRoleChanged: a source changed role (an edge connector going from standby
	// to active). Source, From, To (roles chosen by the source), Reason.
	SourceRoleChanged
	// CommandExecution: a sink ran a command for one edge connector item (the script
	// sink, for an event of the ilert_edge source). Sink, To (the state:
	// [CommandCreated], [CommandCompleted], [CommandFailed], [CommandExpired]),
	// ItemID, AlertID, Exited and ExitCode (once it exited), DurationMS.
	CommandExecution
	// ConfigReloaded: a configuration reload (SIGHUP) ended. To is [ReloadOK] (the
	// file was applied, perhaps with sections that wait for a restart) or
	// [ReloadFailed] (refused: the previous configuration still runs); Reason says
	// what changed, or why it was refused. Not published outward as a lifecycle
	// event: the readiness change of the config component is.
	ConfigReloaded

	numKinds = iota
)

// Kinds holds one bit per kind.
var _ [32 - numKinds]struct{}

var kindNames = [numKinds]string{
	Started: "started", Ready: "ready", Stopping: "stopping", ReadinessChanged: "readiness_changed",
	SinkConnected: "sink_connected", SinkDisconnected: "sink_disconnected", Received: "received",
	Rejected: "rejected", Delivered: "delivered", Retried: "retried", DeadLettered: "dead_lettered",
	StoreQuarantined: "store_quarantined", SourceRoleChanged: "source_role_changed",
	CommandExecution: "command_execution", ConfigReloaded: "config_reloaded",
}

// The outcomes of a ConfigReloaded event.
const (
	ReloadOK     = "ok"
	ReloadFailed = "failed"
)

// The states of a CommandExecution event.
const (
	CommandCreated   = "created"   // the command was started
	CommandCompleted = "completed" // it exited with status 0
	CommandFailed    = "failed"    // it exited with another status, or could not start
	CommandExpired   = "expired"   // it ran past its timeout and was killed
)

// String returns the kind's snake_case name ("readiness_changed"), or "unknown".
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// MarshalText encodes the kind as its String.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// The states of a condition in a ReadinessChanged event, the same words as
// health.Severity.
const (
	StateOK       = "ok"
	StateDegraded = "degraded"
	StateCritical = "critical"
)

// The states of the node in a ReadinessChanged event: ready with nothing failing,
// ready with a degraded condition, or not ready (a critical condition, or stopping).
const (
	NodeOK       = "ok"
	NodeDegraded = "degraded"
	NodeNotReady = "not_ready"
)

// MaxReason bounds Event.Reason in bytes; Publish cuts longer reasons at a character
// boundary.
const MaxReason = 256

// Event is one fact the daemon publishes. Which fields are set depends on Kind (see
// the kinds). An event is a value: subscribers get copies, and must treat the slices
// (Sources, Sinks) as read-only.
type Event struct {
	// Seq numbers, from 1 in publish order, the bus's events that some subscriber or
	// handler took (events of kinds nobody asked for are not numbered). A subscriber
	// sees gaps for the kinds it did not ask for and for what it dropped.
	Seq uint64 `json:"seq"`
	// Time is when the event was published, by the daemon's clock.
	Time time.Time `json:"time"`
	Kind Kind      `json:"kind"`

	Component string `json:"component,omitempty"`
	Condition string `json:"condition,omitempty"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	NodeFrom  string `json:"node_from,omitempty"`
	NodeTo    string `json:"node_to,omitempty"`

	Sink    string `json:"sink,omitempty"`
	Source  string `json:"source,omitempty"`
	EventID string `json:"event_id,omitempty"`
	Key     string `json:"key,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Path    string `json:"path,omitempty"`

	Version string   `json:"version,omitempty"`
	Sources []string `json:"sources,omitempty"`
	Sinks   []string `json:"sinks,omitempty"`
	Queued  int64    `json:"queued,omitempty"`

	ItemID     string `json:"item_id,omitempty"`
	AlertID    string `json:"alert_id,omitempty"`
	Exited     bool   `json:"exited,omitempty"`
	ExitCode   int    `json:"exit_code,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
}

// Kinds is a set of kinds.
type Kinds uint32

// KindSet returns the set of ks; no kinds means every kind.
func KindSet(ks ...Kind) Kinds {
	if len(ks) == 0 {
		return (1<<numKinds - 1) &^ 1 // every kind but the zero Kind
	}
	var s Kinds
	for _, k := range ks {
		s |= 1 << k
	}
	return s
}

// Has reports whether k is in s.
func (s Kinds) Has(k Kind) bool { return s&(1<<k) != 0 }

// DefaultBuffer is the channel size Subscribe uses for a size of 0 or less.
const DefaultBuffer = 256

// Bus fans events out to its subscribers. The zero value is not usable; use New.
// Publish, Wants and Stats of a nil *Bus do nothing, so code under test may run
// without one.
type Bus struct {
	now  func() time.Time
	want atomic.Uint32 // union of every subscriber's and handler's kinds

	mu       sync.Mutex // guards seq, subs and handlers; held while an event is fanned out
	seq      uint64
	subs     []*Subscription
	handlers []*handler
}

type handler struct {
	name  string
	kinds Kinds
	f     func(Event)
}

// New returns a bus that timestamps events with now (nil means time.Now).
func New(now func() time.Time) *Bus {
	if now == nil {
		now = time.Now
	}
	return &Bus{now: now}
}

// Publish stamps e with the next sequence number and the time, and hands it to every
// subscriber and handler that takes its kind. It never blocks (handlers aside, which
// must not). Seq and Time of e are overwritten; a Reason over MaxReason is cut.
func (b *Bus) Publish(e Event) {
	if b == nil || !Kinds(b.want.Load()).Has(e.Kind) {
		return
	}
	e.Reason = Cut(e.Reason, MaxReason)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e.Seq = b.seq
	e.Time = b.now()
	for _, h := range b.handlers {
		if h.kinds.Has(e.Kind) {
			h.f(e)
		}
	}
	for _, s := range b.subs {
		if s.kinds.Has(e.Kind) {
			s.offer(e)
		}
	}
}

// Wants reports whether some subscriber or handler takes kind k, for a publisher that
// would otherwise compute an expensive field for nothing.
func (b *Bus) Wants(k Kind) bool { return b != nil && Kinds(b.want.Load()).Has(k) }

// Subscribe registers the subscriber name for the given kinds (every kind when none):
// its channel buffers up to size events (DefaultBuffer when size ≤ 0). Subscribing
// sees only events published afterwards. The name labels its drop counter in /metrics.
func (b *Bus) Subscribe(name string, size int, kinds ...Kind) *Subscription {
	if size <= 0 {
		size = DefaultBuffer
	}
	s := &Subscription{b: b, name: name, kinds: KindSet(kinds...), ch: make(chan Event, size)}
	b.mu.Lock()
	b.subs = append(b.subs, s)
	b.updateWantLocked()
	b.mu.Unlock()
	return s
}

// Handle registers f, named name, to be called synchronously by Publish for each event
// of the given kinds (every kind when none), under the bus's lock and in Seq order. f
// must be cheap, must not block, must not publish, and must not take a lock a publisher
// may hold while publishing (the health tracker publishes under its own lock, so f must
// not call the tracker either). The returned function removes it.
func (b *Bus) Handle(name string, f func(Event), kinds ...Kind) (remove func()) {
	h := &handler{name: name, kinds: KindSet(kinds...), f: f}
	b.mu.Lock()
	b.handlers = append(b.handlers, h)
	b.updateWantLocked()
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for i, x := range b.handlers {
			if x == h {
				b.handlers = append(b.handlers[:i:i], b.handlers[i+1:]...)
				break
			}
		}
		b.updateWantLocked()
	}
}

// SubscriberStats describes one subscriber for metrics.
type SubscriberStats struct {
	Name    string
	Dropped uint64
}

// Stats returns every current subscriber's name and drop count, in subscription order.
func (b *Bus) Stats() []SubscriberStats {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]SubscriberStats, 0, len(b.subs))
	for _, s := range b.subs {
		out = append(out, SubscriberStats{Name: s.name, Dropped: s.dropped.Load()})
	}
	return out
}

func (b *Bus) updateWantLocked() {
	var w Kinds
	for _, s := range b.subs {
		w |= s.kinds
	}
	for _, h := range b.handlers {
		w |= h.kinds
	}
	b.want.Store(uint32(w))
}

// Subscription is one subscriber's buffered view of the bus.
type Subscription struct {
	b       *Bus
	name    string
	kinds   Kinds
	ch      chan Event
	dropped atomic.Uint64
	closed  bool // guarded by b.mu
}

// C returns the channel the subscriber reads; it is closed by Close.
func (s *Subscription) C() <-chan Event { return s.ch }

// Name returns the subscriber's name.
func (s *Subscription) Name() string { return s.name }

// Dropped returns how many events were dropped because the buffer was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes its channel (events still buffered can be
// read). It may be called more than once.
func (s *Subscription) Close() {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for i, x := range b.subs {
		if x == s {
			b.subs = append(b.subs[:i:i], b.subs[i+1:]...)
			break
		}
	}
	b.updateWantLocked()
	close(s.ch)
}

// offer buffers e, dropping the oldest buffered event when the buffer is full. Only
// Publish calls it, under b.mu, so no other send races with it; the reader may, which
// at worst leaves room that the second send then takes.
func (s *Subscription) offer(e Event) {
	select {
	case s.ch <- e:
		return
	default:
	}
	select {
	case <-s.ch:
		s.dropped.Add(1)
	default:
	}
	select {
	case s.ch <- e:
	default:
		s.dropped.Add(1) // cannot happen: only Publish sends, under b.mu
	}
}

// Cut returns s redacted (known secrets replaced, [secret.Cut]) and then cut to at
// most n bytes without splitting a character.
func Cut(s string, n int) string { return secret.Cut(s, n) }
