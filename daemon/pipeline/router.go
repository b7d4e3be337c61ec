package pipeline

import (
	"encoding/json"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/topic"
)

// Route sends events from some sources, on some topics, to some sinks.
type Route struct {
	// Name identifies the route in logs and dead-letter reasons.
	Name string
	// From lists source names; empty means every source.
	From []string
	// Topics lists MQTT-style topic filters (+ and #); empty means every topic.
	Topics []string
	// Kinds lists event kinds; empty means every kind.
	Kinds []string
	// To lists sink names. At least one.
	To []string
	// RequireJSON rejects events whose payload is not valid JSON for this route.
	RequireJSON bool
	// Transform, when set, converts each matching event before it is stored for To;
	// see adapters.Transform.
	Transform adapters.Transform
}

// Router decides which sinks get an event. It is immutable after New and safe for
// concurrent use.
type Router struct {
	routes []Route
}

// NewRouter returns a router over routes, evaluated in order.
func NewRouter(routes []Route) *Router { return &Router{routes: routes} }

// Decision is the outcome of routing one event.
type Decision struct {
	// Sinks are the destinations, each once, in first-match order.
	Sinks []string
	// Events holds, parallel to Sinks, the event each sink gets: the published event,
	// or what the matching route's transform made of it.
	Events []*adapters.Event
	// Invalid names the routes that matched but rejected the payload (not JSON).
	Invalid []string
	// Failed lists the routes whose transform could not convert the event.
	Failed []RouteError
	// Skipped lists the routes whose transform skipped the event on purpose.
	Skipped []RouteError
}

// RouteError is a route's transform refusing or skipping an event.
type RouteError struct {
	Route string
	Err   error
}

// Route returns the sinks e goes to.
func (r *Router) Route(e *adapters.Event) Decision { return r.RouteInto(e, nil, nil) }

// RouteInto is Route appending the decision's Sinks and Events to sinks and events
// (both empty, with room the caller owns, such as arrays on its stack), so that
// routing an event to a sink or two allocates nothing.
func (r *Router) RouteInto(e *adapters.Event, sinks []string, events []*adapters.Event) Decision {
	d := Decision{Sinks: sinks[:0], Events: events[:0]}
	jsonChecked, isJSON := false, false
	for i := range r.routes {
		rt := &r.routes[i]
		if !rt.matches(e) {
			continue
		}
		if rt.RequireJSON {
			if !jsonChecked {
				isJSON, jsonChecked = json.Valid(e.Payload), true
			}
			if !isJSON {
				d.Invalid = append(d.Invalid, rt.Name)
				continue
			}
		}
		ev := e
		if rt.Transform != nil {
			out, err := rt.Transform.Transform(e)
			switch {
			case adapters.IsSkip(err):
				d.Skipped = append(d.Skipped, RouteError{rt.Name, err})
				continue
			case err != nil:
				d.Failed = append(d.Failed, RouteError{rt.Name, err})
				continue
			case out == nil:
				d.Skipped = append(d.Skipped, RouteError{rt.Name, adapters.Skip("transform returned no event")})
				continue
			}
			ev = out
		}
		for _, s := range rt.To {
			if !contains(d.Sinks, s) {
				d.Sinks = append(d.Sinks, s)
				d.Events = append(d.Events, ev)
			}
		}
	}
	return d
}

func (rt *Route) matches(e *adapters.Event) bool {
	if len(rt.From) > 0 && !contains(rt.From, e.Source) {
		return false
	}
	if len(rt.Kinds) > 0 && !contains(rt.Kinds, e.Kind) {
		return false
	}
	if len(rt.Topics) == 0 {
		return true
	}
	for _, f := range rt.Topics {
		if topic.Match(f, e.Topic) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
