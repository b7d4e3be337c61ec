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
	"github.com/edgerelay/edgerelay/adapters/logx"
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

// Node is what the store knows of this node (see LoadNode).
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
	// Adapters are the adapter types compiled in (edge.node.started).
	Adapters []string
	// Limiter rate-limits the warning about a message the broker refused; nil
	// limits nothing.
	Limiter *logx.Limiter
	// OnAnnounced is called from Run once edge.node.started (with registered and
	// version_changed before and after it) is published: the daemon records this
	// version as the announced one then, so that a start that never got this far
	// announces itself again next time. Nil does nothing.
	OnAnnounced func()
}

// Stats are the publisher's counters.
type Stats struct {
	Published map[string]uint64 // by type
	Failed    uint64            // Publish or Connect attempts that failed
	Dropped   uint64            // events lost: the buffer was full, the broker refused one, or shutdown came first
	Buffered  int               // events waiting now, the ones in hand included
	Connected bool
}

// MaxAttempts bounds the publishes of one message that fail while the broker
// is reachable (Connect works): past it, or at once for an error marked
// adapters.Permanent (a topic that does not exist, a message over the broker's
// limit), the message is dropped and counted, so that one message the broker
// refuses cannot hold back every later one.
const MaxAttempts = 5

// Publisher runs the publishing of one daemon.
type Publisher struct {
	o     Options
	log   *slog.Logger
	clock clock.Clock
	sub   *events.Subscription

	// The facts the start and the stop hang on are taken synchronously from the bus
	// (Bus.Handle), never from the ring, so a burst cannot push them out.
	smu      sync.Mutex
	started  *events.Event // the Started event
	readySeq uint64        // the Ready event's Seq, 0 until it came
	stopping *events.Event // the Stopping event, until published
	wake     chan struct{}
	unhandle func()

	node   Node   // set by SetNode before Run
	source string // edgerelay://<core>/<node id>

	connected atomic.Bool
	closing   atomic.Bool
	failed    atomic.Uint64
	lost      atomic.Uint64 // dropped by the publisher (the bus counts the ring's own drops)
	inHand    atomic.Int64
	mu        sync.Mutex
	published map[string]uint64

	announced bool                    // edge.node.started is out
	nodeState string                  // the node's health state as last seen ("" before any change)
	preFail   map[string]events.Event // before the announcement: the failing conditions, by component and condition
	degrade   bool                    // the "broker" condition is degraded now
	tries     int                     // failed publishes of the first message in hand, the broker reachable
}

// New subscribes to the bus; call SetNode, then Run. It never dials. Call it
// before anything the lifecycle reports can happen (the store's quarantine).
func New(o Options) *Publisher {
	o.Clock = clock.Or(o.Clock)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	kinds := []events.Kind{events.ReadinessChanged, events.DeadLettered, events.CommandExecution}
	if o.Config.AlertRelayed {
		kinds = append(kinds, events.Delivered)
	}
	p := &Publisher{o: o, log: o.Log, clock: o.Clock, published: map[string]uint64{}, wake: make(chan struct{}, 1)}
	p.sub = o.Bus.Subscribe(SubscriberName, o.Config.Buffer, kinds...)
	p.unhandle = o.Bus.Handle(SubscriberName, p.take, events.Started, events.Ready, events.Stopping)
	return p
}

// SetNode gives the publisher this node's record; call it before Run.
func (p *Publisher) SetNode(n Node) {
	p.node = n
	p.source = SourceURI(p.o.Config.CoreName, n.ID)
}

// take keeps the start and stop facts (called inside Bus.Publish: cheap, never
// blocks).
func (p *Publisher) take(e events.Event) {
	p.smu.Lock()
	switch e.Kind {
	case events.Started:
		p.started = &e
	case events.Ready:
		if p.readySeq == 0 {
			p.readySeq = max(e.Seq, 1)
		}
	case events.Stopping:
		p.stopping = &e
	}
	p.smu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
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
		Buffered: len(p.sub.C()) + int(p.inHand.Load()), Connected: p.connected.Load()}
}

// Run publishes until ctx ends, then spends at most Config.StopFlush publishing
// what is left (edge.node.stopping first), closes the adapter's publisher and
// returns. It returns nil.
//
// Events that wait in the buffer go out together, up to MaxBatch at a time, to a
// publisher that can wait for the broker once for several (contract.BatchPublisher):
// under a burst of edge.alert.relayed that is one round trip per batch, not per event.
func (p *Publisher) Run(ctx context.Context) error {
	defer p.closeAdapter()
	for {
		msgs := p.specials()
		if len(msgs) == 0 {
			select {
			case e := <-p.sub.C():
				msgs = p.gather(p.translate(e))
				if _, ok := p.o.Publisher.(contract.BatchPublisher); ok && len(msgs) < MaxBatch {
					msgs = p.linger(ctx, msgs)
				}
			case <-p.wake:
				continue
			case <-ctx.Done():
				p.flush(nil)
				return nil
			}
		}
		if !p.deliver(ctx, msgs) { // ctx ended first: the flush tries them
			p.flush(msgs)
			return nil
		}
		p.announce()
	}
}

// announce calls OnAnnounced once the start's messages are out.
func (p *Publisher) announce() {
	if p.announced && p.o.OnAnnounced != nil {
		f := p.o.OnAnnounced
		p.o.OnAnnounced = nil
		f()
	}
}

// specials returns the messages of the start (once Ready came) and of the stop,
// which go ahead of the ring's events.
func (p *Publisher) specials() []contract.Message {
	p.smu.Lock()
	readySeq, stopping := p.readySeq, p.stopping
	p.stopping = nil
	var started events.Event
	if p.started != nil {
		started = *p.started
	}
	p.smu.Unlock()
	var out []contract.Message
	if readySeq != 0 && !p.announced {
		out = append(out, p.startMessages(readySeq, started)...)
	}
	if stopping != nil {
		out = append(out, p.translate(*stopping)...)
	}
	return out
}

// startMessages are edge.node.registered (on a new store), edge.node.started,
// edge.node.version_changed (after an upgrade) and, when the node was not ok when
// it became ready, one edge.node.status_changed from ok: the changes before the
// sources had subscribed (every source is "starting" at first) are summed up in
// it, not published one by one. The ring's events from before Ready are read
// first, so that the summary has all of them.
func (p *Publisher) startMessages(readySeq uint64, st events.Event) []contract.Message {
	var early, late []events.Event
	for n := len(p.sub.C()); n > 0; n-- {
		e := <-p.sub.C()
		if e.Seq < readySeq {
			early = append(early, e)
		} else {
			late = append(late, e)
		}
	}
	var out []contract.Message
	for _, e := range early {
		out = append(out, p.translate(e)...) // status changes are held, the rest published
	}
	p.announced = true
	version := st.Version
	if version == "" {
		version = p.o.Version
	}
	if p.node.Registered {
		out = append(out, p.message(TypeNodeRegistered, readyTime(st), new(Data).Set("node_id", p.node.ID).Set("version", version))...)
	}
	var prev any
	if p.node.Previous != "" {
		prev = p.node.Previous
	}
	out = append(out, p.message(TypeNodeStarted, readyTime(st), new(Data).Set("node_id", p.node.ID).Set("version", version).
		Set("previous_version", prev).Set("adapters", nonNil(p.o.Adapters)).Set("sources", nonNil(st.Sources)).
		Set("sinks", nonNil(st.Sinks)))...)
	if p.node.Previous != "" && p.node.Previous != version {
		out = append(out, p.message(TypeNodeVersionChanged, readyTime(st), new(Data).Set("from", p.node.Previous).Set("to", version))...)
	}
	if f, ok := p.cause(); ok && p.nodeState != "" && p.nodeState != events.NodeOK {
		out = append(out, p.statusChanged(events.NodeOK, p.nodeState, f)...)
	}
	p.preFail = nil
	for _, e := range late {
		out = append(out, p.translate(e)...)
	}
	return out
}

// cause is the condition that makes the node's state what it is at the start: the
// latest still failing with the matching severity (critical for not_ready), else
// the latest still failing.
func (p *Publisher) cause() (events.Event, bool) {
	want := events.StateDegraded
	if p.nodeState == events.NodeNotReady {
		want = events.StateCritical
	}
	var best, any events.Event
	for _, e := range p.preFail {
		if e.Seq > any.Seq {
			any = e
		}
		if e.To == want && e.Seq > best.Seq {
			best = e
		}
	}
	if best.Seq != 0 {
		return best, true
	}
	return any, any.Seq != 0
}

// readyTime is the time of the start's messages: the Started event's, else now.
func readyTime(st events.Event) time.Time {
	if st.Time.IsZero() {
		return time.Now()
	}
	return st.Time
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
		case <-p.wake: // a start or stop fact: it goes first, in the next round
			return msgs
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

// flush publishes edge.node.stopping (if it is still to go), pending, then what the
// buffer holds, within StopFlush. A failure gets one more attempt (a connection
// that died while idle is replaced), then the rest is dropped and counted.
func (p *Publisher) flush(pending []contract.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), p.o.Config.StopFlush)
	defer cancel()
	if sp := p.specials(); len(sp) > 0 {
		pending = append(sp, pending...)
	}
	for {
		if len(pending) > 0 {
			rest := p.attempt(ctx, pending)
			if len(rest) > 0 {
				rest = p.attempt(ctx, rest)
			}
			if len(rest) > 0 {
				p.lost.Add(uint64(len(rest) + len(p.sub.C())))
				return
			}
			p.announce()
		}
		select {
		case e := <-p.sub.C():
			pending = p.gather(p.translate(e))
		default:
			return
		}
	}
}

// Close stops taking events and closes the adapter's publisher, for a daemon
// whose Run never ran; Run does the same when it returns. It may be called more
// than once.
func (p *Publisher) Close() { p.closeAdapter() }

// closeAdapter stops taking events and closes the adapter's publisher, waiting at
// most 5 s for it (a Close that hangs on a dead connection must not hold up the
// daemon's shutdown). Only the first call does anything.
func (p *Publisher) closeAdapter() {
	if !p.closing.CompareAndSwap(false, true) {
		return
	}
	p.unhandle()
	p.sub.Close()
	p.lost.Add(uint64(len(p.sub.C()))) // what came after the flush's last look
	done := make(chan struct{})
	go func() { _ = p.o.Publisher.Close(); close(done) }()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		p.log.Warn("lifecycle broker connection did not close within 5s; left to the process's exit", "adapter", p.o.Config.Adapter)
	}
}

// deliver publishes msgs, connecting and retrying with backoff until all are
// published or dropped (true) or ctx ends (false).
func (p *Publisher) deliver(ctx context.Context, msgs []contract.Message) bool {
	p.inHand.Store(int64(len(msgs)))
	defer p.inHand.Store(0)
	delay := BackoffMin
	for {
		if msgs = p.attempt(ctx, msgs); len(msgs) == 0 {
			return true
		}
		p.inHand.Store(int64(len(msgs)))
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
// with the same ids). The first message of msgs is dropped instead when the broker
// refused it permanently or MaxAttempts times while reachable.
func (p *Publisher) attempt(ctx context.Context, msgs []contract.Message) []contract.Message {
	for len(msgs) > 0 {
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
		done, err := p.publish(ctx, msgs, p.tries > 0)
		p.mu.Lock()
		for _, m := range msgs[:done] {
			p.published[m.Type]++
		}
		p.mu.Unlock()
		if done > 0 {
			p.tries = 0
		}
		msgs = msgs[done:]
		if err == nil {
			p.healthy()
			return nil
		}
		if ctx.Err() != nil {
			// Cut short by the shutdown: not the broker's fault, so not logged, but
			// the adapter may have dropped the connection (nats does): the flush
			// connects again.
			p.connected.Store(false)
			return msgs
		}
		p.tries++
		if adapters.IsPermanent(err) || p.tries >= MaxAttempts {
			m := msgs[0]
			p.tries = 0
			p.lost.Add(1)
			if p.o.Limiter != nil {
				p.o.Limiter.Warn(p.log, "events:refused", "lifecycle event dropped: the broker refused it", "type", m.Type, "id", m.ID,
					"err", secret.Cut(err.Error(), events.MaxReason))
			} else {
				p.log.Warn("lifecycle event dropped: the broker refused it", "type", m.Type, "id", m.ID, "err", secret.Cut(err.Error(), events.MaxReason))
			}
			msgs = msgs[1:]
			continue // the connection may be fine: go on with the next
		}
		p.connected.Store(false)
		p.fail("publish", err)
		return msgs
	}
	p.healthy()
	return nil
}

// healthy clears the degraded condition after a publish went through.
func (p *Publisher) healthy() {
	if p.degrade {
		p.degrade = false
		if p.o.Health != nil {
			p.o.Health.SetDegraded(Condition, true, "")
		}
	}
}

// publish sends msgs: in batches of MaxBatch to a BatchPublisher (unless single:
// after a failure, one at a time finds the message at fault), else one by one. It
// returns how many of msgs, from the first, the broker has for sure.
func (p *Publisher) publish(ctx context.Context, msgs []contract.Message, single bool) (int, error) {
	bp, batches := p.o.Publisher.(contract.BatchPublisher)
	done := 0
	for done < len(msgs) {
		n := 1
		if batches && !single {
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

// message builds one lifecycle message of type typ at time at.
func (p *Publisher) message(typ string, at time.Time, d *Data) []contract.Message {
	if err := d.check(typ); err != nil {
		p.log.Error("lifecycle event not published", "err", err) // a bug: the tests catch it
		return nil
	}
	env := &Envelope{ID: NewID(at), Source: p.source, Type: typ, Time: at, CoreName: p.o.Config.CoreName, Data: d}
	return []contract.Message{{ID: env.ID, Type: typ, CoreName: env.CoreName, Topic: contract.DomainTopic(typ), Body: env.Encode()}}
}

func (p *Publisher) statusChanged(from, to string, e events.Event) []contract.Message {
	reason := e.Condition
	if e.Reason != "" {
		reason += ": " + e.Reason
	}
	return p.message(TypeNodeStatusChanged, e.Time, new(Data).Set("from", from).Set("to", to).Set("component", e.Component).
		Set("reason", events.Cut(reason, events.MaxReason)))
}

// translate turns a ring event into the lifecycle messages it stands for.
func (p *Publisher) translate(e events.Event) []contract.Message {
	switch e.Kind {
	case events.ReadinessChanged:
		if e.NodeTo == "" {
			return nil
		}
		from := p.nodeState
		if from == "" {
			from = e.NodeFrom
		}
		p.nodeState = e.NodeTo
		if !p.announced {
			if p.preFail == nil {
				p.preFail = map[string]events.Event{}
			}
			if k := e.Component + "\x00" + e.Condition; e.To != "" && e.To != events.StateOK {
				p.preFail[k] = e
			} else {
				delete(p.preFail, k)
			}
			return nil // summed up in the start's messages
		}
		if from == "" || from == e.NodeTo {
			return nil
		}
		return p.statusChanged(from, e.NodeTo, e)
	case events.Stopping:
		return p.message(TypeNodeStopping, e.Time, new(Data).Set("reason", e.Reason).Set("queued", e.Queued))
	case events.DeadLettered:
		return p.message(TypeDeliveryDeadLettered, e.Time, new(Data).Set("sink", e.Sink).Set("event_id", e.EventID).Set("key", e.Key).Set("reason", e.Reason))
	case events.CommandExecution:
		typ, ok := commandTypes[e.To]
		if !ok {
			return nil
		}
		var exit any
		if e.Exited {
			exit = int64(e.ExitCode)
		}
		return p.message(typ, e.Time, new(Data).Set("item_id", e.ItemID).Set("alert_id", e.AlertID).Set("exit_code", exit).Set("duration_ms", e.DurationMS))
	case events.Delivered:
		if p.o.Config.AlertRelayed {
			return p.message(TypeAlertRelayed, e.Time, new(Data).Set("source", e.Source).Set("sink", e.Sink).Set("event_id", e.EventID).Set("key", e.Key))
		}
	}
	return nil
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
