package forward

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta/alertatest"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
)

// statuses returns "METHOD path status" of every request the fake answered.
func statuses(f *alertatest.Server) []string {
	var out []string
	for _, r := range f.Requests() {
		out = append(out, r.Method+" "+r.Path+" "+http.StatusText(r.Status))
	}
	return out
}

// TestAgainstFake forwards an alert, an ack and a delete to the Alerta 9.1 fake with
// AUTH_REQUIRED, under each auth method: the fake stores, acks and deletes the alert.
// The Hawk DELETE, which Alerta's own forwarder cannot sign, is accepted.
func TestAgainstFake(t *testing.T) {
	const hawkKey = "MDhjZGMyYTRkY2YyNjk1MTEyMWFlNmM3Y2UxZDU1ZjIK"
	opts := alertatest.Options{
		Prefix: "/api", AuthRequired: true,
		APIKeys: []alertatest.APIKey{{Key: "demo-key-0123456789", Scopes: []string{"write"}}},
		Hawk:    []hawk.Credentials{{ID: kaID, Key: hawkKey}},
		Users:   []alertatest.User{{Username: "fed@example.com", Password: "pa55w0rd-fed", Scopes: []string{"write"}}},
		Tokens:  []alertatest.Token{{Token: "bearer-token-0123456789", Scopes: []string{"write"}}},
	}
	auths := []struct {
		name string
		set  func(*Config)
	}{
		{"basic", func(c *Config) { c.Username, c.Password = "fed@example.com", "pa55w0rd-fed" }},
		{"hawk", func(c *Config) { c.Hawk = HawkConfig{ID: kaID, Key: hawkKey} }},
		{"api_key", func(c *Config) { c.APIKey = "demo-key-0123456789" }},
		{"token", func(c *Config) { c.Token = "bearer-token-0123456789" }},
	}
	for _, a := range auths {
		t.Run(a.name, func(t *testing.T) {
			f := alertatest.NewServer(t, opts)
			cfg := Config{URL: f.BaseURL(), Forward: []string{"*"}}
			a.set(&cfg)
			s := newSink(t, cfg, testDeps())
			require.NoError(t, s.Send(t.Context(), fedAlert("")))
			_, ok := f.Alert(alertID)
			require.True(t, ok, "the alert is stored")
			require.NoError(t, s.Send(t.Context(), fedAction(ackBody, "", true)))
			require.NoError(t, s.Send(t.Context(), fedAction(ackBody, "", true)), "a second ack: 409, delivered")
			require.NoError(t, s.Send(t.Context(), fedDelete("")))
			_, ok = f.Alert(alertID)
			require.False(t, ok, "the alert is deleted")
			require.NoError(t, s.Send(t.Context(), fedDelete("")), "a repeated delete: 404, delivered")
			require.Equal(t, []string{
				"POST /api/alert Created",
				"PUT /api/alert/" + alertID + "/action OK",
				"PUT /api/alert/" + alertID + "/action Conflict",
				"DELETE /api/alert/" + alertID + " OK",
				"DELETE /api/alert/" + alertID + " Not Found",
			}, statuses(f))
		})
	}
}

// TestFakeRecreated: a target that lost its alerts (#1340) answers the action 404;
// the sink posts the alert from alerta.resend, then the action again.
func TestFakeRecreated(t *testing.T) {
	f := alertatest.NewServer(t, alertatest.Options{})
	s := newSink(t, Config{URL: f.BaseURL(), Forward: []string{"*"}}, testDeps())
	require.NoError(t, s.Send(t.Context(), fedAlert("")))
	f.Reset()
	f.ClearRequests()
	require.NoError(t, s.Send(t.Context(), fedAction(ackBody, "", true)))
	require.Equal(t, []string{
		"PUT /alert/" + alertID + "/action Not Found",
		"POST /alert Created",
		"PUT /alert/" + alertID + "/action OK",
	}, statuses(f))
	_, ok := f.Alert(alertID)
	require.True(t, ok)
}

// TestFakeLoops: an event whose loop header names the fake by its BASE_URL, which
// is not the URL the sink uses, passes the sink's skip, and the fake's own check
// answers 202 (alert, action) and 500 "already processed by" (delete): all
// delivered, nothing stored or deleted.
func TestFakeLoops(t *testing.T) {
	// The fake's BASE_URL is not the URL the sink reaches it by (a proxy, a second
	// name): the sink's skip cannot know, the fake's own check catches it.
	f := alertatest.NewServer(t, alertatest.Options{BaseURL: "http://alerta-hq:8080"})
	s := newSink(t, Config{URL: f.URL(), Forward: []string{"*"}}, testDeps())
	require.NoError(t, s.Send(t.Context(), fedAlert("")))
	f.ClearRequests()
	loop := "http://gw-a:1,http://alerta-hq:8080"
	require.NoError(t, s.Send(t.Context(), fedAlert(loop)))
	require.NoError(t, s.Send(t.Context(), fedAction(ackBody, loop, true)))
	require.NoError(t, s.Send(t.Context(), fedDelete(loop)))
	require.Equal(t, []string{
		"POST /alert Accepted",
		"PUT /alert/" + alertID + "/action Accepted",
		"DELETE /alert/" + alertID + " Internal Server Error",
	}, statuses(f))
	_, ok := f.Alert(alertID)
	require.True(t, ok, "the looped delete deleted nothing")

	f.ClearRequests()
	require.NoError(t, s.Send(t.Context(), fedDelete("http://gw-a:1,"+f.URL())))
	require.Empty(t, f.Requests(), "the sink's own skip: no request")
}

// TestFakeBadKey: the fake echoes a wrong API key in its 401, as Alerta does; the
// error is permanent and shows no key.
func TestFakeBadKey(t *testing.T) {
	const wrong = "wrong-key-9f8e7d6c5b4a"
	f := alertatest.NewServer(t, alertatest.Options{AuthRequired: true,
		APIKeys: []alertatest.APIKey{{Key: "right-key-0123456789", Scopes: []string{"write"}}}})
	s := newSink(t, Config{URL: f.BaseURL(), Forward: []string{"*"}, APIKey: wrong}, testDeps())
	err := s.Send(t.Context(), fedAlert(""))
	require.Error(t, err)
	require.True(t, adapters.IsPermanent(err))
	require.Contains(t, err.Error(), "401")
	require.NotContains(t, err.Error(), wrong)
	require.Equal(t, []string{"POST /alert Unauthorized"}, statuses(f))
}

// TestFakeDownOpensCircuit: the fake goes down; the failures open the circuit, the
// probe after open_for finds it back and closes it.
func TestFakeDownOpensCircuit(t *testing.T) {
	f := alertatest.NewServer(t, alertatest.Options{})
	clk := clocktest.NewFake(time.Unix(kaTS, 0))
	d := testDeps()
	d.Clock = clk
	s := newSink(t, Config{URL: f.BaseURL(), Forward: []string{"*"}, Timeout: 2 * time.Second,
		Circuit: CircuitConfig{Failures: 2, OpenFor: time.Minute}}, d)
	require.NoError(t, f.SetDown(true))
	for range 2 {
		err := s.Send(t.Context(), fedAlert(""))
		require.Error(t, err)
		require.False(t, adapters.IsPermanent(err))
	}
	require.ErrorIs(t, s.Send(t.Context(), fedAlert("")), adapters.ErrNotConnected)
	require.NoError(t, f.SetDown(false))
	require.ErrorIs(t, s.Connect(t.Context()), adapters.ErrNotConnected)
	clk.Advance(time.Minute)
	require.NoError(t, s.Connect(t.Context()))
	require.NoError(t, s.Send(t.Context(), fedAlert("")))
	require.Equal(t, "closed", string(s.br.State()))
	require.True(t, strings.HasSuffix(statuses(f)[len(statuses(f))-1], "Created"))
}
