package daemon

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/edgerelay/edgerelay/adapters"
	contract "github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/lifecycle"
)

// buildLifecycleAdapter builds the configured lifecycle broker's publisher (it
// does not dial); nil when publishing is off.
func (d *Daemon) buildLifecycleAdapter() (contract.Publisher, error) {
	ev := d.cfg.Events
	if !ev.Enabled || ev.Settings == nil {
		return nil, nil
	}
	pub, err := ev.Settings.Build(contract.Deps{Log: d.log.With("component", "events", "adapter", ev.Spec.Name),
		Clock: d.clock, Version: d.opt.Version, Env: config.EventsEnv})
	if err != nil {
		return nil, fmt.Errorf("events (%s): %w", ev.Spec.Name, err)
	}
	return pub, nil
}

// newLifecycle subscribes the lifecycle publisher to the bus, when events are
// enabled. It runs before the store is opened, so that a quarantine at open is among
// what it reports. It never dials.
func (d *Daemon) newLifecycle() error {
	pub, err := d.buildLifecycleAdapter()
	if err != nil || pub == nil {
		return err
	}
	version := d.opt.Version
	d.life = lifecycle.New(lifecycle.Options{
		Config: d.cfg.Events, Publisher: pub, Bus: d.bus, Health: d.health.For("events"),
		Log: d.log.With("component", "events"), Clock: d.clock, Version: version, Limiter: d.lim,
		Adapters: compiledAdapters(),
		OnAnnounced: func() {
			if err := lifecycle.RecordVersion(d.db, d.node.ID, version); err != nil {
				d.log.Warn("could not record the announced version; the next start announces it again", "err", err)
			}
		},
	})
	d.onStop("lifecycle publisher", func() error { d.life.Close(); return nil }) // when Run never ran it
	return nil
}

// initNode reads (on a new store: makes) the node's record, once the store is open,
// hands it to the lifecycle publisher, mounts the AsyncAPI document and its page,
// and with publishing off records this version at once. A store that cannot hold
// the record costs the node id's stability, never the start.
func (d *Daemon) initNode() {
	node, err := lifecycle.LoadNode(d.db, d.now())
	if err != nil {
		d.log.Warn("the node id could not be recorded; lifecycle events name this start's own", "err", err)
		if node.ID == "" {
			node = lifecycle.Node{ID: lifecycle.NewID(d.now()), Registered: true}
		}
	}
	d.node = node
	d.web.Handle("GET /api/asyncapi", http.HandlerFunc(serveAsyncAPI))
	d.web.Handle("GET /asyncdoc", http.HandlerFunc(serveAsyncDoc))
	if d.life == nil {
		if node.Previous != d.opt.Version && err == nil {
			if err := lifecycle.RecordVersion(d.db, node.ID, d.opt.Version); err != nil {
				d.log.Warn("could not record this version", "err", err)
			}
		}
		return
	}
	d.life.SetNode(node)
	d.web.OnScrape(func() {
		st := d.life.Stats()
		d.m.LifecycleStats(st.Published, st.Failed, st.Dropped, st.Buffered, st.Connected)
	})
	d.m.LifecycleStats(map[string]uint64{}, 0, 0, 0, false)
}

// compiledAdapters returns the adapter types (sources, sinks, transforms) built into
// this binary, sorted, each once.
func compiledAdapters() []string {
	var out []string
	for _, f := range adapters.Registered() {
		out = append(out, f.Type)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func serveAsyncAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(lifecycle.AsyncAPI())
}

func serveAsyncDoc(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, _ = w.Write(lifecycle.AsyncDoc())
}
