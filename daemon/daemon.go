// Package daemon wires edgerelay together and owns its lifecycle: it opens the store,
// binds the HTTP listener and the optional embedded broker, builds the adapters from
// the configuration, runs the delivery pipeline and the sources, talks to systemd, and
// shuts everything down in an order that loses nothing.
//
// # Lifecycle
//
// New does everything that can fail fast (open the store, bind ports, build adapters)
// and serves nothing; on error it undoes what it did. Run starts the writer, the
// pipeline, the web server and the sources, sends READY=1 once the sources have
// subscribed, and blocks until its context ends or a fatal component fails. Shutdown
// then runs in this order, each step bounded:
//
//  1. the Stopping event, STOPPING=1; /health and /ready answer 503;
//  2. stop the sources, so nothing new is accepted (unacknowledged messages stay
//     upstream);
//  3. stop the pipeline: in-flight sends finish or are cancelled after the drain
//     timeout (their events stay in the outbox);
//  4. commit the sources' pending state, then stop the store writer after it has
//     flushed every queued commit;
//  5. close the sinks, then the embedded broker;
//  6. stop the web server;
//  7. close the store, last, because everything above may still write to it.
//
// # Events
//
// The daemon's event bus ([Daemon.Events], package events) exists from the start of
// New: the health tracker publishes every condition change on it, the pipeline what
// happens to events and sinks, and the daemon itself Started (everything runs), Ready
// (READY=1 sent), Stopping and StoreQuarantined. The Prometheus counters and the STATUS
// line are fed from it.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/sync/errgroup"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/daemon/broker"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/daemon/sdnotify"
	"github.com/edgerelay/edgerelay/daemon/state"
	"github.com/edgerelay/edgerelay/daemon/web"
	"github.com/edgerelay/edgerelay/store"
)

// Options configure a Daemon.
type Options struct {
	Config  *config.Config
	Log     *slog.Logger
	Version string
	// StartupGrace bounds how long Run waits for the sources to subscribe before it
	// sends READY=1 anyway (with a STATUS line saying what is missing), so that a
	// broker outage at boot does not make systemd kill and restart the daemon in a
	// loop. Zero means 30s.
	StartupGrace time.Duration
	// Now tells the time. Nil means Clock.Now.
	Now func() time.Time
	// Clock times source restarts, the startup grace, the status loop, the store
	// writer and the pipeline, and is handed to every adapter (adapters.Deps.Clock).
	// Nil means clock.Real.
	Clock clock.Clock
}

// source is one configured intake.
type source struct {
	name  string
	typ   string
	src   adapters.Source
	ready []string // READY waits for these health conditions (adapters.SourceSpec.Ready)
}

// Daemon is a running edgerelay.
type Daemon struct {
	opt     Options
	cfg     *config.Config
	log     *slog.Logger
	now     func() time.Time
	clock   clock.Clock
	bus     *events.Bus
	health  *health.Tracker
	metrics *metrics.Set
	m       *web.Metrics
	notify  *sdnotify.Notifier
	db      *store.DB
	writer  *store.Writer
	web     *web.Server
	broker  *broker.Broker
	pipe    *pipeline.Pipeline
	state   *state.Committer // the sources' persisted state
	sinks   []pipeline.Sink
	sources []source

	// dead and deadAt cache the dead-letter count for the STATUS line; only the
	// status loop touches them, and status, the line's view fed from statusSub.
	dead      int
	deadAt    time.Time
	statusSub *events.Subscription
	status    statusView

	cleanupMu sync.Mutex // guards cleanups
	cleanups  []cleanup
}

type cleanup struct {
	name string
	fn   func() error
}

func (d *Daemon) onStop(name string, fn func() error) {
	d.cleanupMu.Lock()
	defer d.cleanupMu.Unlock()
	d.cleanups = append(d.cleanups, cleanup{name, fn})
}

// closeAll runs the registered cleanups in reverse order, logging each failure.
func (d *Daemon) closeAll() error {
	d.cleanupMu.Lock()
	cs := d.cleanups
	d.cleanups = nil
	d.cleanupMu.Unlock()
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := cs[i].fn(); err != nil {
			d.log.Error("shutdown step failed", "step", cs[i].name, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", cs[i].name, err))
		}
	}
	return errors.Join(errs...)
}

// New builds a daemon from opt. It opens the store and binds its listeners so that
// configuration and environment problems surface before anything runs.
func New(opt Options) (*Daemon, error) {
	if opt.Config == nil {
		return nil, errors.New("daemon: no configuration")
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	opt.Clock = clock.Or(opt.Clock)
	if opt.Now == nil {
		opt.Now = opt.Clock.Now
	}
	if opt.StartupGrace <= 0 {
		opt.StartupGrace = 30 * time.Second
	}
	cfg := opt.Config
	d := &Daemon{
		opt: opt, cfg: cfg, log: opt.Log, now: opt.Now, clock: opt.Clock,
		health:  health.New(opt.Now),
		metrics: metrics.NewSet(),
		notify:  sdnotify.New(opt.Log),
	}
	d.m = web.NewMetrics(d.metrics)
	d.wireEvents()
	built := false
	defer func() {
		if !built {
			_ = d.closeAll() // roll back what was opened and bound so far
		}
	}()

	if err := d.openStore(); err != nil {
		return nil, err
	}
	wcfg := cfg.HTTP
	wcfg.Version = opt.Version
	d.web = web.New(wcfg, d.health, d.metrics, d.log.With("component", "http"))
	if err := d.web.Listen(); err != nil {
		return nil, err
	}
	d.onStop("http listeners", d.web.Close) // only when Run never served them
	if err := d.newBroker(); err != nil {
		return nil, err
	}
	if err := d.buildSinks(); err != nil {
		return nil, err
	}
	rs, err := d.routes(cfg.Routes)
	if err != nil {
		return nil, err
	}
	router := pipeline.NewRouter(rs)
	var unbuffered []string
	for _, a := range cfg.Sources {
		if a.Ack == config.AckDelivered {
			unbuffered = append(unbuffered, a.Name)
		}
	}
	maxBytes := cfg.Store.MaxEventBytes
	if maxBytes < 0 {
		maxBytes = 0
	}
	d.writer = d.db.NewWriter(store.WriterOptions{Window: cfg.Store.CommitWindow, MaxBatch: cfg.Store.MaxBatch, Clock: d.clock})
	d.pipe, err = pipeline.New(pipeline.Options{
		DB: d.db, Writer: d.writer, Router: router, Sinks: d.sinks,
		MaxEventBytes: maxBytes, Unrouted: cfg.Rejects.Unrouted, Oversize: cfg.Rejects.Oversize,
		Invalid: cfg.Rejects.Invalid, Unbuffered: unbuffered,
		MaxPending: cfg.Store.MaxPending, MemLimit: cfg.Store.MemoryItems,
		DeliverWindow: max(cfg.Store.DeliverWindow, 0),
		DrainTimeout:  cfg.Store.DrainTimeout, Log: d.log.With("component", "pipeline"),
		Events: d.bus, Now: d.now,
		Clock: d.clock,
	})
	if err != nil {
		return nil, err
	}
	if d.state, err = state.Load(d.db, d.writer, state.Options{Log: d.log.With("component", "state")}); err != nil {
		return nil, err
	}
	if err := d.buildSources(); err != nil {
		return nil, err
	}
	if d.broker != nil {
		if err := d.broker.Start(); err != nil {
			return nil, err
		}
	}
	d.registerGauges()
	d.web.OnScrape(d.refreshStoreCounters)
	d.web.OnScrape(d.refreshBusCounters)
	built = true
	return d, nil
}

func (d *Daemon) openStore() error {
	path := d.cfg.Store.Path
	db, err := store.Open(path, store.Options{
		NoVerify: !*d.cfg.Store.VerifyOnOpen,
		NoSync:   d.cfg.Store.UnsafeNoSync,
		Logger:   d.log.With("component", "store"),
	})
	if err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	d.db = db
	d.onStop("store", db.Close)
	if moved, reason := db.Quarantined(); moved != "" {
		d.log.Error("the store was unreadable and has been moved aside; starting with an empty store",
			"moved_to", moved, "reason", reason)
		d.health.Set("store", "quarantined", false, health.Degraded,
			fmt.Sprintf("corrupt store moved to %s (%s); started empty", moved, reason))
		d.bus.Publish(events.Event{Kind: events.StoreQuarantined, Path: moved, Reason: reason})
	}
	return nil
}

// newBroker creates the embedded broker when the configuration wants it. It does not
// listen yet: the relay's in-process sources attach first (buildSources), so that no
// client can publish into a topic the relay will take before the relay is there.
func (d *Daemon) newBroker() error {
	bc := d.cfg.Broker
	if !bc.Wanted() {
		if bc.Enabled == broker.EnabledAuto {
			d.log.Info("an MQTT broker already answers; the embedded broker stays off", "addr", bc.Listen)
		}
		return nil
	}
	b, err := broker.New(bc, d.log.With("component", "broker"))
	if err != nil {
		return err
	}
	b.SetHealth(d.health.For("broker"))
	d.broker = b
	d.onStop("broker", b.Close)
	return nil
}

func (d *Daemon) deps(dir adapters.Direction, typ, name string) adapters.Deps {
	return adapters.Deps{
		Name:    name,
		Log:     d.log.With(string(dir), name, "adapter", typ),
		Health:  d.health.For(string(dir) + ":" + name),
		Now:     d.now,
		Clock:   d.clock,
		Version: d.opt.Version,
		HTTP:    d.web,
		State:   d.sourceState(dir, name),
		Listen:  d.listenFor(dir, name),
	}
}

// listenFor gives source name listeners of its own on the web server (nil for sinks
// and transforms); their TLS condition is reported under the source's component.
func (d *Daemon) listenFor(dir adapters.Direction, name string) func(adapters.ListenerConfig) (adapters.Mounter, error) {
	if dir != adapters.DirSource {
		return nil
	}
	return func(lc adapters.ListenerConfig) (adapters.Mounter, error) {
		m, err := d.web.Listener(string(dir)+":"+name, lc)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
}

func (d *Daemon) buildSinks() error {
	for _, a := range d.cfg.Sinks {
		s, err := a.Factory.BuildSink(a.Settings, d.deps(adapters.DirSink, a.Type, a.Name))
		if err != nil {
			return fmt.Errorf("sink %s: %w", a.Name, err)
		}
		d.onStop("close sink "+a.Name, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return s.Close(ctx)
		})
		n := a.Factory.Info.MaxInFlight
		if m, ok := s.(adapters.InFlightLimiter); ok && m.MaxInFlight() > 0 {
			n = m.MaxInFlight()
		}
		d.sinks = append(d.sinks, pipeline.Sink{Name: a.Name, Sink: s, MaxInFlight: n, Retry: a.Retry})
	}
	return nil
}

func (d *Daemon) buildSources() error {
	for _, a := range d.cfg.Sources {
		if bs, ok := a.Settings.(adapters.BrokerSubscriber); ok && d.broker != nil {
			if sub := bs.BrokerSubscription(); sameEndpoint(sub.URL, d.broker.Addr(), d.cfg.Broker.Listen) {
				// The source would connect to our own embedded broker: take the in-process
				// path instead, which acknowledges publishers only once events are safe.
				d.log.Info("source reads the embedded broker in-process", "source", a.Name)
				src := d.broker.Source(a.Name, sub.Topics, sub.KeyPath, sub.Kind)
				d.sources = append(d.sources, source{name: a.Name, typ: a.Type, src: src})
				continue
			}
		}
		s, err := a.Factory.BuildSource(a.Settings, d.deps(adapters.DirSource, a.Type, a.Name))
		if err != nil {
			return fmt.Errorf("source %s: %w", a.Name, err)
		}
		src := source{name: a.Name, typ: a.Type, src: s, ready: a.Factory.Ready}
		for _, c := range src.ready {
			d.health.Set("source:"+a.Name, c, false, health.Critical, "starting")
		}
		d.sources = append(d.sources, src)
	}
	return nil
}

// sameEndpoint reports whether a broker URL points at the embedded broker.
func sameEndpoint(url string, addrs ...string) bool {
	if url == "embedded" || url == "embedded://" {
		return true
	}
	hp := url
	if i := strings.Index(hp, "://"); i >= 0 {
		hp = hp[i+3:]
	}
	hp = strings.TrimSuffix(hp, "/")
	for _, a := range addrs {
		if a == "" {
			continue
		}
		if hp == a || strings.Replace(hp, "localhost", "127.0.0.1", 1) == a {
			return true
		}
	}
	return false
}

// routes builds the pipeline's routes, with their transforms.
func (d *Daemon) routes(rs []config.Route) ([]pipeline.Route, error) {
	out := make([]pipeline.Route, 0, len(rs))
	for _, r := range rs {
		pr := pipeline.Route{Name: r.Name, From: r.From, Topics: r.Topics, Kinds: r.Kinds, To: r.To, RequireJSON: r.RequireJSON}
		if t := r.Transform; t != nil {
			tr, err := t.Factory.BuildTransform(t.Settings, d.deps(adapters.DirTransform, t.Type, r.Name))
			if err != nil {
				return nil, fmt.Errorf("route %s: transform %s: %w", r.Name, t.Type, err)
			}
			pr.Transform = tr
		}
		out = append(out, pr)
	}
	return out, nil
}

// Addr is the bound HTTP address (useful when the config says :0).
func (d *Daemon) Addr() string { return d.web.Addr() }

// BrokerAddr is the embedded broker's bound address, or "" when it is off.
func (d *Daemon) BrokerAddr() string {
	if d.broker == nil {
		return ""
	}
	return d.broker.Addr()
}

// Health exposes the tracker (for tests and the status line).
func (d *Daemon) Health() *health.Tracker { return d.health }

// Events exposes the event bus, for subscribers such as the lifecycle publisher, the
// LEDs and the status page (see package events).
func (d *Daemon) Events() *events.Bus { return d.bus }

// Pipeline exposes the delivery pipeline (for tests).
func (d *Daemon) Pipeline() *pipeline.Pipeline { return d.pipe }

// Run runs the daemon until ctx ends or a fatal component fails, then shuts down in
// order. It returns the fatal error, or nil after a clean shutdown.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.closeAll()

	// Each stage has its own context so that shutdown can stop them one at a time.
	writerCtx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	pipeCtx, stopPipe := context.WithCancel(context.WithoutCancel(ctx))
	webCtx, stopWeb := context.WithCancel(context.WithoutCancel(ctx))
	srcCtx, stopSources := context.WithCancel(ctx)
	defer func() { stopSources(); stopPipe(); stopWriter(); stopWeb() }()

	fatal := make(chan error, 4)
	var writerG, pipeG errgroup.Group
	writerG.Go(func() error { // the store writer; exits when writerCtx ends
		if err := d.writer.Run(writerCtx); err != nil {
			fatal <- fmt.Errorf("store writer: %w", err)
		}
		return nil
	})
	pipeG.Go(func() error { // delivery; exits when pipeCtx ends, after draining
		if err := d.pipe.Run(pipeCtx); err != nil {
			fatal <- fmt.Errorf("pipeline: %w", err)
		}
		return nil
	})
	var webG errgroup.Group
	webG.Go(func() error { // HTTP; exits when webCtx ends
		if err := d.web.Serve(webCtx); err != nil {
			fatal <- fmt.Errorf("http: %w", err)
		}
		return nil
	})
	var srcG errgroup.Group
	for _, s := range d.sources {
		srcG.Go(func() error { return d.superviseSource(srcCtx, s) }) // returns when srcCtx ends
	}
	// Running: everything is started (READY=1 may still wait for the sources).
	d.bus.Publish(events.Event{Kind: events.Started, Version: d.opt.Version, Sources: d.sourceNames(), Sinks: d.sinkNames()})
	var aux errgroup.Group
	auxCtx, stopAux := context.WithCancel(srcCtx)
	defer stopAux()
	aux.Go(func() error { return d.notify.RunWatchdog(auxCtx, d.alive) }) // exits with auxCtx
	aux.Go(func() error { d.statusLoop(auxCtx); return nil })             // exits with auxCtx
	aux.Go(func() error { d.readyWhenSubscribed(auxCtx); return nil })    // exits when ready or auxCtx ends

	var runErr error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down", "cause", context.Cause(ctx))
	case runErr = <-fatal:
		d.log.Error("fatal error, shutting down", "err", runErr)
	}

	// Shutdown, in order; see the package documentation for why.
	cause := context.Cause(ctx)
	if runErr != nil {
		cause = runErr
	}
	d.bus.Publish(events.Event{Kind: events.Stopping, Reason: cause.Error(), Queued: d.queued()})
	_ = d.notify.Stopping()
	d.health.SetStopping()
	stopAux()
	stopSources()
	_ = srcG.Wait()
	d.pipe.StopIntake()
	stopPipe()
	_ = pipeG.Wait() // in-flight sends finish and queue their outbox deletes
	d.saveState()    // before the writer stops: it commits the sources' state
	stopWriter()     // the writer flushes what is queued before it returns
	_ = writerG.Wait()
	_ = aux.Wait()
	stopWeb()
	_ = webG.Wait()
	if err := d.closeAll(); err != nil && runErr == nil {
		runErr = err
	}
	d.log.Info("stopped")
	return runErr
}

// superviseSource runs a source, restarting it with backoff when it fails, until ctx
// ends.
func (d *Daemon) superviseSource(ctx context.Context, s source) error {
	pub := d.pipe.Publisher(s.name)
	retry := pipeline.Retry{Initial: 100 * time.Millisecond, Max: 30 * time.Second}.WithDefaults()
	for attempt := 1; ; attempt++ {
		started := d.now()
		err := s.src.Run(ctx, pub)
		if ctx.Err() != nil {
			return nil
		}
		if d.now().Sub(started) > time.Minute {
			attempt = 1
		}
		delay := retry.Delay(attempt, 0)
		msg := "source stopped"
		if err != nil {
			msg = err.Error()
		}
		d.health.Set("source:"+s.name, "running", false, health.Critical, msg)
		d.log.Error("source failed; restarting", "source", s.name, "err", err, "retry_in_s", delay.Seconds())
		if !clock.Sleep(ctx, d.clock, delay) {
			return nil
		}
		d.health.Set("source:"+s.name, "running", true, health.Critical, "")
	}
}

// readyWhenSubscribed sends READY=1 once every source that subscribes has done so, or
// after the startup grace with a STATUS line naming what is missing.
func (d *Daemon) readyWhenSubscribed(ctx context.Context) {
	deadline := d.clock.NewTimer(d.opt.StartupGrace)
	defer deadline.Stop()
	changed, unsub := d.health.Subscribe()
	defer unsub()
	for waiting := false; ; waiting = true {
		missing := d.unsubscribed()
		if len(missing) == 0 {
			_ = d.notify.Ready()
			d.bus.Publish(events.Event{Kind: events.Ready})
			d.log.Info("ready", "http", d.web.Addr(), "sources", len(d.sources), "sinks", len(d.sinks))
			return
		}
		if !waiting {
			d.log.Info("READY=1 waits for sources to subscribe", "waiting_for", strings.Join(missing, ", "),
				"grace_s", d.opt.StartupGrace.Seconds())
		}
		select {
		case <-changed:
		case <-deadline.C():
			_ = d.notify.Ready()
			d.bus.Publish(events.Event{Kind: events.Ready, Reason: "startup grace ended; waiting for " + strings.Join(missing, ", ")})
			d.log.Warn("ready without every source subscribed; they keep retrying",
				"waiting_for", strings.Join(missing, ", "), "grace_s", d.opt.StartupGrace.Seconds())
			return
		case <-ctx.Done():
			return
		}
	}
}

func (d *Daemon) unsubscribed() []string {
	var missing []string
	snap := d.health.Snapshot()
	for _, s := range d.sources {
		for _, c := range snap {
			if c.Component == "source:"+s.name && slices.Contains(s.ready, c.Name) && !c.OK {
				missing = append(missing, s.name)
				break
			}
		}
	}
	return missing
}

// alive is the watchdog's liveness probe: the store writer has made progress
// recently and no sink is stuck with work waiting.
func (d *Daemon) alive() error {
	interval := d.notify.WatchdogInterval()
	limit := 2 * interval
	if limit < 10*time.Second {
		limit = 10 * time.Second
	}
	if last := d.writer.LastProgress(); !last.IsZero() && d.now().Sub(last) > limit {
		return fmt.Errorf("store writer has not made progress for %s", d.now().Sub(last).Round(time.Second))
	}
	return d.pipe.Alive(2 * time.Minute)
}

// statusEvery is how often statusLoop refreshes.
const statusEvery = 2 * time.Second

// statusLoop keeps the sink and store health conditions current (every 2 s) and the
// systemd STATUS line, which it renders from the event bus (statusSub) as soon as a
// condition changes.
func (d *Daemon) statusLoop(ctx context.Context) {
	defer d.statusSub.Close()
	t := d.clock.NewTicker(statusEvery)
	defer t.Stop()
	for {
		d.refreshStatus()
		select {
		case <-t.C():
		case e := <-d.statusSub.C():
			d.status.apply(e)
		case <-ctx.Done():
			return
		}
	}
}

func (d *Daemon) refreshStatus() {
	var queued int64
	for _, s := range d.pipe.Status() {
		queued += s.Depth
		comp := "sink:" + s.Name
		connected := s.Connected || s.LastError == "" // "" : the first Connect has not failed
		switch {
		case !connected:
			d.health.Set(comp, "connected", false, health.Degraded, "not connected: "+s.LastError)
			d.health.Set(comp, "delivering", false, health.Degraded, "")
		case s.Failing:
			d.health.Set(comp, "connected", true, health.Degraded, "")
			d.health.Set(comp, "delivering", false, health.Degraded, "retrying: "+s.LastError)
		default:
			d.health.Set(comp, "connected", true, health.Degraded, "")
			d.health.Set(comp, "delivering", true, health.Degraded, "")
		}
	}
	if e := d.pipe.StoreError(); e != "" {
		d.health.Set("store", "writable", false, health.Critical, e)
	} else {
		d.health.Set("store", "writable", true, health.Critical, "")
	}
	moved, _ := d.db.Quarantined()
	d.status.catchUp(d.statusSub, d.health, moved)
	// Counting dead letters walks the dead-letter pages: refresh it every 30 s only.
	// (Not Stats: it walks every outbox too, which would page the whole store file
	// into memory during a long outage.)
	if d.now().Sub(d.deadAt) > 30*time.Second {
		d.deadAt = d.now()
		if n, err := d.db.DeadCount(); err == nil {
			d.dead = n
		}
	}
	_ = d.notify.Status(d.status.line(queued, d.dead, d.sinkNames()))
}

func (d *Daemon) registerGauges() {
	for _, s := range d.sinks {
		name := s.Name
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
}

// refreshStoreCounters copies the store's running totals into the metrics.
func (d *Daemon) refreshStoreCounters() {
	c := d.db.Counters()
	d.m.StoreCommits().Set(c.Commits)
	d.m.StoreBytesWritten().Set(c.BytesWritten)
}
