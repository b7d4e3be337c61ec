package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/VictoriaMetrics/metrics"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	contract "github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/topic"
	"github.com/edgerelay/edgerelay/daemon/broker"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/lifecycle"
	"github.com/edgerelay/edgerelay/daemon/sdnotify"
	"github.com/edgerelay/edgerelay/daemon/state"
	"github.com/edgerelay/edgerelay/daemon/web"
)

// Check finds every problem of cfg that New would refuse it for, short of the
// machine's state (a port another program holds, an unwritable store): it builds
// every sink, route transform and source, with their HTTP routes and listeners, on a
// server that binds nothing; checks the listen addresses against each other
// (http.listen, broker.listen and the sources' own listeners); and closes what it
// built. It opens no store, binds no port and starts nothing.
//
// New runs Check first, and `edgerelay config check` runs it after loading, so both
// refuse a configuration with the same message: a *config.Error whose problems
// each start with the line of the section at fault.
func Check(cfg *config.Config) error { return check(cfg, clock.Real) }

// newDry returns a daemon that builds adapters as New does but opens no store,
// binds nothing and starts nothing: for Check and DryRun. Call closeAll when done.
func newDry(cfg *config.Config, clk clock.Clock) *Daemon {
	log := slog.New(slog.DiscardHandler)
	d := &Daemon{
		cfg: cfg, log: log, now: clk.Now, clock: clk,
		opt:     Options{Config: cfg, Log: log, Clock: clk, Now: clk.Now},
		health:  health.New(clk.Now),
		metrics: metrics.NewSet(),
		notify:  sdnotify.New(log),
		dry:     &dryRun{},
	}
	d.m = web.NewMetrics(d.metrics)
	d.wireEvents()
	d.web = web.New(cfg.HTTP, d.health, d.metrics, log) // never bound
	return d
}

// check is Check with the clock handed to the adapters it builds (New's own).
func check(cfg *config.Config, clk clock.Clock) error {
	_, err := checkServing(cfg, clk)
	return err
}

// checkServing is check, also saying which sources serve HTTP (mount routes or take a
// listener of their own): a reload cannot swap those (reload.go).
func checkServing(cfg *config.Config, clk clock.Clock) (serving map[string]bool, _ error) {
	if cfg == nil {
		return nil, fmt.Errorf("daemon: no configuration")
	}
	d := newDry(cfg, clk)
	defer func() { _ = d.closeAll() }() // the sinks built here

	r := d.dry
	r.take(cfg.HTTP.Listen, "http.listen")
	if cfg.Broker.Enabled != broker.EnabledFalse {
		// A clash with http.listen is config's (it has the line); this makes a source's
		// own listener on the broker's address a clash too. With enabled: auto the
		// broker would take that listener for a site broker and not start.
		r.take(cfg.Broker.Listen, "broker.listen")
	}
	var problems []string
	for i, a := range cfg.Sinks {
		if _, err := d.buildSink(a); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: sinks[%d] (%s %q): %v", a.Line, i, a.Type, a.Name, err))
		}
	}
	if pub, err := d.buildLifecycleAdapter(); err != nil {
		if cfg.Events.Line > 0 {
			problems = append(problems, fmt.Sprintf("line %d: %v", cfg.Events.Line, err))
		} else {
			problems = append(problems, fmt.Sprintf("%s%v", config.EnvProblem, err))
		}
	} else if pub != nil {
		_ = pub.Close()
	}
	problems = append(problems, lifecycleLoops(cfg)...)
	for i, rt := range cfg.Routes {
		if _, err := d.route(rt); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: routes[%d] (%s).transform (%s): %v", rt.Line(), i, rt.Name, rt.Transform.Type, err))
		}
	}
	serving = map[string]bool{}
	for i, a := range cfg.Sources {
		r.owner = fmt.Sprintf("sources[%d] (%s %q)", i, a.Type, a.Name)
		src, err := d.buildSource(a)
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %s: %v", a.Line, r.owner, err))
		}
		serving[a.Name] = src.serves
	}
	if len(problems) > 0 {
		return nil, &config.Error{File: cfg.File, Problems: problems}
	}
	return serving, nil
}

// dryState is the Deps.State of a source Check builds: it starts empty (Check opens
// no store) and keeps what is Set in memory.
type dryState struct{ m map[string][]byte }

func (s *dryState) Get(name string) []byte { return append([]byte(nil), s.m[name]...) }

func (s *dryState) Set(name string, value []byte) error {
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[name] = append([]byte(nil), value...)
	return nil
}

func (*dryState) Flush(context.Context) error { return nil }

// dryRun gives the sources Check builds listeners of their own that bind nothing,
// and refuses an address another listener of the daemon already has.
type dryRun struct {
	owner  string           // the source being built, for messages
	addrs  []dryAddress     // the addresses taken so far
	tables *state.Committer // the sources' tables, in memory (made on demand)
}

type dryAddress struct{ host, port, owner string }

// take records addr as owner's; it returns the owner of a listener that would
// collide with it, or "". Port 0 (any free port) never collides; a host that is empty
// or unspecified (every address) collides with every host on its port.
func (r *dryRun) take(addr, owner string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" || port == "" {
		return ""
	}
	every := func(h string) bool { ip := net.ParseIP(h); return h == "" || ip != nil && ip.IsUnspecified() }
	for _, a := range r.addrs {
		if a.port == port && (a.host == host || every(a.host) || every(host)) {
			return a.owner
		}
	}
	r.addrs = append(r.addrs, dryAddress{host, port, owner})
	return ""
}

// listen is Deps.Listen of the source being built.
func (r *dryRun) listen(string) func(adapters.ListenerConfig) (adapters.Mounter, error) {
	return func(lc adapters.ListenerConfig) (adapters.Mounter, error) {
		if lc.Listen == "" {
			return nil, fmt.Errorf("listen: an address is required for a listener of its own")
		}
		if err := adapters.ValidateListen("listen", lc.Listen); err != nil {
			return nil, err
		}
		if other := r.take(lc.Listen, r.owner); other != "" {
			return nil, fmt.Errorf("listen: %s is also the address of %s; give each listener its own port", lc.Listen, other)
		}
		return web.NewMux(), nil
	}
}

// lifecycleLoops refuses an MQTT source that subscribes, on the broker the
// lifecycle events go to, to a topic they are published on: each event it relayed
// (or dead-lettered) would publish another, without end.
func lifecycleLoops(cfg *config.Config) []string {
	t, ok := cfg.Events.Settings.(contract.MQTTTarget)
	if !ok || !cfg.Events.Enabled {
		return nil
	}
	addr := t.MQTTAddress()
	var out []string
	for i, a := range cfg.Sources {
		bs, ok := a.Settings.(adapters.BrokerSubscriber)
		if !ok {
			continue
		}
		sub := bs.BrokerSubscription()
		same := sameEndpoint(sub.URL, addr)
		if sub.URL == "embedded" || sub.URL == "embedded://" {
			same = cfg.Broker.Enabled != broker.EnabledFalse && sameEndpoint("tcp://"+addr, cfg.Broker.Listen)
		}
		if !same {
			continue
		}
		for _, f := range sub.Topics {
			for _, et := range lifecycle.Catalogue {
				if topic.Match(topic.Unshare(f), contract.MQTTTopic(et.Type)) {
					out = append(out, fmt.Sprintf("line %d: sources[%d] (%s %q): subscribes to %q on %s, where the lifecycle events go "+
						"(events.mqtt.url, EVENT_BROKER_MQTT_URL): it would relay the node's own %s back into itself without end; "+
						"narrow its topics or publish the events to another broker", a.Line, i, a.Type, a.Name, f, addr, et.Type))
					break
				}
			}
		}
	}
	return out
}
