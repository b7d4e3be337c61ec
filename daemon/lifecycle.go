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

// newLifecycle records the node (its id and this version) in the store and, when
// events are enabled, subscribes the lifecycle publisher to the bus; Run runs it.
// The AsyncAPI document and its page are served either way.
func (d *Daemon) newLifecycle() error {
	node, err := lifecycle.RecordNode(d.db, d.opt.Version, d.now())
	if err != nil {
		return err
	}
	d.node = node
	d.web.Handle("GET /api/asyncapi", http.HandlerFunc(serveAsyncAPI))
	d.web.Handle("GET /asyncdoc", http.HandlerFunc(serveAsyncDoc))
	pub, err := d.buildLifecycleAdapter()
	if err != nil || pub == nil {
		return err
	}
	d.life = lifecycle.New(lifecycle.Options{
		Config: d.cfg.Events, Publisher: pub, Bus: d.bus, Health: d.health.For("events"),
		Log: d.log.With("component", "events"), Clock: d.clock, Version: d.opt.Version,
		Node: node, Adapters: compiledAdapters(),
	})
	d.web.OnScrape(func() {
		st := d.life.Stats()
		d.m.LifecycleStats(st.Published, st.Failed, st.Dropped, st.Buffered, st.Connected)
	})
	d.m.LifecycleStats(map[string]uint64{}, 0, 0, 0, false)
	return nil
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
