// Package lifecycle publishes the daemon's lifecycle events (docs/lifecycle-events.md)
// as CloudEvents 1.0 to the broker the configuration names: it reads the daemon's
// event bus (package daemon/events), turns the facts the catalogue lists into
// envelopes, and hands them one at a time to the adapter's Publisher (package
// adapters/lifecycle and its brokers).
//
// Publishing never slows relaying: the bus never blocks, and the publisher's bus
// subscription is its bounded buffer (events.buffer); when the broker is slow or
// unreachable the oldest buffered event is dropped and counted. An unreachable
// broker is retried with backoff (1 s doubling to 30 s, with jitter) and shown as
// the degraded condition "events"/"broker" on /ready. At shutdown Run gets a short,
// bounded time (events.stop_flush) to publish what is left, edge.node.stopping
// included.
package lifecycle

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	contract "github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/daemon/events"
)

// Backoff bounds between connection attempts.
const (
	BackoffMin = time.Second
	BackoffMax = 30 * time.Second
	// PublishTimeout bounds one Publish (and one Connect).
	PublishTimeout = 10 * time.Second
)

// SubscriberName is the publisher's name on the event bus (and in
// edgerelay_bus_dropped_total).
const SubscriberName = "lifecycle"

// Condition is the health condition of the component "events": degraded while the
// broker cannot be reached.
const Condition = "broker"

// Node is what the store knows of this node (see RecordNode).
type Node struct {
	// ID is the node id, generated on the first start on a store.
	ID string
	// Registered is true on that first start.
	Registered bool
	// Previous is the version recorded at the last start; "" on the first.
	Previous string
}

// Options configure a Publisher.
type Options struct {
	Config    Config
	Publisher contract.Publisher
	Bus       *events.Bus
	// Health reports the "broker" condition; nil reports nothing.
	Health  adapters.Health
	Log     *slog.Logger
	Clock   clock.Clock
	Version string
	Node    Node
	// Adapters are the adapter types compiled in (edge.node.started).
	Adapters []string
}

// Stats are the publisher's counters.
type Stats struct {
	Published map[string]uint64 // by type
	Failed    uint64            // Publish or Connect attempts that failed
	Dropped   uint64            // events lost: the buffer was full, or shutdown came first
	Buffered  int               // events waiting now
	Connected bool
}

// Publisher runs the publishing of one daemon.
type Publisher struct {
	o      Options
	log    *slog.Logger
	clock  clock.Clock
	sub    *events.Subscription
	source string

	connected atomic.Bool
	failed    atomic.Uint64
	lost      atomic.Uint64 // dropped at shutdown (the bus counts the rest)
	mu        sync.Mutex
	published map[string]uint64

	started *events.Event // the Started event, until Ready publishes edge.node.started
	sentUp  bool          // edge.node.started was published (or given up)
	degrade bool          // the "broker" condition is degraded now
}

// New subscribes to the bus; call Run next. It never dials.
func New(o Options) *Publisher {
	o.Clock = clock.Or(o.Clock)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	kinds := []events.Kind{events.Started, events.Ready, events.ReadinessChanged, events.Stopping,
		events.DeadLettered, events.CommandExecution}
	if o.Config.AlertRelayed {
		kinds = append(kinds, events.Delivered)
	}
	p := &Publisher{o: o, log: o.Log, clock: o.Clock, published: map[string]uint64{},
		source: SourceURI(o.Config.CoreName, o.Node.ID)}
	p.sub = o.Bus.Subscribe(SubscriberName, o.Config.Buffer, kinds...)
	return p
}

// Stats returns the counters.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	pub := make(map[string]uint64, len(p.published))
	for k, v := range p.published {
		pub[k] = v
	}
	p.mu.Unlock()
	return Stats{Published: pub, Failed: p.failed.Load(), Dropped: p.sub.Dropped() + p.lost.Load(),
		Buffered: len(p.sub.C()), Connected: p.connected.Load()}
}

// Run publishes until ctx ends, then spends at most Config.StopFlush publishing
// what is buffered, closes the adapter's publisher and returns. It returns nil.
//
// Events that wait in the buffer go out together, up to MaxBatch at a time, to a
// publisher that can wait for the broker once for several (contract.BatchPublisher):
// under a burst of edge.alert.relayed that is one round trip per batch, not per event.
func (p *Publisher) Run(ctx context.Context) error {
	defer p.sub.Close()
	defer func() { _ = p.o.Publisher.Close() }()
	for {
		select {
		case e := <-p.sub.C():
			msgs := p.gather(p.translate(e))
			if _, ok := p.o.Publisher.(contract.BatchPublisher); ok && len(msgs) < MaxBatch {
				msgs = p.linger(ctx, msgs)
			}
			if !p.deliver(ctx, msgs) { // ctx ended first: the flush tries them
				p.flush(msgs)
				return nil
			}
		case <-ctx.Done():
			p.flush(nil)
			return nil
		}
	}
}

// MaxBatch bounds the messages handed to one PublishBatch; Linger is how long a
// batch waits for more events before it goes (a lifecycle event may wait that long;
// under a burst of edge.alert.relayed it saves a broker round trip per event).
const (
	MaxBatch = 128
	Linger   = 2 * time.Millisecond
)

// linger adds to msgs the events that come within Linger, up to MaxBatch messages.
// It waits on real time, not the daemon's clock: a batch is a matter of CPU, and a
// test's fake clock must not hold an event back.
func (p *Publisher) linger(ctx context.Context, msgs []contract.Message) []contract.Message {
	t := time.NewTimer(Linger)
	defer t.Stop()
	for len(msgs) < MaxBatch {
		select {
		case e := <-p.sub.C():
			msgs = p.gather(append(msgs, p.translate(e)...))
		case <-t.C:
			return msgs
		case <-ctx.Done():
			return msgs
		}
	}
	return msgs
}

// gather adds to msgs what the buffer already holds, up to MaxBatch messages.
func (p *Publisher) gather(msgs []contract.Message) []contract.Message {
	for len(msgs) < MaxBatch {
		select {
		case e := <-p.sub.C():
			msgs = append(msgs, p.translate(e)...)
		default:
			return msgs
		}
	}
	return msgs
}

// flush publishes pending, then what the buffer holds, within StopFlush, giving up
// at the first failure (the broker had its chance during the backoff); what it
// does not publish counts as dropped.
func (p *Publisher) flush(pending []contract.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), p.o.Config.StopFlush)
	defer cancel()
	for {
		if len(pending) > 0 {
			if rest := p.attempt(ctx, pending); len(rest) > 0 {
				p.lost.Add(uint64(len(rest) + len(p.sub.C())))
				return
			}
		}
		select {
		case e := <-p.sub.C():
			pending = p.gather(p.translate(e))
		default:
			return
		}
	}
}

// deliver publishes msgs, connecting and retrying with backoff until all are
// published (true) or ctx ends (false).
func (p *Publisher) deliver(ctx context.Context, msgs []contract.Message) bool {
	delay := BackoffMin
	for {
		if msgs = p.attempt(ctx, msgs); len(msgs) == 0 {
			return true
		}
		// Full jitter on the upper half: [delay/2, delay).
		wait := delay/2 + rand.N(delay/2)
		t := p.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C():
		}
		delay = min(delay*2, BackoffMax)
	}
}

// attempt connects if needed and publishes msgs once; it returns those not
// published (all of them after a failed batch: some may have arrived, and go again
// with the same ids).
func (p *Publisher) attempt(ctx context.Context, msgs []contract.Message) []contract.Message {
	if ctx.Err() != nil {
		return msgs
	}
	if !p.connected.Load() {
		cctx, cancel := context.WithTimeout(ctx, PublishTimeout)
		err := p.o.Publisher.Connect(cctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil { // not the shutdown
				p.fail("connect", err)
			}
			return msgs
		}
		p.connected.Store(true)
		p.log.Info("lifecycle broker connected", "adapter", p.o.Config.Adapter)
	}
	done, err := p.publish(ctx, msgs)
	p.mu.Lock()
	for _, m := range msgs[:done] {
		p.published[m.Type]++
	}
	p.mu.Unlock()
	if err != nil {
		p.connected.Store(false)
		if ctx.Err() == nil { // a publish cut short by the shutdown is not the broker's fault
			p.fail("publish", err)
		}
		return msgs[done:]
	}
	if p.degrade {
		p.degrade = false
		if p.o.Health != nil {
			p.o.Health.SetDegraded(Condition, true, "")
		}
	}
	return nil
}

// publish sends msgs: in batches of MaxBatch to a BatchPublisher, else one by
// one. It returns how many of msgs, from the first, the broker has for sure.
func (p *Publisher) publish(ctx context.Context, msgs []contract.Message) (int, error) {
	bp, batches := p.o.Publisher.(contract.BatchPublisher)
	done := 0
	for done < len(msgs) {
		n := 1
		if batches {
			n = min(len(msgs)-done, MaxBatch)
		}
		pctx, cancel := context.WithTimeout(ctx, PublishTimeout)
		var err error
		if n > 1 {
			err = bp.PublishBatch(pctx, msgs[done:done+n])
		} else {
			err = p.o.Publisher.Publish(pctx, msgs[done])
		}
		cancel()
		if err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

func (p *Publisher) fail(what string, err error) {
	p.failed.Add(1)
	detail := secret.Cut(what+": "+err.Error(), events.MaxReason)
	if !p.degrade {
		p.degrade = true
		p.log.Warn("lifecycle broker unreachable; events are buffered and retried", "adapter", p.o.Config.Adapter, "err", detail)
		if p.o.Health != nil {
			p.o.Health.SetDegraded(Condition, false, detail)
		}
	} else {
		p.log.Debug("lifecycle broker still unreachable", "err", detail)
	}
}

// translate turns a bus event into the lifecycle messages it stands for (none,
// one, or the start's two or three).
func (p *Publisher) translate(e events.Event) []contract.Message {
	var out []contract.Message
	add := func(typ string, d *Data) {
		if err := d.check(typ); err != nil {
			p.log.Error("lifecycle event not published", "err", err) // a bug: the tests catch it
			return
		}
		env := &Envelope{ID: NewID(e.Time), Source: p.source, Type: typ, Time: e.Time, CoreName: p.o.Config.CoreName, Data: d}
		out = append(out, contract.Message{ID: env.ID, Type: typ, CoreName: env.CoreName,
			Topic: contract.DomainTopic(typ), Body: env.Encode()})
	}
	switch e.Kind {
	case events.Started:
		ev := e
		p.started = &ev
	case events.Ready:
		if p.sentUp {
			break
		}
		p.sentUp = true
		st := events.Event{Version: p.o.Version}
		if p.started != nil {
			st = *p.started
		}
		version := st.Version
		if version == "" {
			version = p.o.Version
		}
		if p.o.Node.Registered {
			add(TypeNodeRegistered, new(Data).Set("node_id", p.o.Node.ID).Set("version", version))
		}
		var prev any
		if p.o.Node.Previous != "" {
			prev = p.o.Node.Previous
		}
		add(TypeNodeStarted, new(Data).Set("node_id", p.o.Node.ID).Set("version", version).Set("previous_version", prev).
			Set("adapters", nonNil(p.o.Adapters)).Set("sources", nonNil(st.Sources)).Set("sinks", nonNil(st.Sinks)))
		if p.o.Node.Previous != "" && p.o.Node.Previous != version {
			add(TypeNodeVersionChanged, new(Data).Set("from", p.o.Node.Previous).Set("to", version))
		}
	case events.ReadinessChanged:
		if e.NodeFrom == "" || e.NodeTo == "" || e.NodeFrom == e.NodeTo {
			break
		}
		reason := e.Condition
		if e.Reason != "" {
			reason += ": " + e.Reason
		}
		add(TypeNodeStatusChanged, new(Data).Set("from", e.NodeFrom).Set("to", e.NodeTo).Set("component", e.Component).
			Set("reason", events.Cut(reason, events.MaxReason)))
	case events.Stopping:
		add(TypeNodeStopping, new(Data).Set("reason", e.Reason).Set("queued", e.Queued))
	case events.DeadLettered:
		add(TypeDeliveryDeadLettered, new(Data).Set("sink", e.Sink).Set("event_id", e.EventID).Set("key", e.Key).Set("reason", e.Reason))
	case events.CommandExecution:
		typ, ok := commandTypes[e.To]
		if !ok {
			break
		}
		var exit any
		if e.Exited {
			exit = int64(e.ExitCode)
		}
		add(typ, new(Data).Set("item_id", e.ItemID).Set("alert_id", e.AlertID).Set("exit_code", exit).Set("duration_ms", e.DurationMS))
	case events.Delivered:
		if p.o.Config.AlertRelayed {
			add(TypeAlertRelayed, new(Data).Set("source", e.Source).Set("sink", e.Sink).Set("event_id", e.EventID).Set("key", e.Key))
		}
	}
	return out
}

// commandTypes maps the states of a CommandExecution bus event to their types.
var commandTypes = map[string]string{
	events.CommandCreated: TypeCommandCreated, events.CommandCompleted: TypeCommandCompleted,
	events.CommandFailed: TypeCommandFailed, events.CommandExpired: TypeCommandExpired,
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
