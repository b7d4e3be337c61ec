package alerta

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFilter(t *testing.T) {
	type want struct{ alerts, ack, createIssue, expired, timeout, del, heartbeats bool }
	for _, tc := range []struct {
		name string
		f    Filter
		want want
	}{
		{"star", Filter{"*"}, want{true, true, true, true, true, true, true}},
		{"alerts does not imply actions", Filter{"alerts"}, want{alerts: true}},
		{"actions covers custom and system", Filter{"actions"}, want{ack: true, createIssue: true, expired: true, timeout: true}},
		// §1.3 verified: ['alerts','ack','delete'] got the alert and the ack, not createIssue.
		{"alerts ack delete", Filter{"alerts", "ack", "delete"}, want{alerts: true, ack: true, del: true}},
		{"custom by name", Filter{"createIssue"}, want{createIssue: true}},
		{"delete", Filter{"delete"}, want{del: true}},
		{"heartbeats", Filter{"heartbeats"}, want{heartbeats: true}},
		{"case-sensitive", Filter{"Alerts", "ACTIONS", "Delete", "ACK"}, want{}},
		{"unknown ignored", Filter{"bogus"}, want{}},
		{"empty", nil, want{}},
		// §7.1's destinations.
		{"T 9000", Filter{"alerts", "actions"}, want{alerts: true, ack: true, createIssue: true, expired: true, timeout: true}},
		{"T 9001", Filter{"actions"}, want{ack: true, createIssue: true, expired: true, timeout: true}},
		{"T 9002", Filter{"delete"}, want{del: true}},
		{"T 9003", Filter{"*"}, want{true, true, true, true, true, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := want{tc.f.Alerts(), tc.f.Action("ack"), tc.f.Action("createIssue"), tc.f.Action("expired"),
				tc.f.Action("timeout"), tc.f.Delete(), tc.f.Heartbeats()}
			require.Equal(t, tc.want, got)
		})
	}
}

// TestFilterConformance is §7.1's T1–T3: which destinations, in order, get the
// alert, the ack and the delete.
func TestFilterConformance(t *testing.T) {
	dests := []struct {
		port string
		f    Filter
	}{{"9000", Filter{"alerts", "actions"}}, {"9001", Filter{"actions"}}, {"9002", Filter{"delete"}}, {"9003", Filter{"*"}}}
	var alerts, acks, deletes []string
	for _, d := range dests {
		if d.f.Alerts() {
			alerts = append(alerts, d.port)
		}
		if d.f.Action("ack") {
			acks = append(acks, d.port)
		}
		if d.f.Delete() {
			deletes = append(deletes, d.port)
		}
	}
	require.Equal(t, []string{"9000", "9003"}, alerts)       // T1
	require.Equal(t, []string{"9000", "9001", "9003"}, acks) // T2
	require.Equal(t, []string{"9002", "9003"}, deletes)      // T3
}

func TestFilterUnknown(t *testing.T) {
	f := Filter{"*", "alerts", "actions", "open", "assign", "ack", "unack", "shelve", "unshelve", "close",
		"delete", "expired", "timeout", "heartbeats", "createIssue", "runbook-1"}
	require.Empty(t, f.Unknown())
	require.Equal(t, []string{"Alerts", "alert", "ACK", "", "alerts,actions", "a b", "all", "x\ny"},
		Filter{"Alerts", "alert", "ACK", "", "alerts,actions", "a b", "all", "x\ny", "ok"}.Unknown())
}
