package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/logx"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/store"
)

// RejectedSink is the pseudo-sink whose dead-letter bucket keeps events no route
// accepted (unrouted, too large, not JSON) when the policy is dead_letter.
const RejectedSink = "@rejected"

// ErrNotDelivered fails the publish of an unbuffered source's event that a sink could
// not take or deliver; upstream is expected to redeliver it.
var ErrNotDelivered = errors.New("not delivered")

// ErrStopping is returned by Publish once the daemon is shutting down.
var ErrStopping = errors.New("relay is shutting down")

// Policy says what happens to an event that cannot be routed.
type Policy string

// Policies for rejected events.
const (
	Drop       Policy = "drop"        // count and log it, acknowledge upstream
	DeadLetter Policy = "dead_letter" // keep it in the @rejected dead-letter bucket
)

// Sink is one configured destination.
type Sink struct {
	Name        string
	Sink        adapters.Sink
	MaxInFlight int
	Retry       Retry
}

// Options configure a Pipeline.
type Options struct {
	DB     *store.DB
	Writer *store.Writer
	Router *Router
	Sinks  []Sink
	// MaxEventBytes rejects larger payloads. Zero means no limit.
	MaxEventBytes int
	// Unrouted is the policy for events no route matches (and for routes' invalid
	// payloads). Empty means Drop.
	Unrouted Policy
	// Oversize is the policy for payloads over MaxEventBytes. Empty means DeadLetter.
	Oversize Policy
	// Invalid is the policy for events a route's transform cannot convert. Empty
	// means DeadLetter.
	Invalid Policy
	// Unbuffered lists sources whose events are acknowledged only once every sink has
	// delivered them (ack: delivered): nothing is written to the store for them, and a
	// failed delivery settles the publish Refused at once so that upstream redelivers
	// (ilagent's non-buffered MQTT mode). Permanent failures are still dead-lettered
	// (DeadLettered once the dead letter is committed). At shutdown, their events
	// still queued or whose send was cancelled are refused.
	Unbuffered []string
	// Prompt lists sources whose events are never held back for a delivery within
	// DeliverWindow (adapters.SourceSpec.Prompt): their upstream waits on the answer,
	// which must come once the event is stored, not after a slow sink delivered it.
	Prompt []string
	// MaxPending bounds events accepted but not yet settled; Publish blocks past it.
	// Zero means 1024.
	MaxPending int
	// MemLimit bounds items a lane keeps in memory. Zero means 1024.
	MemLimit int
	// DeliverWindow is how long a freshly published event may wait for healthy sinks
	// to deliver it before it is written to the store (the writer's own, shorter
	// window applies while any of its sinks is failing, disconnected or behind). Zero
	// means the writer's window always applies.
	DeliverWindow time.Duration
	// DrainTimeout bounds how long Run waits for in-flight sends after its context
	// ends. Zero means 5s.
	DrainTimeout time.Duration
	Log          *slog.Logger
	// Events receives what happens to events (received, rejected, delivered, retried,
	// dead-lettered) and to sinks (connected, disconnected). It is never published to
	// while a lane's lock is held. Nil publishes nothing.
	Events *events.Bus
	// Clock times retries, connect backoff, commit retries and the drain timeout,
	// and tells the time when Now is nil. Nil means clock.Real. The writer has a
	// clock of its own (store.WriterOptions.Clock): give both the same one.
	Clock clock.Clock
	// Now tells the time (publish and retry times, deliver windows). Nil means
	// Clock.Now; a test may set it alone to move time by hand without timers.
	Now func() time.Time
	// Limiter rate-limits the repeated warnings (rejects, failed sends and connects,
	// dead letters, a failing outbox read) and keeps the store's failure and recovery
	// lines from flapping. The daemon gives its one limiter and runs its flushes. Nil
	// means one of the pipeline's own on Now, never flushed by a timer.
	Limiter *logx.Limiter
}

// Pipeline routes published events to sink lanes through the store.
type Pipeline struct {
	opt Options
	log *slog.Logger
	bus *events.Bus
	now func() time.Time
	// sinks holds the lanes and routing the intake, which reads them on every publish,
	// without a lock; Reconfigure replaces it whole (reconfigure.go).
	sinks    atomic.Pointer[sinkSet]
	reconfMu sync.Mutex // serialises the changes of sinks
	slots    chan struct{}
	stopping atomic.Bool
	limiter  *logx.Limiter
	// storeCond logs a failing store once and its recovery once it has settled.
	storeCond *logx.Condition

	// started is closed once Run has loaded every lane's first page; Publish waits
	// for it so that early events keep their place behind a stored backlog.
	started chan struct{}
	atStart map[string]store.SinkStats // the stored outboxes Run found; set before started closes

	// healthGen changes whenever a lane's connected, failing or backlog state does,
	// so that a held-back publish job can skip re-checking every lane.
	healthGen atomic.Uint64

	storeFailing atomic.Bool
	storeMu      sync.Mutex // guards storeErr
	storeErr     string

	// runCtx is the context of Run; resubmissions of failed commits stop with it.
	// sendCtx is the one in-flight sends use (it outlives runCtx by the drain
	// timeout), and lanes counts every lane goroutine, also of lanes added while
	// running; both are set before started closes.
	runMu   sync.Mutex // guards runCtx
	runCtx  context.Context
	sendCtx context.Context
	lanes   sync.WaitGroup

	// retry keeps the publish jobs of failed commits, and those prepared after them, in
	// order until a commit takes them, retryDelay after the failure (commitRetryDelay,
	// shorter in tests). scheduleRetry hands its retryJob to the writer: submitLater,
	// or in tests the test itself.
	// batchBytes is what the publish jobs of the batch being prepared add to the
	// store, for room (bounds.go); writer goroutine only.
	batchBytes int64

	retry         retryList
	retryDelay    time.Duration
	scheduleRetry func(j store.Job, d time.Duration)
}

// New checks opts and builds the lanes. It loads nothing yet: Run does.
func New(opt Options) (*Pipeline, error) {
	if opt.DB == nil || opt.Writer == nil || opt.Router == nil {
		return nil, errors.New("pipeline: DB, Writer and Router are required")
	}
	if opt.MaxPending <= 0 {
		opt.MaxPending = 1024
	}
	if opt.MemLimit <= 0 {
		opt.MemLimit = 1024
	}
	if opt.DrainTimeout <= 0 {
		opt.DrainTimeout = 5 * time.Second
	}
	if opt.Unrouted == "" {
		opt.Unrouted = Drop
	}
	if opt.Oversize == "" {
		opt.Oversize = DeadLetter
	}
	if opt.Invalid == "" {
		opt.Invalid = DeadLetter
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	opt.Clock = clock.Or(opt.Clock)
	if opt.Now == nil {
		opt.Now = opt.Clock.Now
	}
	p := &Pipeline{
		opt: opt, log: opt.Log, bus: opt.Events, now: opt.Now,
		slots:      make(chan struct{}, opt.MaxPending),
		limiter:    opt.Limiter,
		runCtx:     context.Background(),
		started:    make(chan struct{}),
		retryDelay: commitRetryDelay,
	}
	if p.limiter == nil {
		p.limiter = logx.New(logx.Options{Clock: opt.Clock, Now: opt.Now})
	}
	p.storeCond = p.limiter.Condition()
	p.retry.p = p
	p.scheduleRetry = p.submitLater
	set := &sinkSet{byName: map[string]*lane{}}
	set.setRouting(opt.Router, opt.Unbuffered, opt.Prompt)
	for _, s := range opt.Sinks {
		if _, dup := set.byName[s.Name]; dup {
			return nil, fmt.Errorf("pipeline: sink %q configured twice", s.Name)
		}
		l := newLane(p, s)
		set.byName[s.Name] = l
		set.order = append(set.order, l)
	}
	p.sinks.Store(set)
	return p, nil
}

// Publisher returns the Publisher handed to the source named source: it stamps the
// source name on each event and counts it.
func (p *Pipeline) Publisher(source string) adapters.Publisher {
	return adapters.PublisherFunc(func(ctx context.Context, e *adapters.Event, done func(adapters.Settlement)) error {
		return p.Publish(ctx, source, e, done)
	})
}

// StopIntake makes every later Publish fail with ErrStopping. Call it after the
// sources have stopped and before the pipeline's context ends.
func (p *Pipeline) StopIntake() { p.stopping.Store(true) }

// Publish routes e and queues it for its sinks; see adapters.Publisher for the
// contract of done.
func (p *Pipeline) Publish(ctx context.Context, source string, e *adapters.Event, done func(adapters.Settlement)) error {
	if p.stopping.Load() {
		return ErrStopping
	}
	// The non-blocking forms first: on the hot path started is closed and a slot is
	// free, and a one-case select costs less than a two-case one.
	select {
	case <-p.started:
	default:
		select {
		case <-p.started:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if e.Source == "" {
		e.Source = source
	}
	if e.ID == "" {
		e.ID = adapters.NewID()
	}
	if e.Received.IsZero() {
		e.Received = p.now()
	}
	p.bus.Publish(events.Event{Kind: events.Received, Source: e.Source, EventID: e.ID, Key: e.Key})

	if p.opt.MaxEventBytes > 0 && len(e.Payload) > p.opt.MaxEventBytes {
		// Never stored whole: the dead letter keeps a bounded prefix (bounds.go).
		return p.reject(ctx, truncatedCopy(e), "too_large",
			fmt.Sprintf("payload of %d bytes exceeds store.max_event_bytes (%d); the dead letter keeps its first %d bytes and is not the event",
				len(e.Payload), p.opt.MaxEventBytes, min(len(e.Payload), RejectPrefixBytes)),
			p.opt.Oversize, done)
	}
	var sinks [2]string
	var evs [2]*adapters.Event
	set := p.sinks.Load() // one routing and set of lanes for the whole event
	d := set.router.RouteInto(e, sinks[:0], evs[:0])
	for _, f := range d.Skipped {
		p.rejected(e, "skipped")
		p.log.Debug("event skipped by a route's transform",
			"route", f.Route, "event_id", e.ID, "topic", e.Topic, "reason", f.Err.Error())
	}
	if len(d.Failed) > 0 {
		detail := fmt.Sprintf("route %q: %v", d.Failed[0].Route, d.Failed[0].Err)
		if len(d.Sinks) == 0 {
			return p.reject(ctx, e, "invalid", detail, p.opt.Invalid, done)
		}
		// Other routes take the event; keep what this one refused all the same.
		if err := p.reject(ctx, e, "invalid", detail, p.opt.Invalid, func(adapters.Settlement) {}); err != nil {
			return err
		}
	}
	if len(d.Sinks) == 0 {
		if len(d.Skipped) > 0 {
			done(adapters.Settled(adapters.Dropped, "skipped: "+d.Skipped[0].Err.Error()))
			return nil
		}
		if len(d.Invalid) > 0 {
			return p.reject(ctx, e, "not_json",
				fmt.Sprintf("payload is not valid JSON, which route %q requires", d.Invalid[0]), p.opt.Unrouted, done)
		}
		return p.reject(ctx, e, "unrouted", fmt.Sprintf("no route matches topic %q", e.Topic), p.opt.Unrouted, done)
	}
	for _, r := range d.Invalid {
		p.rejected(e, "not_json")
		p.limiter.Warn(p.log, "not_json:"+r, "event skipped by a route", "route", r, "event_id", e.ID,
			"reason", "payload is not valid JSON")
	}

	select {
	case p.slots <- struct{}{}:
	default:
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	j := &pubJob{p: p, done: done, published: p.now(), unbuffered: set.unbuffered[e.Source],
		prompt: set.prompt[e.Source]}
	j.items, j.marked = j.one[:0], j.oneMarked[:0]
	if len(d.Sinks) > 1 {
		j.items = make([]*item, 0, len(d.Sinks))
	}
	for i, name := range d.Sinks {
		l := set.byName[name]
		if l == nil {
			continue // config validation guarantees this does not happen
		}
		ev := d.Events[i]
		it := &j.oneItem
		if len(d.Sinks) > 1 {
			it = new(item)
		}
		*it = item{ev: ev, job: j, lane: l, key: orderKey(ev), enqueued: e.Received}
		j.items = append(j.items, it)
	}
	if len(j.items) == 0 {
		j.finish()
		return nil
	}
	j.remaining.Store(int32(len(j.items)))
	if j.unbuffered {
		for _, it := range j.items {
			if err := it.lane.offerDirect(it); err != nil {
				j.refuse(err)
				return nil
			}
		}
		return nil
	}
	for _, it := range j.items {
		it.lane.offer(it)
	}
	if err := p.opt.Writer.Submit(ctx, j); err != nil {
		j.refuse(fmt.Errorf("queue event for commit: %w", err))
	}
	return nil
}

// reject applies policy to an event no sink will get.
func (p *Pipeline) reject(ctx context.Context, e *adapters.Event, reason, detail string, policy Policy, done func(adapters.Settlement)) error {
	p.rejected(e, reason)
	p.limiter.Warn(p.log, reason, "event rejected", "reason", reason, "detail", detail,
		"source", e.Source, "topic", e.Topic, "event_id", e.ID, "policy", string(policy))
	if policy != DeadLetter {
		done(adapters.Settled(adapters.Dropped, reason+": "+detail))
		return nil
	}
	data, err := e.MarshalBinary()
	if err != nil {
		return err
	}
	entry := &store.Entry{Sink: RejectedSink, Key: e.Key, Data: data, Enqueued: e.Received}
	why := reason + ": " + detail
	job := &opJob{p: p, ops: []op{{kind: opDead, entry: entry, reason: why}},
		done: func(err error) {
			if err != nil {
				done(adapters.Refuse(err))
				return
			}
			done(adapters.Settled(adapters.DeadLettered, why))
		}}
	if err := p.opt.Writer.Submit(ctx, job); err != nil {
		return err
	}
	return nil
}

// rejected publishes that e was refused at intake for reason, a fixed snake_case code.
func (p *Pipeline) rejected(e *adapters.Event, reason string) {
	p.bus.Publish(events.Event{Kind: events.Rejected, Source: e.Source, EventID: e.ID, Key: e.Key, Reason: reason})
}

// orderKey is the lane key for e: its ordering key, or for unordered events a key of
// its own so it never waits behind another event.
func orderKey(e *adapters.Event) string {
	if e.Key != "" {
		return e.Key
	}
	return "\x00" + e.ID
}

// Run loads every sink's backlog, connects the sinks and delivers until ctx ends. It
// then stops taking work, waits up to DrainTimeout for in-flight sends (cancelling
// them after that; they are retried after restart) and returns nil. Sinks are not
// closed: the caller closes them after Run returns.
func (p *Pipeline) Run(ctx context.Context) error {
	p.runMu.Lock()
	p.runCtx = ctx
	p.runMu.Unlock()
	// One walk of the store for every lane's backlog count.
	stats, err := p.opt.DB.Stats()
	if err != nil {
		return fmt.Errorf("read the outboxes: %w", err)
	}
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	p.atStart = stats.Sinks
	p.reconfMu.Lock()
	p.runMu.Lock()
	p.sendCtx = sendCtx
	p.runMu.Unlock()
	for _, l := range p.sinks.Load().order {
		l.start(ctx, sendCtx, stats.Sinks[l.name].Pending)
	}
	close(p.started)
	p.reconfMu.Unlock()
	<-ctx.Done()
	// No lane is added or removed from here on: Reconfigure refuses once ctx ended.
	p.reconfMu.Lock()
	defer p.reconfMu.Unlock()
	drained := make(chan struct{})
	go func() { p.lanes.Wait(); close(drained) }() // exits when every lane goroutine has
	drainTimeout := p.opt.Clock.NewTimer(p.opt.DrainTimeout)
	defer drainTimeout.Stop()
	select {
	case <-drained:
	case <-drainTimeout.C():
		p.log.Warn("drain timeout: cancelling in-flight sends; they will be retried after restart",
			"timeout_s", p.opt.DrainTimeout.Seconds())
		cancelSends()
		<-drained
	}
	for _, l := range p.sinks.Load().order {
		l.stop()
	}
	p.refuseRetries()
	return nil
}

func (p *Pipeline) ctx() context.Context {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	return p.runCtx
}

// submitLater submits j, a retry after a failed commit, to the writer after d unless
// the pipeline stops first. After that nothing is retried: events not stored nor
// delivered by then were never acknowledged, and upstream redelivers them.
func (p *Pipeline) submitLater(j store.Job, d time.Duration) {
	ctx := p.ctx()
	p.opt.Clock.AfterFunc(d, func() { // runs once; Submit returns when ctx ends
		err := ctx.Err()
		if err == nil {
			err = p.opt.Writer.Submit(ctx, j)
		}
		if err != nil {
			p.log.Debug("resubmit after failed commit abandoned", "err", err)
			if a, ok := j.(interface{ abandon(error) }); ok {
				a.abandon(ErrStopping)
			}
		}
	})
}

// refuseRetries refuses, once the lanes have stopped, the publish jobs still waiting in
// the retry list after failed commits: they will never be stored, and their sources
// must hear it (done is called exactly once). The list lives on the writer goroutine,
// so a job does it there; nothing is submitted when the list is empty.
func (p *Pipeline) refuseRetries() {
	if p.retry.waiting.Load() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.opt.Writer.Submit(ctx, refuseRetriesJob{p}); err != nil {
		p.log.Warn("could not refuse the events waiting for a commit retry; upstream redelivers them after restart",
			"err", err)
	}
}

// refuseRetriesJob refuses every publish job of the retry list; see refuseRetries.
type refuseRetriesJob struct{ p *Pipeline }

// Prepare writes nothing: it empties the retry list and refuses its jobs.
func (j refuseRetriesJob) Prepare(*store.Batch) {
	r := &j.p.retry
	jobs := r.jobs
	r.jobs = nil
	r.waiting.Store(0)
	for _, pj := range jobs {
		pj.refuse(fmt.Errorf("%w: its commit failed and was not retried", ErrStopping))
	}
}

// Done has nothing to do.
func (refuseRetriesJob) Done(error) {}

// submit hands ops to the writer. A failure here only happens at shutdown; the ops
// then simply do not happen, which costs a duplicate delivery after restart, never a
// loss.
func (p *Pipeline) submit(j store.Job) {
	// Not the run context: deletes of events delivered while draining must still
	// reach the writer, which the daemon stops only after Run has returned.
	if err := p.opt.Writer.Submit(context.Background(), j); err != nil {
		p.log.Debug("store update abandoned at shutdown", "err", err)
	}
}

// SinkStatus is a snapshot of one lane for health, metrics and the STATUS line.
type SinkStatus struct {
	Name      string
	Connected bool
	// Depth counts events not yet delivered or dead-lettered.
	Depth int64
	// Oldest is when the oldest undelivered event was received; zero if none.
	Oldest    time.Time
	InFlight  int
	Backlog   bool
	LastError string
	// Failing is true from a failed attempt until the next success.
	Failing bool
}

// Started is closed once Run has started every lane with its stored backlog (from
// then on Status counts it, and StoredAtStart says what it was).
func (p *Pipeline) Started() <-chan struct{} { return p.started }

// StoredAtStart returns what Run found in sink's outbox as it started: the number of
// events and the enqueue time of the oldest. Valid once Started is closed.
func (p *Pipeline) StoredAtStart(sink string) (events int, oldest time.Time) {
	select {
	case <-p.started:
		st := p.atStart[sink]
		return st.Pending, st.Oldest
	default:
		return 0, time.Time{}
	}
}

// Status returns a snapshot of every lane, in configuration order.
func (p *Pipeline) Status() []SinkStatus {
	order := p.sinks.Load().order
	out := make([]SinkStatus, 0, len(order))
	for _, l := range order {
		out = append(out, l.status())
	}
	return out
}

// SinkStatus returns the snapshot of one lane.
func (p *Pipeline) SinkStatus(name string) (SinkStatus, bool) {
	l, ok := p.sinks.Load().byName[name]
	if !ok {
		return SinkStatus{}, false
	}
	return l.status(), true
}

// Alive reports an error when a lane has work, all its workers are busy and none has
// finished a send for stuckAfter: a hung delivery the watchdog should not hide.
func (p *Pipeline) Alive(stuckAfter time.Duration) error {
	now := p.now()
	for _, l := range p.sinks.Load().order {
		if err := l.alive(now, stuckAfter); err != nil {
			return err
		}
	}
	return nil
}

// storeFailed records a failed commit. The first failure is logged; later ones, also
// after a short recovery, only when the error changes, and then rate-limited, so a
// disk that flaps does not print a pair of lines per commit (logx.Condition).
func (p *Pipeline) storeFailed(err error) {
	p.storeMu.Lock()
	defer p.storeMu.Unlock()
	const msg = "store commit failed: sources stop acknowledging until it recovers; deliveries continue"
	if text := err.Error(); text != p.storeErr {
		if !p.storeCond.Fail(p.log, msg, "err", err) && p.storeErr != "" {
			p.limiter.Error(p.log, "store", msg, "err", err)
		}
		p.storeErr = text
	}
	p.storeFailing.Store(true)
}

// storeOK clears the failure recorded by storeFailed.
func (p *Pipeline) storeOK() {
	if !p.storeFailing.Load() {
		return
	}
	p.storeMu.Lock()
	defer p.storeMu.Unlock()
	if p.storeFailing.Swap(false) {
		p.storeCond.OK(p.log, "store commits recovered")
		p.storeErr = ""
	}
}

// StoreError returns the last commit error, or "" while commits succeed.
func (p *Pipeline) StoreError() string {
	p.storeMu.Lock()
	defer p.storeMu.Unlock()
	return p.storeErr
}
