package daemon

import (
	"fmt"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
)

// Sample is an event for DryRun: what a source would hand the daemon.
type Sample struct {
	Payload []byte
	// Source is the source's name; empty means the first configured source.
	Source string
	// Topic, Kind (empty: raw) and Key are the event's.
	Topic, Kind, Key string
	// Route limits the report to the route of that name; empty means every route.
	Route string
}

// DryRun runs s through the configuration's routes, their filters and transforms,
// as the daemon would, and reports for each route whether it takes the event, what
// its transform makes of it, and for each sink the event it would get and, for a sink
// that can show it (adapters.Previewer), the exact request it would send. Nothing is
// sent, opened or bound; credentials appear as "***".
func DryRun(cfg *config.Config, s Sample) (string, error) {
	d := newDry(cfg, clock.Real)
	defer func() { _ = d.closeAll() }()

	if s.Source == "" && len(cfg.Sources) > 0 {
		s.Source = cfg.Sources[0].Name
	}
	if s.Kind == "" {
		s.Kind = adapters.KindRaw
	}
	sinks := map[string]pipeline.Sink{}
	types := map[string]string{}
	for _, a := range cfg.Sinks {
		ps, err := d.buildSink(a)
		if err != nil {
			return "", fmt.Errorf("sink %s: %w", a.Name, err)
		}
		sinks[a.Name], types[a.Name] = ps, a.Type
	}
	e := &adapters.Event{ID: adapters.NewID(), Kind: s.Kind, Key: s.Key, Source: s.Source, Topic: s.Topic,
		Payload: s.Payload, Attrs: map[string]string{}, Received: time.Now()}
	var b strings.Builder
	fmt.Fprintf(&b, "sample: %d bytes, source %q, topic %q, kind %s, key %q\n", len(s.Payload), e.Source, e.Topic, e.Kind, e.Key)
	found := false
	for _, r := range cfg.Routes {
		if s.Route != "" && r.Name != s.Route {
			continue
		}
		found = true
		pr, err := d.route(r)
		if err != nil {
			return "", fmt.Errorf("route %s: %w", r.Name, err)
		}
		dec := pipeline.NewRouter([]pipeline.Route{pr}).Route(e)
		fmt.Fprintf(&b, "\nroute %q: ", r.Name)
		switch {
		case len(dec.Invalid) > 0:
			b.WriteString("matches, but refuses the payload: not JSON (require_json)\n")
			continue
		case len(dec.Failed) > 0:
			fmt.Fprintf(&b, "matches, but its transform (%s) refuses the event: %v (it would be dead-lettered: rejects.invalid)\n", r.Transform.Type, dec.Failed[0].Err)
			continue
		case len(dec.Skipped) > 0:
			fmt.Fprintf(&b, "matches, but its transform (%s) skips the event: %v\n", r.Transform.Type, dec.Skipped[0].Err)
			continue
		case len(dec.Sinks) == 0:
			b.WriteString("does not take the event (from, topics or kinds)\n")
			continue
		}
		b.WriteString("takes the event")
		if r.Transform != nil {
			fmt.Fprintf(&b, "; its transform (%s) makes it kind %s, key %q", r.Transform.Type, dec.Events[0].Kind, dec.Events[0].Key)
		}
		b.WriteString("\n")
		for i, name := range dec.Sinks {
			ev := dec.Events[i]
			fmt.Fprintf(&b, "  to sink %q (%s):\n", name, types[name])
			ps := sinks[name]
			pv, ok := ps.Sink.(adapters.Previewer)
			if !ok {
				fmt.Fprintf(&b, "    the event: kind %s, key %q, topic %q, %d bytes:\n%s\n", ev.Kind, ev.Key, ev.Topic, len(ev.Payload), indent(string(ev.Payload)))
				continue
			}
			req, skip, err := pv.Preview(ev)
			switch {
			case err != nil:
				fmt.Fprintf(&b, "    refused: %v\n", err)
			case skip != "":
				fmt.Fprintf(&b, "    nothing sent: %s\n", skip)
			default:
				b.WriteString(indent(strings.ReplaceAll(string(req), "\r\n", "\n")))
				b.WriteString("\n")
			}
		}
	}
	if s.Route != "" && !found {
		return "", fmt.Errorf("no route named %q", s.Route)
	}
	return b.String(), nil
}

// indent prefixes every line of s with six spaces.
func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "      " + l
	}
	return strings.Join(lines, "\n")
}
