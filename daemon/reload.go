package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
)

// The health conditions of a reload, on the component "config". Both are degraded:
// the relay keeps relaying with the configuration it runs.
const (
	// reloadedCondition fails when the last reload was refused (the file is invalid,
	// or an adapter could not be built), with the reason; the next good reload
	// clears it.
	reloadedCondition = "reloaded"
	// restartCondition fails while the file differs from what runs in sections that
	// apply only at a start (store, http, broker, ...), naming them.
	restartCondition = "restart"
)

// ErrNotRunning refuses a reload while the daemon is starting (Run has not started
// the sources yet) or stopping.
var ErrNotRunning = errors.New("the daemon is starting or stopping; nothing was reloaded")

// errNoFile refuses a reload of a daemon given no way to read its configuration again
// (`edgerelay daemon` builds it from ilagent's command line, which cannot change).
var errNoFile = errors.New("this daemon's configuration comes from its command line, not a file: there is nothing to reload; restart it to change it")

// Reload reads the configuration again (Options.Load), checks it exactly as the start
// does (config.Load's validation, then Check, which builds every adapter dry), and
// applies what changed while everything else keeps running:
//
//   - a sink added starts (with what the store already holds under its name), a sink
//     changed gets its new adapter on the same queue once its in-flight sends ended
//     (or were cancelled after store.drain_timeout: the events stay queued), a sink
//     removed stops and its queued events stay in the store (stranded, as at a
//     start; `edgerelay queue move` hands them on);
//   - the routes, when they changed, are swapped at once for the next event;
//   - a source changed or removed stops (it acknowledges nothing more; what it
//     acknowledged is stored), and the new one starts;
//   - log.level is applied.
//
// The store, the HTTP server, the embedded broker and unchanged adapters keep
// running. Sections that only a start applies (node, log.format, store, http,
// broker, rejects, indicator, events) and sources that serve HTTP (their routes and
// listeners cannot be taken back) are not applied but reported as needing a restart,
// while the rest of the reload applies. A file that does not load or check, or an
// adapter that cannot be built, refuses the whole reload: the previous configuration
// runs on untouched. Either way the outcome is logged in one line, shown on /ready
// and the STATUS line (component "config"), counted in /metrics and published on the
// bus (ConfigReloaded).
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.srcCtx == nil {
		return ErrNotRunning
	}
	select {
	case <-d.pipe.Started():
	default:
		return ErrNotRunning // the pipeline is still loading the stored backlog
	}
	if d.opt.Load == nil {
		d.reloadFailed(errNoFile)
		return errNoFile
	}
	cfg, err := d.opt.Load()
	var serving map[string]bool
	if err == nil {
		serving, err = checkServing(cfg, d.clock)
	}
	if err != nil {
		d.reloadFailed(err)
		return err
	}
	df := diffConfig(d.live, cfg)
	d.holdServing(&df, serving)
	live := liveConfig(d.live, cfg, df)
	df.Routes = !sameRoutes(d.live.Routes, live.Routes) // with the held sources' routes
	if err := d.apply(cfg, live, df); err != nil {
		d.reloadFailed(err)
		return err
	}
	d.live = live
	d.reloadOK(df)
	return nil
}

// adapterDiff sorts the sinks or sources of a reload by what it does with them.
type adapterDiff struct {
	Added, Changed, Removed, Unchanged []string
}

func (a adapterDiff) touched() bool { return len(a.Added)+len(a.Changed)+len(a.Removed) > 0 }

// configDiff is what a reload changes.
type configDiff struct {
	Sinks, Sources adapterDiff
	Routes         bool     // the routes changed
	LogLevel       string   // the new log.level; "" when unchanged
	Restart        []string // keys that changed but apply only after a restart
}

// diffConfig compares the running configuration with a new one. Adapters are matched
// by name and compared by type, settings (after defaults and ${VAR} expansion),
// retry and ack, never by line: moving an entry in the file changes nothing.
func diffConfig(old, cur *config.Config) configDiff {
	df := configDiff{
		Sinks:   diffAdapters(old.Sinks, cur.Sinks),
		Sources: diffAdapters(old.Sources, cur.Sources),
		Routes:  !sameRoutes(old.Routes, cur.Routes),
	}
	if old.Log.Level != cur.Log.Level {
		df.LogLevel = cur.Log.Level
	}
	r := changedKeys("node", old.Node, cur.Node)
	if old.Log.Format != cur.Log.Format {
		r = append(r, "log.format")
	}
	r = append(r, changedKeys("store", old.Store, cur.Store)...)
	r = append(r, changedKeys("http", old.HTTP, cur.HTTP)...)
	r = append(r, changedKeys("broker", old.Broker, cur.Broker)...)
	r = append(r, changedKeys("rejects", old.Rejects, cur.Rejects)...)
	r = append(r, changedKeys("indicator", old.Indicator, cur.Indicator)...)
	r = append(r, changedKeys("events", old.Events, cur.Events)...)
	if old.Events.Adapter == cur.Events.Adapter && !reflect.DeepEqual(old.Events.Settings, cur.Events.Settings) {
		r = append(r, "events."+cur.Events.Adapter)
	}
	df.Restart = r
	return df
}

func diffAdapters(old, cur []config.Adapter) adapterDiff {
	var d adapterDiff
	before := map[string]config.Adapter{}
	for _, a := range old {
		before[a.Name] = a
	}
	now := map[string]bool{}
	for _, a := range cur {
		now[a.Name] = true
		o, ok := before[a.Name]
		switch {
		case !ok:
			d.Added = append(d.Added, a.Name)
		case sameAdapter(o, a):
			d.Unchanged = append(d.Unchanged, a.Name)
		default:
			d.Changed = append(d.Changed, a.Name)
		}
	}
	for _, a := range old {
		if !now[a.Name] {
			d.Removed = append(d.Removed, a.Name)
		}
	}
	return d
}

func sameAdapter(a, b config.Adapter) bool {
	return a.Type == b.Type && a.Ack == b.Ack && reflect.DeepEqual(a.Retry, b.Retry) &&
		reflect.DeepEqual(a.Settings, b.Settings)
}

func sameRoutes(a, b []config.Route) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Name != y.Name || !slices.Equal(x.From, y.From) || !slices.Equal(x.Topics, y.Topics) ||
			!slices.Equal(x.Kinds, y.Kinds) || !slices.Equal(x.To, y.To) || x.RequireJSON != y.RequireJSON {
			return false
		}
		switch tx, ty := x.Transform, y.Transform; {
		case (tx == nil) != (ty == nil):
			return false
		case tx != nil && (tx.Type != ty.Type || !reflect.DeepEqual(tx.Settings, ty.Settings)):
			return false
		}
	}
	return true
}

// changedKeys names the keys (prefix.yaml_name) whose values differ between a and b,
// two values of one struct type. Fields without a YAML name (set by the loader, such
// as a section's line) are not compared.
func changedKeys(prefix string, a, b any) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() != reflect.Struct {
		if !reflect.DeepEqual(a, b) {
			return []string{prefix}
		}
		return nil
	}
	var out []string
	t := va.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			if !f.Anonymous {
				continue
			}
			out = append(out, changedKeys(prefix, va.Field(i).Interface(), vb.Field(i).Interface())...)
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, prefix+"."+name)
		}
	}
	return out
}

// holdServing takes the sources that serve HTTP out of the reload, as needing a
// restart: the daemon's server cannot unmount a route, nor bind a listener once it
// serves, so such a source keeps running as it is. serving says it of the new
// file's sources; the running ones know it themselves.
func (d *Daemon) holdServing(df *configDiff, serving map[string]bool) {
	held := func(name string) bool {
		if serving[name] {
			return true
		}
		rs := d.running[name]
		return rs != nil && rs.serves
	}
	keep := func(names []string, what string) []string {
		var out []string
		for _, n := range names {
			if held(n) {
				df.Restart = append(df.Restart, fmt.Sprintf("source %s (%s; it serves HTTP)", n, what))
				continue
			}
			out = append(out, n)
		}
		return out
	}
	df.Sources.Added = keep(df.Sources.Added, "added")
	df.Sources.Changed = keep(df.Sources.Changed, "changed")
	df.Sources.Removed = keep(df.Sources.Removed, "removed")
}

// liveConfig is the configuration that runs once df is applied: cur, with the
// sections and sources that wait for a restart as they run now, so that the next
// reload compares the file with what really runs.
func liveConfig(old, cur *config.Config, df configDiff) *config.Config {
	live := *cur
	live.Node, live.Store, live.HTTP, live.Broker = old.Node, old.Store, old.HTTP, old.Broker
	live.Rejects, live.Indicator, live.Events = old.Rejects, old.Indicator, old.Events
	live.Log.Format = old.Log.Format
	applied := map[string]bool{}
	for _, n := range slices.Concat(df.Sources.Added, df.Sources.Changed, df.Sources.Removed) {
		applied[n] = true
	}
	was := map[string]config.Adapter{}
	for _, a := range old.Sources {
		was[a.Name] = a
	}
	live.Sources = nil
	seen := map[string]bool{}
	for _, a := range cur.Sources {
		seen[a.Name] = true
		o, running := was[a.Name]
		switch {
		case applied[a.Name], running && sameAdapter(o, a):
			live.Sources = append(live.Sources, a) // added, changed or unchanged
		case running:
			live.Sources = append(live.Sources, o) // changed but held: the old one runs
		}
		// Added but held: not running, not in live.
	}
	heldRemoved := map[string]bool{}
	for _, a := range old.Sources {
		if !seen[a.Name] && !applied[a.Name] {
			live.Sources = append(live.Sources, a) // removed, held: still runs
			heldRemoved[a.Name] = true
		}
	}
	live.Routes = heldRoutes(old.Routes, cur, heldRemoved)
	return &live
}

// heldRoutes returns cur's routes followed by the old routes that name a source
// removed from the file but held (it serves HTTP and keeps running until a restart):
// the file cannot route it any more (validation refuses a route from an unknown
// source), yet it goes on answering its senders, so its events keep the routes it
// was configured with. Such a route keeps only the held sources in From and only
// the sinks cur still has in To; one left without a sink is dropped.
func heldRoutes(old []config.Route, cur *config.Config, held map[string]bool) []config.Route {
	out := slices.Clone(cur.Routes)
	if len(held) == 0 {
		return out
	}
	sinks := map[string]bool{}
	for _, a := range cur.Sinks {
		sinks[a.Name] = true
	}
	for _, r := range old {
		var from, to []string
		for _, f := range r.From {
			if held[f] {
				from = append(from, f)
			}
		}
		for _, t := range r.To {
			if sinks[t] {
				to = append(to, t)
			}
		}
		if len(from) == 0 || len(to) == 0 {
			continue
		}
		r.From, r.To = from, to
		out = append(out, r)
	}
	return out
}

// intakeModes lists the sources whose events are never stored (ack: delivered) and
// those never held back (pipeline.Options.Unbuffered and Prompt).
func intakeModes(srcs []config.Adapter) (unbuffered, prompt []string) {
	for _, a := range srcs {
		if a.Ack == config.AckDelivered {
			unbuffered = append(unbuffered, a.Name)
		}
		if a.Factory != nil && a.Factory.Prompt {
			prompt = append(prompt, a.Name)
		}
	}
	return unbuffered, prompt
}

// apply builds what df adds or changes, then swaps it in: first everything that can
// fail (building the adapters), so that a failure leaves the daemon as it was, then
// the pipeline (sinks and routing), then the sources.
func (d *Daemon) apply(cfg, live *config.Config, df configDiff) (err error) {
	sinkCfg := map[string]config.Adapter{}
	for _, a := range cfg.Sinks {
		sinkCfg[a.Name] = a
	}
	srcCfg := map[string]config.Adapter{}
	for _, a := range live.Sources {
		srcCfg[a.Name] = a
	}
	oldClose := maps.Clone(d.sinkClose)
	var built []string
	rollback := func() {
		for _, n := range built {
			_ = d.sinkClose[n]()
		}
		d.sinkClose = oldClose
		// An added source never started: whatever its build reported goes again.
		for _, n := range df.Sources.Added {
			d.health.Remove("source:" + n)
		}
	}
	newSinks := map[string]pipeline.Sink{}
	for _, n := range slices.Concat(df.Sinks.Added, df.Sinks.Changed) {
		s, err := d.buildSink(sinkCfg[n])
		if err != nil {
			rollback()
			return fmt.Errorf("sink %s: %w", n, err)
		}
		built = append(built, n)
		newSinks[n] = s
	}
	router := d.router
	if df.Routes {
		rs, err := d.routes(live.Routes)
		if err != nil {
			rollback()
			return err
		}
		router = pipeline.NewRouter(rs)
	}
	newSrcs := map[string]source{}
	for _, n := range slices.Concat(df.Sources.Added, df.Sources.Changed) {
		a := srcCfg[n]
		if d.embeddedSub(a) {
			continue // attached below, before the old ones stop; it cannot fail
		}
		s, err := d.buildSource(a)
		if err != nil {
			rollback()
			return fmt.Errorf("source %s: %w", n, err)
		}
		newSrcs[n] = s
	}

	// From here on nothing fails but the pipeline refusing because it stops.
	//
	// The new in-process sources attach to the embedded broker before the old ones
	// stop: an attachment that does not run yet makes a QoS 1/2 publisher of its
	// topics wait for it (or disconnects it, so that it resends), where no
	// attachment at all would let the broker acknowledge the message as one not
	// for the relay, and lose it.
	for _, n := range slices.Concat(df.Sources.Added, df.Sources.Changed) {
		if a := srcCfg[n]; d.embeddedSub(a) {
			s, _ := d.buildSource(a) // in-process: reports its problems from Run
			newSrcs[n] = s
		}
	}
	// The changed and removed sources stop before the routing changes: each event
	// they acknowledged upstream is then routed by the routes they were configured
	// with, never by new ones that no longer name them (rejects.unrouted would drop
	// it, acknowledged). Until the new ones start, upstream holds what it sends.
	stopped := map[string]*runningSource{}
	for _, n := range slices.Concat(df.Sources.Changed, df.Sources.Removed) {
		if rs := d.stopSourceLocked(n); rs != nil {
			stopped[n] = rs
		}
	}
	undoSources := func() {
		for _, n := range slices.Concat(df.Sources.Added, df.Sources.Changed) {
			if s, ok := newSrcs[n]; ok && s.inProcess {
				d.broker.Detach(s.src)
			}
		}
		for _, rs := range stopped {
			d.startSourceLocked(rs.source) // still attached, if in-process
		}
	}

	change := pipeline.Change{Remove: df.Sinks.Removed, Router: router}
	for _, n := range df.Sinks.Added {
		change.Add = append(change.Add, newSinks[n])
	}
	for _, n := range df.Sinks.Changed {
		change.Replace = append(change.Replace, newSinks[n])
	}
	change.Unbuffered, change.Prompt = intakeModes(live.Sources)
	for _, a := range cfg.Sinks {
		change.Order = append(change.Order, a.Name)
	}
	if _, err := d.pipe.Reconfigure(change); err != nil {
		undoSources()
		rollback()
		return err
	}
	d.router = router
	for _, n := range slices.Concat(df.Sinks.Changed, df.Sinks.Removed) {
		if c := oldClose[n]; c != nil {
			if err := c(); err != nil {
				d.log.Warn("closing the replaced sink failed", "sink", n, "err", err)
			}
		}
	}
	sinks := make([]pipeline.Sink, 0, len(cfg.Sinks))
	byName := map[string]pipeline.Sink{}
	for _, s := range d.sinkList() {
		byName[s.Name] = s
	}
	maps.Copy(byName, newSinks)
	for _, a := range cfg.Sinks {
		sinks = append(sinks, byName[a.Name])
	}
	for _, n := range df.Sinks.Added {
		d.registerSinkGauges(n)
	}
	if len(df.Sinks.Added)+len(df.Sinks.Removed) > 0 {
		d.restranded(cfg.Sinks)
	}

	for n, rs := range stopped {
		if rs.inProcess && d.broker != nil {
			d.broker.Detach(rs.src) // its topics go to its successor only
		}
		d.health.Remove("source:" + n)
	}
	for _, n := range slices.Concat(df.Sources.Added, df.Sources.Changed) {
		s := newSrcs[n]
		for _, c := range s.ready {
			d.health.Set("source:"+n, c, false, health.Critical, "starting")
		}
		d.startSourceLocked(s)
	}
	srcs := make([]source, 0, len(live.Sources))
	for _, a := range live.Sources {
		if rs := d.running[a.Name]; rs != nil {
			srcs = append(srcs, rs.source)
		}
	}

	d.adaptersMu.Lock()
	d.sinks, d.sources, d.sinkTypes = sinks, srcs, sinkTypes(cfg.Sinks)
	d.adaptersMu.Unlock()
	// The removed sinks' conditions go once d.sinks no longer lists them, so that
	// nothing reading it (the dead-letter refresh) raises one again.
	for _, n := range df.Sinks.Removed {
		delete(d.sinkClose, n)
		d.health.Remove("sink:" + n)
	}
	if df.LogLevel != "" && d.opt.LogLevel != nil {
		var lvl slog.Level
		if lvl.UnmarshalText([]byte(df.LogLevel)) == nil {
			d.opt.LogLevel.Set(lvl)
		}
	}
	return nil
}

// runningSource is a source's supervisor, which a reload stops alone.
type runningSource struct {
	source
	cancel context.CancelFunc
	done   chan struct{} // closed once the supervisor returned
}

// startSourceLocked runs s under its own supervisor, a child of the sources' context.
// The caller holds reloadMu, and d.srcCtx is set.
func (d *Daemon) startSourceLocked(s source) {
	ctx, cancel := context.WithCancel(d.srcCtx)
	rs := &runningSource{source: s, cancel: cancel, done: make(chan struct{})}
	d.running[s.name] = rs
	d.srcWG.Add(1)
	go func() { // returns when ctx ends: a reload stops the source, or Run stops them all
		defer d.srcWG.Done()
		defer close(rs.done)
		_ = d.superviseSource(ctx, s)
	}()
}

// stopSourceLocked stops the source name and waits until its Run returned: from
// then on it acknowledges nothing upstream. It returns the stopped source (nil when
// none ran), which can run again. An in-process source stays attached to the
// embedded broker, not running: its publishers wait or are disconnected until the
// caller detaches it (apply, once its successor is attached).
func (d *Daemon) stopSourceLocked(name string) *runningSource {
	rs := d.running[name]
	if rs == nil {
		return nil
	}
	rs.cancel()
	<-rs.done
	delete(d.running, name)
	return rs
}

// reloadOK reports an applied reload: its log line, the config conditions, the
// metrics and the bus event.
func (d *Daemon) reloadOK(df configDiff) {
	summary := df.summary()
	d.health.Set("config", reloadedCondition, true, health.Degraded, "")
	if len(df.Restart) > 0 {
		d.health.Set("config", restartCondition, false, health.Degraded,
			"changed in the file, applied only after a restart: "+strings.Join(df.Restart, ", "))
		d.log.Warn("configuration changes wait for a restart (systemctl restart edgerelay)",
			"file", d.live.File, "keys", strings.Join(df.Restart, ", "))
	} else {
		d.health.Set("config", restartCondition, true, health.Degraded, "")
	}
	d.m.ConfigReloads(events.ReloadOK).Inc()
	d.m.ConfigReloaded(true, float64(d.now().UnixNano())/1e9)
	d.bus.Publish(events.Event{Kind: events.ConfigReloaded, To: events.ReloadOK, Reason: summary})
	d.log.Info("reloaded: "+summary, "file", d.live.File)
}

// reloadFailed reports a refused reload. The error names the file, the line and
// key, and the problem (config.Error); it is redacted before it leaves the log.
func (d *Daemon) reloadFailed(err error) {
	text := secret.Excerpt(err.Error(), 1024)
	d.health.Set("config", reloadedCondition, false, health.Degraded,
		"reload refused, the previous configuration keeps running: "+text)
	d.m.ConfigReloads(events.ReloadFailed).Inc()
	d.m.ConfigReloaded(false, 0)
	d.bus.Publish(events.Event{Kind: events.ConfigReloaded, To: events.ReloadFailed, Reason: text})
	d.log.Error("configuration reload refused; the previous configuration keeps running", "file", d.live.File, "err", err)
}

// summary says what a reload did, for its log line and event:
// "sinks hook (changed), console (added); sources unchanged; routes unchanged".
func (df configDiff) summary() string {
	parts := []string{df.Sinks.describe("sinks"), df.Sources.describe("sources")}
	if df.Routes {
		parts = append(parts, "routes changed")
	} else {
		parts = append(parts, "routes unchanged")
	}
	if df.LogLevel != "" {
		parts = append(parts, "log.level "+df.LogLevel)
	}
	if len(df.Restart) > 0 {
		parts = append(parts, "needs a restart: "+strings.Join(df.Restart, ", "))
	}
	return strings.Join(parts, "; ")
}

func (a adapterDiff) describe(what string) string {
	if !a.touched() {
		return what + " unchanged"
	}
	var items []string
	for _, n := range a.Changed {
		items = append(items, n+" (changed)")
	}
	for _, n := range a.Added {
		items = append(items, n+" (added)")
	}
	for _, n := range a.Removed {
		items = append(items, n+" (removed)")
	}
	return what + " " + strings.Join(items, ", ")
}
