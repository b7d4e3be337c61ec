package daemon

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/broker"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
)

// openStore opens the store (a corrupt file is quarantined and salvaged by store.Open)
// and raises the quarantine condition, saying what was salvaged and lost, and event
// when that happened.
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
	db.SetLimits(d.storeLimits(d.cfg.Store))
	if moved, reason := db.Quarantined(); moved != "" {
		salvage := "salvage failed, started empty"
		if rep, err := db.Salvaged(); err != nil {
			salvage += ": " + err.Error()
		} else if rep != nil {
			salvage = rep.String()
		}
		d.log.Error("the store was unreadable and has been moved aside; started with what could be salvaged",
			"moved_to", moved, "reason", reason, "salvage", salvage)
		d.health.Set("store", "quarantined", false, health.Degraded,
			fmt.Sprintf("corrupt store moved to %s (%s); %s", moved, reason, salvage))
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
	for _, r := range broker.RejectReasons {
		d.m.BrokerRejects(r) // every reason from 0, so that a rate works from the first refusal
	}
	b.SetRejects(func(reason string) { d.m.BrokerRejects(reason).Inc() }, d.lim)
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
		Table:   d.sourceTable(dir, name),
		Listen:  d.listenFor(dir, name),
		Role:    d.roleFor(dir, name),
		Reject:  d.rejectFor(dir, name),
		Circuit: d.circuitFor(dir, name),
		Command: d.commandFor(dir, name),
		Limiter: d.lim,
	}
}

// commandFor publishes sink name's command reports on the bus (nil for sources and
// transforms).
func (d *Daemon) commandFor(dir adapters.Direction, name string) func(adapters.CommandReport) {
	if dir != adapters.DirSink {
		return nil
	}
	return func(c adapters.CommandReport) {
		d.bus.Publish(events.Event{Kind: events.CommandExecution, Sink: name, To: c.State, ItemID: c.ItemID,
			AlertID: c.AlertID, Exited: c.Exited, ExitCode: c.ExitCode, DurationMS: c.Duration.Milliseconds()})
	}
}

// rejectFor counts the requests source name refused (nil for sinks and transforms).
func (d *Daemon) rejectFor(dir adapters.Direction, name string) func(string) {
	if dir != adapters.DirSource {
		return nil
	}
	return func(reason string) { d.m.SourceRejects(name, reason).Inc() }
}

// listenFor gives source name listeners of its own on the web server (nil for sinks
// and transforms); their TLS condition is reported under the source's component.
func (d *Daemon) listenFor(dir adapters.Direction, name string) func(adapters.ListenerConfig) (adapters.Mounter, error) {
	if dir != adapters.DirSource {
		return nil
	}
	if d.dry != nil {
		return d.dry.listen(name)
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
		s, err := d.buildSink(a)
		if err != nil {
			return fmt.Errorf("sink %s: %w", a.Name, err)
		}
		d.sinks = append(d.sinks, s)
	}
	d.sinkTypes = sinkTypes(d.cfg.Sinks)
	return nil
}

// sinkTypes maps each configured sink's name to its type, for the status page.
func sinkTypes(as []config.Adapter) map[string]string {
	m := make(map[string]string, len(as))
	for _, a := range as {
		m[a.Name] = a.Type
	}
	return m
}

// buildSink builds one sink and registers its Close (run once: at shutdown, or
// earlier by a reload that replaces or removes the sink, through d.sinkClose); Check
// uses it too.
func (d *Daemon) buildSink(a config.Adapter) (pipeline.Sink, error) {
	s, err := a.Factory.BuildSink(a.Settings, d.deps(adapters.DirSink, a.Type, a.Name))
	if err != nil {
		return pipeline.Sink{}, err
	}
	var id atomic.Uint64
	closeSink := sync.OnceValue(func() error {
		d.dropStop(id.Load()) // closed by a reload: nothing to do at shutdown
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return s.Close(ctx)
	})
	id.Store(d.onStop("close sink "+a.Name, closeSink))
	if d.sinkClose == nil {
		d.sinkClose = map[string]func() error{}
	}
	d.sinkClose[a.Name] = closeSink
	n := a.Factory.Info.MaxInFlight
	if m, ok := s.(adapters.InFlightLimiter); ok && m.MaxInFlight() > 0 {
		n = m.MaxInFlight()
	}
	return pipeline.Sink{Name: a.Name, Sink: s, MaxInFlight: n, Retry: a.Retry}, nil
}

func (d *Daemon) buildSources() error {
	for _, a := range d.cfg.Sources {
		src, err := d.buildSource(a)
		if err != nil {
			return fmt.Errorf("source %s: %w", a.Name, err)
		}
		for _, c := range src.ready {
			d.health.Set("source:"+a.Name, c, false, health.Critical, "starting")
		}
		d.sources = append(d.sources, src)
	}
	return nil
}

// buildSource builds one source (the in-process path when it reads the embedded
// broker); Check uses it too.
func (d *Daemon) buildSource(a config.Adapter) (source, error) {
	if d.embeddedSub(a) {
		if bs, ok := a.Settings.(adapters.BrokerSubscriber); ok {
			sub := bs.BrokerSubscription()
			// The source would connect to our own embedded broker: take the in-process
			// path instead, which acknowledges publishers only once events are safe.
			d.log.Info("source reads the embedded broker in-process", "source", a.Name)
			src := d.broker.Source(a.Name, sub.Topics, sub.KeyPath, sub.Kind)
			return source{name: a.Name, typ: a.Type, src: src, inProcess: true}, nil
		}
	}
	deps := d.deps(adapters.DirSource, a.Type, a.Name)
	// Whether the source serves HTTP (on the daemon's listener or one of its own): a
	// reload cannot take its routes or listener back (reload.go).
	var serves atomic.Bool
	deps.HTTP = servingMounter{deps.HTTP, &serves}
	if listen := deps.Listen; listen != nil {
		deps.Listen = func(lc adapters.ListenerConfig) (adapters.Mounter, error) {
			serves.Store(true)
			return listen(lc)
		}
	}
	s, err := a.Factory.BuildSource(a.Settings, deps)
	if err != nil {
		return source{}, err
	}
	// Its readiness conditions ("starting") are raised when it starts, not here: a
	// reload refused after building it must leave /ready as it was.
	return source{name: a.Name, typ: a.Type, src: s, ready: a.Factory.Ready, serves: serves.Load()}, nil
}

// embeddedSub reports whether source a reads the embedded broker, which buildSource
// then serves in-process.
func (d *Daemon) embeddedSub(a config.Adapter) bool {
	bs, ok := a.Settings.(adapters.BrokerSubscriber)
	return ok && d.broker != nil && sameEndpoint(bs.BrokerSubscription().URL, d.broker.Addr(), d.cfg.Broker.Listen)
}

// servingMounter is a source's Deps.HTTP that records whether the source mounted a
// route.
type servingMounter struct {
	adapters.Mounter
	serves *atomic.Bool
}

func (m servingMounter) Mount(pattern string, h http.Handler) error {
	m.serves.Store(true)
	return m.Mounter.Mount(pattern, h)
}

// loopbackName writes a host:port naming localhost as 127.0.0.1.
func loopbackName(hp string) string { return strings.Replace(hp, "localhost", "127.0.0.1", 1) }

// sameEndpoint reports whether a broker URL points at the embedded broker.
func sameEndpoint(url string, addrs ...string) bool {
	if url == "embedded" || url == "embedded://" {
		return true
	}
	hp := url
	if i := strings.Index(hp, "://"); i >= 0 {
		hp = hp[i+3:]
	}
	hp = loopbackName(strings.TrimSuffix(hp, "/"))
	for _, a := range addrs {
		if a != "" && hp == loopbackName(a) {
			return true
		}
	}
	return false
}

// routes builds the pipeline's routes, with their transforms.
func (d *Daemon) routes(rs []config.Route) ([]pipeline.Route, error) {
	out := make([]pipeline.Route, 0, len(rs))
	for _, r := range rs {
		pr, err := d.route(r)
		if err != nil {
			return nil, fmt.Errorf("route %s: transform %s: %w", r.Name, r.Transform.Type, err)
		}
		out = append(out, pr)
	}
	return out, nil
}

// route builds one route with its transform; Check uses it too.
func (d *Daemon) route(r config.Route) (pipeline.Route, error) {
	pr := pipeline.Route{Name: r.Name, From: r.From, Topics: r.Topics, Kinds: r.Kinds, To: r.To, RequireJSON: r.RequireJSON}
	if t := r.Transform; t != nil {
		tr, err := t.Factory.BuildTransform(t.Settings, d.deps(adapters.DirTransform, t.Type, r.Name))
		if err != nil {
			return pipeline.Route{}, err
		}
		pr.Transform = tr
	}
	return pr, nil
}
