package daemon

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
)

func TestStatusLine(t *testing.T) {
	rc := func(comp, cond, to, reason string) events.Event {
		return events.Event{Kind: events.ReadinessChanged, Component: comp, Condition: cond, To: to, Reason: reason}
	}
	const ok, deg, crit = events.StateOK, events.StateDegraded, events.StateCritical
	tests := []struct {
		name   string
		events []events.Event
		want   string
	}{
		{name: "all well", want: "3 queued, 1 dead; hook ok, console ok"},
		{
			name: "a sink down, one retrying, then recovered",
			events: []events.Event{
				rc("sink:hook", "connected", deg, "not connected: refused"),
				rc("sink:console", "delivering", deg, "retrying: EPIPE"),
				rc("sink:console", "delivering", ok, ""),
				rc("sink:console", "delivering", deg, "retrying: EPIPE"),
			},
			want: "3 queued, 1 dead; hook down, console retrying",
		},
		{
			name: "a sink draining its backlog",
			events: []events.Event{
				rc("sink:hook", "draining", deg, "draining backlog: 4000 left at 100.0 events/s, about 40s to empty"),
			},
			want: "3 queued, 1 dead; hook draining, console ok",
		},
		{
			name: "a flap ends where it started",
			events: []events.Event{
				rc("sink:hook", "delivering", deg, "retrying: 503"),
				rc("sink:hook", "delivering", ok, ""),
			},
			want: "3 queued, 1 dead; hook ok, console ok",
		},
		{
			name: "store troubles and other components, critical first, reasons cut",
			events: []events.Event{
				rc("store", "writable", crit, "no space left on device"),
				{Kind: events.StoreQuarantined, Path: "/var/lib/edgerelay/quarantine/queue.db.1.corrupt", Reason: "bad magic"},
				rc("store", "quarantined", deg, "corrupt store moved"),
				rc("edge:ilert", "active", deg, "standby"),
				rc("source:plant", "subscriptions_ready", crit, "not connected"),
				rc("source:plant", "connected", crit, "dial tcp 10.0.0.1:1883: i/o timeout after a very long wait that goes on and on and on"),
				rc("source:plant", "tls", deg, "files changed"),
				rc("broker", "listening", deg, ""),
				rc("source:gone", "connected", "", "removed"),
			},
			want: "3 queued, 1 dead; hook ok, console ok, STORE FAILING, store was corrupt (moved to queue.db.1.corrupt), " +
				"source:plant down (dial tcp 10.0.0.1:1883: i/o timeout after a very long wait that goes on and on a…), " +
				"broker degraded, edge:ilert degraded (standby)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newStatusView()
			for _, e := range tc.events {
				v.apply(e)
			}
			require.Equal(t, tc.want, v.line(3, 1, []string{"hook", "console"}))
		})
	}
}

// TestStatusCatchUp: the view follows the bus, and after its subscriber dropped events
// it is rebuilt from the tracker.
func TestStatusCatchUp(t *testing.T) {
	bus := events.New(nil)
	sub := bus.Subscribe("status", 2, events.ReadinessChanged)
	defer sub.Close()
	tr := health.New(nil)
	tr.SetBus(bus)
	v := newStatusView()

	tr.Set("sink:hook", "delivering", false, health.Degraded, "retrying: 503")
	v.catchUp(sub, tr, "")
	require.Equal(t, "0 queued, 0 dead; hook retrying", v.line(0, 0, []string{"hook"}))

	// Five transitions into a buffer of two: three are lost, the view still ends right.
	tr.Set("sink:hook", "delivering", true, health.Degraded, "")
	tr.Set("sink:hook", "connected", false, health.Degraded, "refused")
	tr.Set("store", "writable", false, health.Critical, "disk full")
	tr.Set("store", "writable", true, health.Critical, "")
	tr.Set("source:plant", "connected", false, health.Critical, "refused")
	require.Equal(t, uint64(3), sub.Dropped())
	v.catchUp(sub, tr, "/q/queue.db.2.corrupt")
	require.Equal(t, "0 queued, 0 dead; hook down, store was corrupt (moved to queue.db.2.corrupt), source:plant down (refused)",
		v.line(0, 0, []string{"hook"}))
	require.Equal(t, uint64(3), v.dropped)
}
