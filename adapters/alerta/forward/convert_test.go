package forward

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta"
)

// TestConverted: events that are not the federation's go through the generic
// mapping: an ilert ALERT is posted, its ACCEPT is an ack on the same alert id (with
// the alert resent on 404), a heartbeat kind is posted to /heartbeat, a policy
// update is delivered without a request, and the filter applies to what they
// became. The convert: options reach the mapping.
func TestConverted(t *testing.T) {
	p := newPeer(t)
	cfg := Config{URL: p.URL(), Forward: []string{"alerts", "ack", "heartbeats"}}
	cfg.Convert.Environment = "Development"
	s := newSink(t, cfg, testDeps())
	ilert := func(typ string) *adapters.Event {
		return &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindAlert, Source: "ilert-in", Key: "pump-7",
			Payload: []byte(`{"eventType": "` + typ + `", "summary": "pump 7 down", "alertKey": "pump-7", "priority": "HIGH"}`)}
	}
	require.NoError(t, s.Send(t.Context(), ilert("ALERT")))
	p.on("PUT ", answer{code: 404})
	require.NoError(t, s.Send(t.Context(), ilert("ACCEPT")))
	require.NoError(t, s.Send(t.Context(), &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindHeartbeat, Source: "gw"}))
	require.NoError(t, s.Send(t.Context(), &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindPolicy, Source: "x", Payload: []byte(`{}`)}))
	got := p.received(true)
	id := alerta.NameUUID("ilert\x00pump-7")
	require.Equal(t, []string{"POST /alert", "PUT /alert/" + id + "/action", "POST /alert", "PUT /alert/" + id + "/action", "POST /heartbeat"}, lines(got))
	var a struct{ ID, Environment, Severity string }
	require.NoError(t, json.Unmarshal(got[0].Body, &a))
	require.Equal(t, id, a.ID)
	require.Equal(t, "Development", a.Environment)
	require.Equal(t, "major", a.Severity)
	require.Equal(t, "http://gw-test:8977", got[0].Header.Get("X-Alerta-Loop"), "a converted event carries the origin")

	// Without "alerts" in the filter a converted alert is not sent.
	q := newPeer(t)
	s = newSink(t, Config{URL: q.URL(), Forward: []string{"actions"}}, testDeps())
	require.NoError(t, s.Send(t.Context(), ilert("ALERT")))
	require.Empty(t, q.received(false))
}
