// Package health is edgerelay's single record of what is wrong: one Tracker of named
// conditions that feeds /health and /ready, the systemd STATUS line, the status page and
// the LED pattern.
//
// A condition is identified by a component ("mqtt:plant", "store", "sink:hook",
// "daemon") and a name chosen by whoever reports it ("connected", "open"). Each is either
// OK or failing; a failing condition has a [Severity]: [Degraded] means reported but
// still ready (a sink retrying, a standby edge connector, an open circuit breaker, an
// unreachable lifecycle broker), [Critical] means not ready (a source not subscribed,
// the store failing). The daemon is ready when no Critical condition is failing and it
// is not stopping; its node state ([Tracker.Node]) is "ok", "degraded" or "not_ready".
//
// Adapters see only the [adapters.Health] view returned by [Tracker.For]: its Set
// records a Critical condition, its SetDegraded a Degraded one. A component may also
// carry extra diagnostic fields ([Tracker.SetFields]) that /ready renders next to the
// error, such as the MQTT source's connected and subscriptions_ready flags.
//
// With [Tracker.SetBus], every change of a condition's state (not of its detail alone)
// is published on the event bus as an [events.ReadinessChanged] event, so a subscriber
// that reads late still sees each flap, in order.
package health

import (
	"maps"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/events"
)

// Severity says how much a failing condition matters.
type Severity int

// The severities, in increasing order of gravity.
const (
	// OK is the severity of a condition that is not failing.
	OK Severity = iota
	// Degraded marks a failing condition that is reported (/ready's component list,
	// STATUS, the event bus) but leaves the daemon ready and in service (a sink
	// retrying, a quarantined store, a standby edge connector, an open circuit
	// breaker, an unreachable lifecycle broker).
	Degraded
	// Critical marks a failing condition that makes the daemon not ready (a source not
	// subscribed, the store not open).
	Critical
)

// String returns "ok", "degraded" or "critical" (the events.State* words).
func (s Severity) String() string {
	switch s {
	case OK:
		return events.StateOK
	case Degraded:
		return events.StateDegraded
	case Critical:
		return events.StateCritical
	}
	return "unknown"
}

// MarshalText encodes the severity as its String, so JSON shows "degraded", not 1.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// DaemonComponent is the component under which the tracker records the daemon's own
// conditions, such as shutting down.
const DaemonComponent = "daemon"

// StoppingDetail is the detail of the condition SetStopping records; /ready reports it
// as the error.
const StoppingDetail = "shutting down"

// Condition is one named condition of one component, as returned by Snapshot and Ready.
type Condition struct {
	// Component names the part of the daemon the condition belongs to: "daemon",
	// "store", or an adapter qualified by its direction and instance name
	// ("mqtt:plant", "sink:hook").
	Component string `json:"component"`
	// Name names the condition within the component ("connected", "open").
	Name string `json:"name"`
	// OK is true when the condition holds.
	OK bool `json:"ok"`
	// Severity is OK when OK is true, and Degraded or Critical otherwise.
	Severity Severity `json:"severity"`
	// Detail is a short human-readable explanation, usually the last error. It may be
	// kept when the condition recovers.
	Detail string `json:"detail,omitempty"`
	// Since is when the condition entered its current state (OK and Severity); a
	// change of Detail alone does not move it.
	Since time.Time `json:"since"`
	// Fields are the component's extra diagnostic fields set with SetFields (a copy,
	// shared by every condition of the component), or nil.
	Fields map[string]any `json:"fields,omitempty"`
}

// Failing reports whether the condition does not hold.
func (c Condition) Failing() bool { return !c.OK }

type key struct{ component, name string }

// Tracker records named conditions. It is safe for concurrent use; every method is
// cheap (a mutex and a small map), so adapters may report on every state change.
type Tracker struct {
	now      func() time.Time
	stopping atomic.Bool

	mu     sync.Mutex // guards conds, fields, subs, the counts and bus
	conds  map[key]*Condition
	fields map[string]map[string]any
	subs   map[*subscriber]struct{}
	// failing counts the failing conditions by severity, for the node state.
	failing [Critical + 1]int
	bus     *events.Bus
}

type subscriber struct{ ch chan struct{} }

// New returns an empty tracker (ready, not stopping) that timestamps changes with now.
// A nil now means time.Now.
func New(now func() time.Time) *Tracker {
	if now == nil {
		now = time.Now
	}
	return &Tracker{
		now:    now,
		conds:  map[key]*Condition{},
		fields: map[string]map[string]any{},
		subs:   map[*subscriber]struct{}{},
	}
}

// SetBus makes the tracker publish every change of a condition's state on b as an
// events.ReadinessChanged event. Call it before the tracker is used; nil stops
// publishing.
func (t *Tracker) SetBus(b *events.Bus) {
	t.mu.Lock()
	t.bus = b
	t.mu.Unlock()
}

// Set records the condition name of component. ok=true records it as holding (its
// severity becomes OK); ok=false records it as failing with severity sev, where OK is
// raised to Degraded so that a failing condition never looks healthy. detail explains a
// failure; it is kept as given either way. Subscribers are notified only when something
// changed.
func (t *Tracker) Set(component, name string, ok bool, sev Severity, detail string) {
	switch {
	case ok:
		sev = OK
	case sev < Degraded:
		sev = Degraded
	case sev > Critical:
		sev = Critical
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := key{component, name}
	c, exists := t.conds[k]
	if exists && c.OK == ok && c.Severity == sev && c.Detail == detail {
		return
	}
	from := ""
	if !exists {
		c = &Condition{Component: component, Name: name}
		t.conds[k] = c
	} else {
		from = c.Severity.String()
	}
	moved := !exists || c.OK != ok || c.Severity != sev
	if moved {
		c.Since = t.now()
	}
	nodeFrom := t.nodeLocked()
	if exists {
		t.failing[c.Severity]--
	}
	t.failing[sev]++
	c.OK, c.Severity, c.Detail = ok, sev, detail
	if moved {
		t.publishLocked(component, name, from, sev.String(), detail, nodeFrom)
	}
	t.notifyLocked()
}

// publishLocked publishes a transition. It runs under t.mu on purpose: the bus never
// blocks and its handlers never call back into the tracker (events.Bus.Handle), and
// publishing under the lock keeps the bus's order equal to the order of the changes,
// so that a subscriber replaying the transitions of one condition ends in its real
// state.
func (t *Tracker) publishLocked(component, name, from, to, reason, nodeFrom string) {
	if !t.bus.Wants(events.ReadinessChanged) {
		return
	}
	t.bus.Publish(events.Event{
		Kind: events.ReadinessChanged, Component: component, Condition: name,
		From: from, To: to, Reason: reason, NodeFrom: nodeFrom, NodeTo: t.nodeLocked(),
	})
}

// Node returns the node's state: events.NodeNotReady while a Critical condition fails
// or the daemon is stopping, else events.NodeDegraded while a Degraded one fails, else
// events.NodeOK.
func (t *Tracker) Node() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nodeLocked()
}

func (t *Tracker) nodeLocked() string {
	switch {
	case t.failing[Critical] > 0: // stopping is one too: daemon/running
		return events.NodeNotReady
	case t.failing[Degraded] > 0:
		return events.NodeDegraded
	}
	return events.NodeOK
}

// SetFields replaces the extra diagnostic fields of component, which /ready renders
// next to the component's error (for the MQTT source: connected, subscriptions_ready).
// The map is copied; its values must encode to JSON. A nil or empty map clears them.
// The keys "component", "error" and "components" are reserved and ignored by /ready.
func (t *Tracker) SetFields(component string, fields map[string]any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.fields[component]
	if len(fields) == 0 {
		if old == nil {
			return
		}
		delete(t.fields, component)
		t.notifyLocked()
		return
	}
	if reflect.DeepEqual(old, fields) {
		return
	}
	t.fields[component] = maps.Clone(fields)
	t.notifyLocked()
}

// Remove forgets every condition and field of component, for an adapter that no longer
// exists (a reload removed it).
func (t *Tracker) Remove(component string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := false
	for k, c := range t.conds {
		if k.component == component {
			nodeFrom := t.nodeLocked()
			t.failing[c.Severity]--
			delete(t.conds, k)
			t.publishLocked(k.component, k.name, c.Severity.String(), "", "removed", nodeFrom)
			changed = true
		}
	}
	if _, ok := t.fields[component]; ok {
		delete(t.fields, component)
		changed = true
	}
	if changed {
		t.notifyLocked()
	}
}

// For returns the view of component that is handed to an adapter as Deps.Health. Its
// Set(name, ok, detail) records a Critical condition when ok is false, its
// SetDegraded(name, ok, detail) a Degraded one.
func (t *Tracker) For(component string) adapters.Health {
	return componentView{t: t, component: component}
}

type componentView struct {
	t         *Tracker
	component string
}

func (v componentView) Set(condition string, ok bool, detail string) {
	v.t.Set(v.component, condition, ok, Critical, detail)
}

func (v componentView) SetDegraded(condition string, ok bool, detail string) {
	v.t.Set(v.component, condition, ok, Degraded, detail)
}

// Snapshot returns every condition, sorted by component and then name. The result is
// the caller's: it shares nothing with the tracker except the values inside Fields.
func (t *Tracker) Snapshot() []Condition {
	return t.collect(func(*Condition) bool { return true })
}

// Ready reports whether the daemon is ready (no failing Critical condition) and returns
// the failing Critical conditions, sorted like Snapshot. Once SetStopping was called it
// is never ready.
func (t *Tracker) Ready() (bool, []Condition) {
	failing := t.collect(func(c *Condition) bool { return !c.OK && c.Severity == Critical })
	return len(failing) == 0 && !t.Stopping(), failing
}

func (t *Tracker) collect(keep func(*Condition) bool) []Condition {
	t.mu.Lock()
	out := make([]Condition, 0, len(t.conds))
	for _, c := range t.conds {
		if keep(c) {
			cc := *c
			if f := t.fields[c.Component]; f != nil {
				cc.Fields = maps.Clone(f)
			}
			out = append(out, cc)
		}
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Component != out[j].Component {
			return out[i].Component < out[j].Component
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Subscribe returns a channel that receives a value after the tracker changes, and a
// function that ends the subscription and closes the channel. Notifications are
// coalesced: the channel holds at most one pending value, so a slow reader sees one
// notification for a burst of changes and should read Snapshot afterwards. The cancel
// function may be called more than once.
func (t *Tracker) Subscribe() (<-chan struct{}, func()) {
	s := &subscriber{ch: make(chan struct{}, 1)}
	t.mu.Lock()
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			t.mu.Lock()
			delete(t.subs, s)
			close(s.ch)
			t.mu.Unlock()
		})
	}
}

// notifyLocked wakes every subscriber without blocking. t.mu must be held, which also
// keeps a cancelled subscriber's channel from being closed under a send.
func (t *Tracker) notifyLocked() {
	for s := range t.subs {
		select {
		case s.ch <- struct{}{}:
		default:
		}
	}
}

// SetStopping records that the daemon has begun shutting down: /health turns 503 and
// the daemon is no longer ready (a Critical "daemon"/"running" condition with the detail
// "shutting down"). It cannot be undone.
func (t *Tracker) SetStopping() {
	if t.stopping.Swap(true) {
		return
	}
	t.Set(DaemonComponent, "running", false, Critical, StoppingDetail)
}

// Stopping reports whether SetStopping was called.
func (t *Tracker) Stopping() bool { return t.stopping.Load() }
