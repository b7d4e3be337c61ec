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
//  5. stop the web server and the sources' own listeners;
//  6. close the sinks, then the embedded broker;
//  7. close the store, last, because everything above may still write to it.
//
// # Reload
//
// Reload (SIGHUP) reads the configuration again, checks it as New does, and swaps
// the sinks, sources and routes whose configuration changed while the store, the
// HTTP server, the broker and the rest keep running; an invalid file changes
// nothing. See reload.go and docs/reload.md.
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
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/sync/errgroup"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/logx"
	"github.com/edgerelay/edgerelay/daemon/broker"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/lifecycle"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/daemon/sdnotify"
	"github.com/edgerelay/edgerelay/daemon/state"
	"github.com/edgerelay/edgerelay/daemon/web"
	"github.com/edgerelay/edgerelay/hw"
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
	// Indicator, when set, is the status LED instead of the configured one (for
	// tests); the daemon closes it.
	Indicator hw.Indicator
	// Load reads the configuration again for Reload (SIGHUP): the same file, loaded
	// and validated as at the start. Nil: Reload refuses, there is nothing to read.
	Load func() (*config.Config, error)
	// LogLevel, when set, is the level of Log's handler, which Reload sets to the new
	// log.level.
	LogLevel *slog.LevelVar
}

// source is one configured intake.
type source struct {
	name  string
	typ   string
	src   adapters.Source
	ready []string // READY waits for these health conditions (adapters.SourceSpec.Ready)
	// serves: the source mounted HTTP routes or took a listener of its own, which a
	// reload cannot hand back; inProcess: it reads the embedded broker in-process.
	serves, inProcess bool
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
	lim     *logx.Limiter // rate-limits every repeated warning (see Run)
	notify  *sdnotify.Notifier
	db      *store.DB
	writer  *store.Writer
	web     *web.Server
	broker  *broker.Broker
	pipe    *pipeline.Pipeline
	state   *state.Committer // the sources' persisted state
	// sinks and sources change on a reload; goroutines read them through sinkList
	// and sourceList (adaptersMu).
	adaptersMu sync.RWMutex
	sinks      []pipeline.Sink
	sources    []source
	sinkTypes  map[string]string // each sink's type by name
	// sinkClose closes each sink once, by name (buildSink).
	sinkClose map[string]func() error
	// stranded names the unconfigured sinks whose stranded gauges are set
	// (stranded.go; New, then the reloads).
	stranded map[string]bool
	// reload (reload.go): reloadMu serialises reloads against each other and against
	// the start and stop of the sources, and guards what follows.
	reloadMu sync.Mutex
	live     *config.Config            // the configuration that runs (cfg, then each reload's)
	router   *pipeline.Router          // the pipeline's routing for live.Routes
	running  map[string]*runningSource // the sources' supervisors, by name
	srcCtx   context.Context           // the sources' context while Run runs them; nil otherwise
	srcWG    sync.WaitGroup            // every source supervisor
	node     lifecycle.Node            // this node's id, recorded in the store
	life     *lifecycle.Publisher      // nil when events are off

	// dead and deadAt cache the dead-letter count for the STATUS line; only the
	// status loop touches them, and status, the line's view fed from statusSub.
	dead   int
	deadAt time.Time
	// deadWatch sees each dead letter (refreshDead); rejectedSeen: the @rejected
	// bucket's gauge was exposed once, so it keeps being set (to 0 when emptied).
	deadWatch    deadWatch
	rejectedSeen bool
	// spaceAt is when recheckSpace last computed the store's bound; spaceReserve the
	// free bytes the disk keeps (a quarter of its free space at start).
	spaceAt      time.Time
	spaceReserve int64
	statusSub    *events.Subscription
	status       statusView
	// ind is the status LED, nil when there is none; indSub wakes its loop.
	ind    hw.Indicator
	indSub *events.Subscription
	led    ledState // the pattern indicatorLoop chose last

	dry *dryRun // set only while Check builds the adapters

	// started is when New finished; page is the status page's own state (rates,
	// recent errors, dead-letter counts); deadWake wakes the status loop to recount
	// the dead letters after the page changed them.
	started  time.Time
	page     pageView
	deadWake chan struct{}

	cleanupMu  sync.Mutex // guards cleanups
	cleanups   []cleanup
	cleanupSeq uint64 // the last onStop handle; guarded by cleanupMu
}

type cleanup struct {
	name string
	fn   func() error
	id   uint64 // dropStop's handle
}

// onStop registers fn to run at shutdown and returns its handle for dropStop.
func (d *Daemon) onStop(name string, fn func() error) uint64 {
	d.cleanupMu.Lock()
	defer d.cleanupMu.Unlock()
	d.cleanupSeq++
	d.cleanups = append(d.cleanups, cleanup{name, fn, d.cleanupSeq})
	return d.cleanupSeq
}

// dropStop unregisters the cleanup id once it ran early (a sink a reload replaced or
// removed), so that reloads do not grow the list. Once shutdown has taken the list
// it does nothing.
func (d *Daemon) dropStop(id uint64) {
	d.cleanupMu.Lock()
	defer d.cleanupMu.Unlock()
	d.cleanups = slices.DeleteFunc(d.cleanups, func(c cleanup) bool { return c.id == id })
}

// stopCount is how many cleanups wait for the shutdown (for tests).
func (d *Daemon) stopCount() int {
	d.cleanupMu.Lock()
	defer d.cleanupMu.Unlock()
	return len(d.cleanups)
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
	// The same checks as `config check`, before anything is opened or bound.
	if err := check(cfg, opt.Clock); err != nil {
		return nil, err
	}
	d := &Daemon{
		opt: opt, cfg: cfg, log: opt.Log, now: opt.Now, clock: opt.Clock,
		health:  health.New(opt.Now),
		metrics: metrics.NewSet(),
		notify:  sdnotify.New(opt.Log),
	}
	d.m = web.NewMetrics(d.metrics)
	d.lim = logx.New(logx.Options{Clock: opt.Clock, Now: opt.Now})
	d.wireEvents()
	d.openIndicator()
	built := false
	defer func() {
		if !built {
			_ = d.closeAll() // roll back what was opened and bound so far
		}
	}()
	if err := d.newLifecycle(); err != nil { // before the store: a quarantine is reported
		return nil, err
	}

	if err := d.openStore(); err != nil {
		return nil, err
	}
	wcfg := cfg.HTTP
	wcfg.Version = opt.Version
	d.web = web.New(wcfg, d.health, d.metrics, d.log.With("component", "http"))
	d.web.SetLimiter(d.lim)
	if err := d.web.Listen(); err != nil {
		return nil, err
	}
	d.onStop("http listeners", d.web.Close) // only when Run never served them
	d.initNode()
	if err := d.newBroker(); err != nil {
		return nil, err
	}
	if err := d.buildSinks(); err != nil {
		return nil, err
	}
	if err := d.reportStranded(); err != nil {
		return nil, err
	}
	rs, err := d.routes(cfg.Routes)
	if err != nil {
		return nil, err
	}
	router := pipeline.NewRouter(rs)
	d.router, d.live = router, cfg
	unbuffered, prompt := intakeModes(cfg.Sources)
	maxBytes := cfg.Store.MaxEventBytes
	if maxBytes < 0 {
		maxBytes = 0
	}
	d.writer = d.db.NewWriter(store.WriterOptions{Window: cfg.Store.CommitWindow, MaxBatch: cfg.Store.MaxBatch, Clock: d.clock,
		Limiter: d.lim})
	d.pipe, err = pipeline.New(pipeline.Options{
		DB: d.db, Writer: d.writer, Router: router, Sinks: d.sinks,
		MaxEventBytes: maxBytes, Unrouted: cfg.Rejects.Unrouted, Oversize: cfg.Rejects.Oversize,
		Invalid: cfg.Rejects.Invalid, Unbuffered: unbuffered, Prompt: prompt,
		MaxPending: cfg.Store.MaxPending, MemLimit: cfg.Store.MemoryItems,
		DeliverWindow: max(cfg.Store.DeliverWindow, 0),
		DrainTimeout:  cfg.Store.DrainTimeout, Log: d.log.With("component", "pipeline"),
		Events: d.bus, Now: d.now,
		Clock: d.clock, Limiter: d.lim,
	})
	if err != nil {
		return nil, err
	}
	if d.state, err = state.Load(d.db, d.writer, state.Options{Log: d.log.With("component", "state"), Clock: d.clock}); err != nil {
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
	d.m.ConfigReloads(events.ReloadOK) // both results from 0, so that a rate works from the first reload
	d.m.ConfigReloads(events.ReloadFailed)
	d.m.ConfigReloaded(true, float64(d.now().UnixNano())/1e9)
	d.web.OnScrape(d.refreshStoreCounters)
	d.web.OnScrape(d.refreshBusCounters)
	d.web.SetStatus(statusPage{d})
	d.started = d.now()
	built = true
	return d, nil
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
	limCtx, stopLim := context.WithCancel(context.WithoutCancel(ctx))
	srcCtx, stopSources := context.WithCancel(ctx)
	defer func() { stopSources(); stopPipe(); stopWriter(); stopWeb(); stopLim() }()
	var limG errgroup.Group
	limG.Go(func() error { return d.lim.Run(limCtx) }) // flushes suppressed counts; exits when limCtx ends, after a last flush

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
	lifeCtx, stopLife := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLife()
	var lifeG errgroup.Group
	if d.life != nil {
		lifeG.Go(func() error { return d.life.Run(lifeCtx) }) // exits when lifeCtx ends, after a bounded flush
	}
	var webG errgroup.Group
	webG.Go(func() error { // HTTP; exits when webCtx ends
		if err := d.web.Serve(webCtx); err != nil {
			fatal <- fmt.Errorf("http: %w", err)
		}
		return nil
	})
	// The startup grace counts from here, before any source runs.
	grace := d.clock.NewTimer(d.opt.StartupGrace)
	d.reloadMu.Lock()
	d.srcCtx, d.running = srcCtx, map[string]*runningSource{}
	for _, s := range d.sources {
		d.startSourceLocked(s) // its supervisor returns when srcCtx ends
	}
	d.reloadMu.Unlock()
	// Running: everything is started (READY=1 may still wait for the sources).
	d.bus.Publish(events.Event{Kind: events.Started, Version: d.opt.Version, Sources: d.sourceNames(), Sinks: d.sinkNames()})
	var aux errgroup.Group
	auxCtx, stopAux := context.WithCancel(srcCtx)
	defer stopAux()
	aux.Go(func() error { return d.notify.RunWatchdog(auxCtx, d.alive) })     // exits with auxCtx
	aux.Go(func() error { d.statusLoop(auxCtx); return nil })                 // exits with auxCtx
	aux.Go(func() error { d.indicatorLoop(auxCtx); return nil })              // exits with auxCtx
	aux.Go(func() error { d.readyWhenSubscribed(auxCtx, grace); return nil }) // exits when ready or auxCtx ends
	backlog := newBacklogWatch(d.log.With("component", "backlog"), d.health, d.clock, d.pipe.Status, d.pipe.StoredAtStart)
	aux.Go(func() error { backlog.run(auxCtx, d.pipe.Started()); return nil }) // exits with auxCtx

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
	d.reloadMu.Lock() // a reload under way finishes first; none starts after this
	d.srcCtx = nil
	d.reloadMu.Unlock()
	stopSources()
	d.srcWG.Wait()
	d.pipe.StopIntake()
	stopPipe()
	_ = pipeG.Wait() // in-flight sends finish and queue their outbox deletes
	d.saveState()    // before the writer stops: it commits the sources' state
	stopWriter()     // the writer flushes what is queued before it returns
	_ = writerG.Wait()
	_ = aux.Wait()
	stopLife() // what is still buffered (edge.node.stopping) gets events.stop_flush
	_ = lifeG.Wait()
	stopWeb()
	_ = webG.Wait()
	stopLim() // the last counts of suppressed lines, before "stopped"
	_ = limG.Wait()
	if err := d.closeAll(); err != nil && runErr == nil {
		runErr = err
	}
	d.log.Info("stopped")
	return runErr
}
