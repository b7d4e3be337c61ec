package alertatest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/alerta/forward"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// TestForwardSink drives the alerta sink against the fake, signed with Hawk: an
// alert, an action, a loop skip, a re-created target (404, the alert re-sent, the
// action again), a delete and an outage.
func TestForwardSink(t *testing.T) {
	cred := hawk.Credentials{ID: "58e7c66f-b990-4610-9496-60eb3c63339b", Key: "sink-secret"}
	srv := NewServer(t, Options{Prefix: "/api", AuthRequired: true, Hawk: []hawk.Credentials{cred}})
	sink, err := forward.New(forward.Config{URL: srv.BaseURL(), Forward: []string{"*"}, Origin: "http://gw-test:8977",
		Hawk: forward.HawkConfig{ID: cred.ID, Key: secret.Value(cred.Key)}, Timeout: 5 * time.Second},
		adapters.Deps{Name: "hq", Log: slog.New(slog.DiscardHandler), Now: time.Now, Version: "test"})
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, sink.Connect(ctx))
	t.Cleanup(func() { _ = sink.Close(context.Background()) })

	const id = "b528c6f7-0925-4f6d-b930-fa6c0bba51dc"
	a := &alerta.Alert{ID: id, Resource: "web01", Event: "HttpError", Environment: "Production", Severity: "major",
		Correlate: []string{}, Service: []string{"Web"}, Group: "Misc", Tags: []string{}, Attributes: []byte("{}"),
		Origin: "probe/1", Type: "exceptionAlert", CreateTime: time.Now(), Timeout: 86400}
	body := a.Encode()
	ev := func(op string, payload []byte, loop string) *adapters.Event {
		return &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindAlert, Key: id, Source: "federation", Payload: payload,
			Attrs: map[string]string{alerta.AttrOp: op, alerta.AttrID: id, alerta.AttrLoop: loop, alerta.AttrResend: string(body)}}
	}
	ack := (&alerta.Action{Action: "ack", Text: "ack operator action"}).Encode()

	require.NoError(t, sink.Send(ctx, ev(alerta.OpAlert, body, "http://gw-test:8977")))
	st, ok := srv.Alert(id)
	require.True(t, ok)
	require.Equal(t, "open", st.Status)
	require.NoError(t, sink.Send(ctx, ev(alerta.OpAction, ack, "http://gw-test:8977")))
	st, _ = srv.Alert(id)
	require.Equal(t, "ack", st.Status)
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "http://gw-test:8977", reqs[0].Header.Get(alerta.HeaderLoop))
	require.Equal(t, 201, reqs[0].Status)
	require.Equal(t, 200, reqs[1].Status)

	// The fake is already in the loop: the sink does not send.
	require.NoError(t, sink.Send(ctx, ev(alerta.OpAlert, body, srv.BaseURL()+",http://gw-test:8977")))
	require.Len(t, srv.Requests(), 2)

	// A re-created target: the action's 404 makes the sink re-send the alert first.
	srv.Reset()
	require.NoError(t, sink.Send(ctx, ev(alerta.OpAction, ack, "")))
	st, ok = srv.Alert(id)
	require.True(t, ok)
	require.Equal(t, "ack", st.Status)
	reqs = srv.Requests()[2:]
	require.Len(t, reqs, 3)
	for i, want := range []struct {
		method string
		status int
	}{{"PUT", 404}, {"POST", 201}, {"PUT", 200}} {
		require.Equal(t, want.method, reqs[i].Method)
		require.Equal(t, want.status, reqs[i].Status)
	}

	// A Hawk-signed delete, which Alerta's own forwarder cannot send (§2.3).
	require.NoError(t, sink.Send(ctx, ev(alerta.OpDelete, nil, "")))
	_, ok = srv.Alert(id)
	require.False(t, ok)

	// An outage is an error worth retrying; back up, the event goes through.
	require.NoError(t, srv.SetDown(true))
	err = sink.Send(ctx, ev(alerta.OpAlert, body, ""))
	require.Error(t, err)
	require.False(t, adapters.IsPermanent(err))
	require.NotContains(t, err.Error(), cred.Key)
	require.NoError(t, srv.SetDown(false))
	require.NoError(t, sink.Send(ctx, ev(alerta.OpAlert, body, "")))
	_, ok = srv.Alert(id)
	require.True(t, ok)
}
