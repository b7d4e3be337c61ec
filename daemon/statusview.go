package daemon

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
)

// statusReason bounds a condition's detail in the STATUS line.
const statusReason = 80

// statusView is what the systemd STATUS line shows, kept from the event bus: every
// failing condition with its state and reason, and where a quarantined store went.
// Only the status loop uses it.
type statusView struct {
	failing     map[condKey]condState
	quarantined string
	reloaded    string // when the configuration was last reloaded, once it was
	dropped     uint64 // the subscription's drop count when the view was last complete
}

type condKey struct{ component, condition string }

type condState struct{ state, reason string }

func newStatusView() statusView { return statusView{failing: map[condKey]condState{}} }

// apply records one event.
func (v *statusView) apply(e events.Event) {
	switch e.Kind {
	case events.ReadinessChanged:
		k := condKey{e.Component, e.Condition}
		if e.To == events.StateOK || e.To == "" {
			delete(v.failing, k)
		} else {
			v.failing[k] = condState{e.To, e.Reason}
		}
	case events.StoreQuarantined:
		v.quarantined = e.Path
	case events.ConfigReloaded:
		if e.To == events.ReloadOK {
			v.reloaded = e.Time.UTC().Format("15:04:05Z")
		}
	}
}

// catchUp applies what sub has buffered. When sub dropped events since the last call
// the view is rebuilt from the tracker and moved (where the store was quarantined, or
// "") instead: after the buffer is drained, so that any event still arriving is newer
// than the snapshot or already in it, and applying it again gives the same state.
func (v *statusView) catchUp(sub *events.Subscription, t *health.Tracker, moved string) {
	for len(sub.C()) > 0 {
		v.apply(<-sub.C())
	}
	n := sub.Dropped()
	if n == v.dropped {
		return
	}
	v.dropped = n
	for len(sub.C()) > 0 {
		<-sub.C()
	}
	clear(v.failing)
	for _, c := range t.Snapshot() {
		if !c.OK {
			v.failing[condKey{c.Component, c.Name}] = condState{c.Severity.String(), c.Detail}
		}
	}
	v.quarantined = moved
}

// line renders "12 queued, 0 dead; hook retrying, console ok", then the store's
// troubles and every other failing component with its first reason, critical ones
// ("down") before degraded ones.
func (v *statusView) line(queued int64, dead int, sinks []string) string {
	parts := make([]string, 0, len(sinks)+2)
	for _, s := range sinks {
		comp := "sink:" + s
		switch {
		case v.isFailing(comp, "connected"):
			parts = append(parts, s+" down")
		case v.isFailing(comp, "delivering"):
			parts = append(parts, s+" retrying")
		case v.isFailing(comp, "draining"): // its backlog shrinks (backlog.go)
			parts = append(parts, s+" draining")
		default:
			parts = append(parts, s+" ok")
		}
	}
	if v.isFailing("store", "writable") {
		parts = append(parts, "STORE FAILING")
	}
	if v.quarantined != "" {
		parts = append(parts, "store was corrupt (moved to "+filepath.Base(v.quarantined)+")")
	}
	// Every other component with a failing condition: critical ones first, each with
	// the reason of its first (by name) condition of its worst state.
	keys := make([]condKey, 0, len(v.failing))
	for k := range v.failing {
		if strings.HasPrefix(k.component, "sink:") || k.component == "store" && (k.condition == "writable" || k.condition == "quarantined") {
			continue // shown above
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ci, cj := v.failing[keys[i]].state == events.StateCritical, v.failing[keys[j]].state == events.StateCritical
		if ci != cj {
			return ci
		}
		if keys[i].component != keys[j].component {
			return keys[i].component < keys[j].component
		}
		return keys[i].condition < keys[j].condition
	})
	shown := map[string]bool{}
	for _, k := range keys {
		if shown[k.component] {
			continue
		}
		shown[k.component] = true
		c := v.failing[k]
		p := k.component + " degraded"
		if c.state == events.StateCritical {
			p = k.component + " down"
		}
		if c.reason != "" {
			p += " (" + cut(c.reason, statusReason) + ")"
		}
		parts = append(parts, p)
	}
	if v.reloaded != "" { // a refused reload shows as the config component above
		parts = append(parts, "config reloaded "+v.reloaded)
	}
	return fmt.Sprintf("%d queued, %d dead; %s", queued, dead, strings.Join(parts, ", "))
}

func (v *statusView) isFailing(component, condition string) bool {
	_, ok := v.failing[condKey{component, condition}]
	return ok
}

// cut shortens s to at most n bytes at a character boundary, marking the cut.
// Known secrets are redacted first.
func cut(s string, n int) string {
	if s = secret.Redact(s); len(s) <= n {
		return s
	}
	return secret.Cut(s, n) + "…"
}
