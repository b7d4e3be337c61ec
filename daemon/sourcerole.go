package daemon

import (
	"sync"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
)

// roleFor returns the Deps.Role of the source named name (nil for sinks and
// transforms): each change of role becomes a SourceRoleChanged event, the source's
// degraded "role" condition, which holds only while the role is active, and its
// edgerelay_source_role series.
func (d *Daemon) roleFor(dir adapters.Direction, name string) func(role, reason string) {
	if dir != adapters.DirSource {
		return nil
	}
	var mu sync.Mutex // guards current; held while publishing, so one source's changes stay in order
	current := ""
	component := string(dir) + ":" + name
	return func(role, reason string) {
		mu.Lock()
		defer mu.Unlock()
		if role == current {
			return
		}
		from := current
		current = role
		detail := role
		if reason != "" {
			detail += ": " + events.Cut(reason, events.MaxReason)
		}
		// The condition first: whoever sees the event finds it in the health snapshot.
		d.health.Set(component, "role", role == adapters.RoleActive, health.Degraded, detail)
		if d.m != nil {
			d.m.SourceRole(name, from, role)
		}
		d.bus.Publish(events.Event{Kind: events.SourceRoleChanged, Source: name, From: from, To: role, Reason: reason})
	}
}
