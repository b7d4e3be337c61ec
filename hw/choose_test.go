package hw

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/daemon/events"
)

func TestChoose(t *testing.T) {
	cases := []struct {
		name string
		f    Facts
		want Pattern
	}{
		{"not running", Facts{}, Off},
		{"not running, faults ignored", Facts{StoreFault: true, Node: events.NodeNotReady}, Off},
		{"config invalid before start", Facts{ConfigInvalid: true}, ConfigInvalid},
		{"config invalid wins", Facts{Running: true, ConfigInvalid: true, StoreFault: true}, ConfigInvalid},
		{"healthy", Facts{Running: true, Node: events.NodeOK}, Heartbeat},
		{"healthy, node unknown yet", Facts{Running: true}, Heartbeat},
		{"draining", Facts{Running: true, Node: events.NodeOK, Backlog: true}, Draining},
		{"sink retrying", Facts{Running: true, Node: events.NodeDegraded}, Degraded},
		{"retrying while draining", Facts{Running: true, Node: events.NodeDegraded, Backlog: true}, Degraded},
		{"source not subscribed", Facts{Running: true, Node: events.NodeNotReady}, Degraded},
		{"near full", Facts{Running: true, Node: events.NodeDegraded, Backlog: true, NearFull: true}, NearFull},
		{"store quarantined", Facts{Running: true, Node: events.NodeDegraded, StoreFault: true}, StorageFault},
		{"store full over near full", Facts{Running: true, Node: events.NodeNotReady, StoreFault: true, NearFull: true}, StorageFault},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Choose(tc.f))
		})
	}
}
