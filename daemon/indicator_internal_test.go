package daemon

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/hw"
	"github.com/edgerelay/edgerelay/store"
)

func TestIndicatorFacts(t *testing.T) {
	failing := func(comp, name string, sev health.Severity) health.Condition {
		return health.Condition{Component: comp, Name: name, Severity: sev}
	}
	okCond := health.Condition{Component: "sink:hook", Name: "connected", OK: true}
	cases := []struct {
		name  string
		conds []health.Condition
		node  string
		space store.Space
		want  hw.Pattern
	}{
		{"healthy", []health.Condition{okCond}, events.NodeOK, store.Space{}, hw.Heartbeat},
		{"draining is not degraded", []health.Condition{failing("sink:hook", "draining", health.Degraded)}, events.NodeDegraded, store.Space{}, hw.Draining},
		{"sink retrying", []health.Condition{failing("sink:hook", "delivering", health.Degraded), failing("sink:hook", "draining", health.Degraded)}, events.NodeDegraded, store.Space{}, hw.Degraded},
		{"source not subscribed", []health.Condition{failing("source:plant", "subscribed", health.Critical)}, events.NodeNotReady, store.Space{}, hw.Degraded},
		{"store quarantined", []health.Condition{failing("store", "quarantined", health.Degraded)}, events.NodeDegraded, store.Space{}, hw.StorageFault},
		{"store not writable", []health.Condition{failing("store", "writable", health.Critical)}, events.NodeNotReady, store.Space{}, hw.StorageFault},
		{"store at max_bytes", []health.Condition{failing("store", "space", health.Critical)}, events.NodeNotReady, store.Space{Live: 100, Max: 100, Full: true}, hw.StorageFault},
		{"store full flag alone", nil, events.NodeOK, store.Space{Live: 95, Max: 100, Full: true}, hw.StorageFault},
		{"near full", []health.Condition{failing("sink:hook", "delivering", health.Degraded)}, events.NodeDegraded, store.Space{Live: 80, Max: 100}, hw.NearFull},
		{"under near full", nil, events.NodeOK, store.Space{Live: 79, Max: 100}, hw.Heartbeat},
		{"unbounded store", nil, events.NodeOK, store.Space{Live: 1 << 40}, hw.Heartbeat},
		{"stranded events only degrade", []health.Condition{failing("store", "stranded", health.Degraded)}, events.NodeDegraded, store.Space{}, hw.Degraded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, hw.Choose(indicatorFacts(tc.conds, tc.node, tc.space)))
		})
	}
}
