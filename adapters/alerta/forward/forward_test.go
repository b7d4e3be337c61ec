package forward

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
)

// destination is one of Alerta's test_forwarder.py destinations (§7.1) as a sink.
type destination struct {
	p *peer
	s *Sink
}

// fourDestinations builds the §7.1 setup: Basic ['alerts','actions'], Hawk
// ['actions'], API key ['delete'], Bearer ['*'].
func fourDestinations(t *testing.T) []destination {
	sets := []struct {
		forward []string
		auth    func(*Config)
	}{
		{[]string{"alerts", "actions"}, func(c *Config) { c.Username, c.Password, c.Timeout = "user", "pa55w0rd", 10*time.Second }},
		{[]string{"actions"}, func(c *Config) { c.Hawk = HawkConfig{ID: kaID, Key: kaKey} }},
		{[]string{"delete"}, func(c *Config) { c.APIKey = "demo-key" }},
		{[]string{"*"}, func(c *Config) { c.Token = "bearer-token" }},
	}
	var ds []destination
	for _, set := range sets {
		p := newPeer(t)
		cfg := Config{URL: p.URL(), Forward: set.forward, Origin: "http://localhost:8080"}
		set.auth(&cfg)
		ds = append(ds, destination{p: p, s: newSink(t, cfg, testDeps())})
	}
	return ds
}

// sendAll sends e to every destination, in order, as Alerta's forwarder does.
func sendAll(t *testing.T, ds []destination, e *adapters.Event) {
	t.Helper()
	for _, d := range ds {
		require.NoError(t, d.s.Send(t.Context(), e))
	}
}

// calls returns, for each destination, its calls' "METHOD uri", and forgets them.
func calls(ds []destination) [][]string {
	var out [][]string
	for _, d := range ds {
		out = append(out, lines(d.p.received(true)))
	}
	return out
}

// TestFilterMatrix replays T1 to T3 and T5 of §7.1 with four sinks carrying the four
// destinations' filters and auth methods.
func TestFilterMatrix(t *testing.T) {
	post := []string{"POST /alert"}
	put := []string{"PUT /alert/" + alertID + "/action"}
	del := []string{"DELETE /alert/" + alertID}
	tests := []struct {
		name  string
		event *adapters.Event
		want  [][]string
	}{
		{"T1 alert", fedAlert("http://localhost:5000,http://localhost:8080"), [][]string{post, nil, nil, post}},
		{"T2 action", fedAction(ackBody, "http://localhost:8080", false), [][]string{put, put, nil, put}},
		{"T3 delete", fedDelete("http://localhost:8080"), [][]string{nil, nil, del, del}},
		{"custom action only where named or actions/*", fedAction(`{"action": "createIssue", "text": "", "timeout": null}`, "", false),
			[][]string{put, put, nil, put}},
		{"heartbeats only with the word (or *)", fedHeartbeat(""), [][]string{nil, nil, nil, {"POST /heartbeat"}}},
	}
	ds := fourDestinations(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sendAll(t, ds, tc.event)
			require.Equal(t, tc.want, calls(ds))
		})
	}
	t.Run("T5 every destination already in the loop", func(t *testing.T) {
		var urls []string
		for _, d := range ds {
			urls = append(urls, d.p.URL())
		}
		loop := strings.Join(urls, ",")
		for _, e := range []*adapters.Event{fedAlert(loop), fedAction(ackBody, loop, true), fedDelete(loop)} {
			sendAll(t, ds, e)
		}
		require.Equal(t, [][]string{nil, nil, nil, nil}, calls(ds))
	})
	t.Run("an element match with a trailing slash is a loop too", func(t *testing.T) {
		sendAll(t, ds, fedAlert("http://upstream:1,"+ds[0].p.URL()+"/"))
		require.Equal(t, [][]string{nil, nil, nil, post}, calls(ds))
	})
}

// TestLoopHeader: the event's alerta.loop travels as X-Alerta-Loop; an event with
// none (an operator's action, an alert from another source) carries the origin.
func TestLoopHeader(t *testing.T) {
	p := newPeer(t)
	s := newSink(t, Config{URL: p.URL(), Forward: []string{"*"}, Origin: "http://gw-1:8977"}, testDeps())
	require.NoError(t, s.Send(t.Context(), fedAlert("http://a:1,http://gw-1:8977")))
	require.NoError(t, s.Send(t.Context(), fedAction(ackBody, "", false)))
	require.NoError(t, s.Send(t.Context(), &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindRaw, Source: "plant", Topic: "plant/pump/7", Payload: []byte("down")}))
	got := p.received(true)
	require.Len(t, got, 3)
	require.Equal(t, "http://a:1,http://gw-1:8977", got[0].Header.Get("X-Alerta-Loop"))
	require.Equal(t, "http://gw-1:8977", got[1].Header.Get("X-Alerta-Loop"))
	require.Equal(t, "http://gw-1:8977", got[2].Header.Get("X-Alerta-Loop"))
	ids := map[string]bool{}
	for _, c := range got {
		id := c.Header.Get("X-Request-ID")
		require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id)
		ids[id] = true
	}
	require.Len(t, ids, 3, "a fresh X-Request-ID per request")

	// A loop value with line breaks (a hostile peer's X-Alerta-Loop, kept by the
	// receiver) must neither inject a header nor make every retry fail.
	require.NoError(t, s.Send(t.Context(), fedAlert("http://a:1\r\nX-Injected: 1")))
	got = p.received(true)
	require.Len(t, got, 1)
	require.Equal(t, "http://a:1  X-Injected: 1", got[0].Header.Get("X-Alerta-Loop"))
	require.Empty(t, got[0].Header.Get("X-Injected"))
}

// resendDelete ends the name of a TestAnswers case that runs with
// resend_delete_on_404.
const resendDelete = " (resend_delete_on_404)"

// TestAnswers: how each answer settles each op.
func TestAnswers(t *testing.T) {
	type want int
	const (
		delivered want = iota
		permanent
		retryable
	)
	tests := []struct {
		name   string
		event  func() *adapters.Event
		script map[string][]answer
		want   want
		calls  []string
		delay  time.Duration // a RetryAfter hint, when retryable
	}{
		{"alert 201", func() *adapters.Event { return fedAlert("") }, nil, delivered, []string{"POST /alert"}, 0},
		{"alert 202 loop", func() *adapters.Event { return fedAlert("") },
			map[string][]answer{"POST /alert": {{code: 202, body: `{"message": "Alert forwarded by (unknown) already processed by http://x", "status": "ok"}`}}},
			delivered, []string{"POST /alert"}, 0},
		{"alert 400", func() *adapters.Event { return fedAlert("") },
			map[string][]answer{"POST /alert": {{code: 400, body: `{"code": 400, "message": "Missing mandatory value for \"resource\""}`}}},
			permanent, []string{"POST /alert"}, 0},
		{"alert 401", func() *adapters.Event { return fedAlert("") },
			map[string][]answer{"POST /alert": {{code: 401}}}, permanent, []string{"POST /alert"}, 0},
		{"alert 403", func() *adapters.Event { return fedAlert("") },
			map[string][]answer{"POST /alert": {{code: 403}}}, permanent, []string{"POST /alert"}, 0},
		{"alert 429 with Retry-After", func() *adapters.Event { return fedAlert("") },
			map[string][]answer{"POST /alert": {{code: 429, header: http.Header{"Retry-After": {"7"}}}}}, retryable, []string{"POST /alert"}, 7 * time.Second},
		{"alert 503", func() *adapters.Event { return fedAlert("") },
			map[string][]answer{"POST /alert": {{code: 503}}}, retryable, []string{"POST /alert"}, 0},
		{"alert 408", func() *adapters.Event { return fedAlert("") },
			map[string][]answer{"POST /alert": {{code: 408}}}, retryable, []string{"POST /alert"}, 0},
		{"action 409 is delivered", func() *adapters.Event { return fedAction(ackBody, "", true) },
			map[string][]answer{"PUT ": {{code: 409, body: `{"message": "alert is already in ack status"}`}}}, delivered,
			[]string{"PUT /alert/" + alertID + "/action"}, 0},
		{"action 404 resends the alert, then the action", func() *adapters.Event { return fedAction(ackBody, "", true) },
			map[string][]answer{"PUT ": {{code: 404, body: `{"message": "not found"}`}}}, delivered,
			[]string{"PUT /alert/" + alertID + "/action", "POST /alert", "PUT /alert/" + alertID + "/action"}, 0},
		{"action 404, the resend fails: retryable", func() *adapters.Event { return fedAction(ackBody, "", true) },
			map[string][]answer{"PUT ": {{code: 404}}, "POST ": {{code: 503}}}, retryable,
			[]string{"PUT /alert/" + alertID + "/action", "POST /alert"}, 0},
		{"action 404, then 409 after the resend", func() *adapters.Event { return fedAction(ackBody, "", true) },
			map[string][]answer{"PUT ": {{code: 404}, {code: 409}}}, delivered,
			[]string{"PUT /alert/" + alertID + "/action", "POST /alert", "PUT /alert/" + alertID + "/action"}, 0},
		{"action 404 twice: permanent", func() *adapters.Event { return fedAction(ackBody, "", true) },
			map[string][]answer{"PUT ": {{code: 404}, {code: 404}}}, permanent,
			[]string{"PUT /alert/" + alertID + "/action", "POST /alert", "PUT /alert/" + alertID + "/action"}, 0},
		{"action 404 without a resend body: permanent", func() *adapters.Event { return fedAction(ackBody, "", false) },
			map[string][]answer{"PUT ": {{code: 404}}}, permanent, []string{"PUT /alert/" + alertID + "/action"}, 0},
		{"delete 200", func() *adapters.Event { return fedDelete("") }, nil, delivered, []string{"DELETE /alert/" + alertID}, 0},
		{"delete 404 is gone", func() *adapters.Event { return fedDelete("") },
			map[string][]answer{"DELETE ": {{code: 404}}}, delivered, []string{"DELETE /alert/" + alertID}, 0},
		{"delete 404 resends the alert, then the delete" + resendDelete, func() *adapters.Event { return fedDelete("") },
			map[string][]answer{"DELETE ": {{code: 404}}}, delivered,
			[]string{"DELETE /alert/" + alertID, "POST /alert", "DELETE /alert/" + alertID}, 0},
		{"delete 404 twice is gone" + resendDelete, func() *adapters.Event { return fedDelete("") },
			map[string][]answer{"DELETE ": {{code: 404}, {code: 404}}}, delivered,
			[]string{"DELETE /alert/" + alertID, "POST /alert", "DELETE /alert/" + alertID}, 0},
		{"delete 404, the resend fails: retryable" + resendDelete, func() *adapters.Event { return fedDelete("") },
			map[string][]answer{"DELETE ": {{code: 404}}, "POST ": {{code: 503}}}, retryable,
			[]string{"DELETE /alert/" + alertID, "POST /alert"}, 0},
		{"delete 404 without a resend body is gone" + resendDelete, func() *adapters.Event {
			e := fedDelete("")
			delete(e.Attrs, "alerta.resend")
			return e
		}, map[string][]answer{"DELETE ": {{code: 404}}}, delivered, []string{"DELETE /alert/" + alertID}, 0},
		{"delete 500 loop is delivered", func() *adapters.Event { return fedDelete("") },
			map[string][]answer{"DELETE ": {{code: 500, body: `{"code": 500, "errors": null, "message": "Error while running delete plugin 'alerta.plugins.forwarder': Delete forwarded by (unknown) already processed by http://x", "requestId": "r", "status": "error"}`}}},
			delivered, []string{"DELETE /alert/" + alertID}, 0},
		{"delete 500 other is retryable", func() *adapters.Event { return fedDelete("") },
			map[string][]answer{"DELETE ": {{code: 500, body: `{"message": "db down"}`}}}, retryable, []string{"DELETE /alert/" + alertID}, 0},
		{"heartbeat 201", func() *adapters.Event { return fedHeartbeat("") }, nil, delivered, []string{"POST /heartbeat"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t)
			for rule, as := range tc.script {
				p.on(rule, as...)
			}
			cfg := Config{URL: p.URL(), Forward: []string{"*", "heartbeats"}}
			cfg.ResendDeleteOn404 = strings.HasSuffix(tc.name, resendDelete)
			s := newSink(t, cfg, testDeps())
			err := s.Send(t.Context(), tc.event())
			switch tc.want {
			case delivered:
				require.NoError(t, err)
			case permanent:
				require.Error(t, err)
				require.True(t, adapters.IsPermanent(err), "permanent: %v", err)
			case retryable:
				require.Error(t, err)
				require.False(t, adapters.IsPermanent(err), "retryable: %v", err)
				d, ok := adapters.RetryDelay(err)
				require.Equal(t, tc.delay > 0, ok)
				require.Equal(t, tc.delay, d)
			}
			require.Equal(t, tc.calls, lines(p.received(false)))
		})
	}
	t.Run("resend_on_404 false", func(t *testing.T) {
		p := newPeer(t)
		p.on("PUT ", answer{code: 404})
		off := false
		s := newSink(t, Config{URL: p.URL(), Forward: []string{"*"}, ResendOn404: &off}, testDeps())
		err := s.Send(t.Context(), fedAction(ackBody, "", true))
		require.True(t, adapters.IsPermanent(err))
		require.Equal(t, []string{"PUT /alert/" + alertID + "/action"}, lines(p.received(false)))
	})
	t.Run("an actions-only destination gets no alert resend", func(t *testing.T) {
		// §1.3: alerts go to a destination if and only if its filter has * or
		// alerts; the resend is an alert POST, so it must not reach this one.
		p := newPeer(t)
		p.on("PUT ", answer{code: 404})
		s := newSink(t, Config{URL: p.URL(), Forward: []string{"actions"}}, testDeps())
		err := s.Send(t.Context(), fedAction(ackBody, "", true))
		require.True(t, adapters.IsPermanent(err), "the 404 stands: %v", err)
		require.Equal(t, []string{"PUT /alert/" + alertID + "/action"}, lines(p.received(false)))
	})
	t.Run("a bad federation event is permanent, with no request", func(t *testing.T) {
		p := newPeer(t)
		s := newSink(t, Config{URL: p.URL(), Forward: []string{"*"}}, testDeps())
		for _, e := range []*adapters.Event{
			{ID: "1", Attrs: map[string]string{"alerta.op": "bogus"}},
			{ID: "2", Attrs: map[string]string{"alerta.op": "delete"}},
			{ID: "3", Key: "k", Payload: []byte(`{"text": "no action"}`), Attrs: map[string]string{"alerta.op": "action"}},
		} {
			require.True(t, adapters.IsPermanent(s.Send(t.Context(), e)), e.ID)
		}
		require.Empty(t, p.received(false))
	})
}

// TestPathTemplates: paths for a receiver that is not Alerta, under the URL's
// prefix, with the id path-escaped.
func TestPathTemplates(t *testing.T) {
	p := newPeer(t)
	cfg := Config{URL: p.URL() + "/gw/v1", Forward: []string{"*", "heartbeats"}, Paths: Paths{
		Alert: "/alerts", Action: "/alerts/{id}/actions", Delete: "/alerts/{id}?purge=1", Heartbeat: "/beats"}}
	s := newSink(t, cfg, testDeps())
	odd := fedDelete("")
	odd.Attrs["alerta.id"] = "a/b c?d"
	for _, e := range []*adapters.Event{fedAlert(""), fedAction(ackBody, "", false), fedDelete(""), fedHeartbeat(""), odd} {
		require.NoError(t, s.Send(t.Context(), e))
	}
	require.Equal(t, []string{
		"POST /gw/v1/alerts",
		"PUT /gw/v1/alerts/" + alertID + "/actions",
		"DELETE /gw/v1/alerts/" + alertID + "?purge=1",
		"POST /gw/v1/beats",
		"DELETE /gw/v1/alerts/a%2Fb%20c%3Fd?purge=1",
	}, lines(p.received(false)))
}

// TestCircuit drives the breaker with a fake clock: three 503s open it; Send then
// returns ErrNotConnected with the time left and sends nothing, Connect fails until
// open_for has passed, then one probe goes; its failure re-opens, its success
// closes. Every change reaches Deps.Health and Deps.Circuit.
func TestCircuit(t *testing.T) {
	p := newPeer(t)
	clk := clocktest.NewFake(time.Unix(kaTS, 0))
	h := &adaptertest.HealthLog{}
	var mu sync.Mutex
	var states []string
	d := testDeps()
	d.Clock, d.Health = clk, h
	d.Circuit = func(s string) {
		mu.Lock()
		states = append(states, s)
		mu.Unlock()
	}
	s := newSink(t, Config{URL: p.URL(), Forward: []string{"*"}, Circuit: CircuitConfig{Failures: 3, OpenFor: 30 * time.Second}}, d)
	for range 3 {
		p.on("POST ", answer{code: 503})
	}
	for range 3 {
		err := s.Send(t.Context(), fedAlert(""))
		require.Error(t, err)
		require.NotErrorIs(t, err, adapters.ErrNotConnected)
	}
	require.Len(t, p.received(true), 3)

	err := s.Send(t.Context(), fedAlert(""))
	require.ErrorIs(t, err, adapters.ErrNotConnected)
	wait, ok := adapters.RetryDelay(err)
	require.True(t, ok)
	require.Equal(t, 30*time.Second, wait)
	require.Empty(t, p.received(false), "nothing is sent while open")
	clk.Advance(10 * time.Second)
	err = s.Connect(t.Context())
	require.ErrorIs(t, err, adapters.ErrNotConnected)
	wait, _ = adapters.RetryDelay(err)
	require.Equal(t, 20*time.Second, wait)

	clk.Advance(20 * time.Second)
	require.NoError(t, s.Connect(t.Context()))
	p.on("POST ", answer{code: 502})
	require.Error(t, s.Send(t.Context(), fedAlert("")), "the probe fails")
	require.ErrorIs(t, s.Send(t.Context(), fedAlert("")), adapters.ErrNotConnected, "re-opened")
	require.Len(t, p.received(true), 1)

	clk.Advance(30 * time.Second)
	require.NoError(t, s.Connect(t.Context()))
	require.NoError(t, s.Send(t.Context(), fedAlert("")), "the probe succeeds")
	require.NoError(t, s.Send(t.Context(), fedAlert("")))
	require.Len(t, p.received(true), 2)

	mu.Lock()
	require.Equal(t, []string{"closed", "open", "half_open", "open", "half_open", "closed"}, states)
	mu.Unlock()
	require.Equal(t, []string{
		"circuit: open after 3 failures, probing in 30s",
		"circuit: half-open: probing",
		"circuit: open after 4 failures, probing in 30s",
		"circuit: half-open: probing",
		"circuit: ok",
	}, h.Entries())
}

// TestPermanentAnswerClosesProbe: a 4xx answer proves the remote is up.
func TestPermanentAnswerClosesProbe(t *testing.T) {
	p := newPeer(t)
	clk := clocktest.NewFake(time.Unix(kaTS, 0))
	d := testDeps()
	d.Clock = clk
	s := newSink(t, Config{URL: p.URL(), Forward: []string{"*"}, Circuit: CircuitConfig{Failures: 1, OpenFor: time.Second}}, d)
	p.on("POST ", answer{code: 503}, answer{code: 400})
	require.Error(t, s.Send(t.Context(), fedAlert("")))
	clk.Advance(time.Second)
	require.True(t, adapters.IsPermanent(s.Send(t.Context(), fedAlert(""))))
	require.NoError(t, s.Send(t.Context(), fedAlert("")))
}

// TestNoSecretInErrors: a peer that echoes the Authorization header and the body in
// its error answers, for each auth method, and a secret sent back in other
// encodings: no error text holds any form of the secret.
func TestNoSecretInErrors(t *testing.T) {
	const secret = "Zx9-very-secret-credential-42"
	tests := []struct {
		name  string
		set   func(*Config)
		forms []string
	}{
		{"basic", func(c *Config) { c.Username, c.Password = "fed", secret },
			[]string{secret, base64.StdEncoding.EncodeToString([]byte("fed:" + secret))}},
		{"api_key", func(c *Config) { c.APIKey = secret }, []string{secret}},
		{"token", func(c *Config) { c.Token = secret }, []string{secret}},
		{"hawk", func(c *Config) { c.Hawk = HawkConfig{ID: "fed", Key: secret} }, []string{secret}},
		{"api_key from env", func(c *Config) { c.APIKeyEnv = "FORWARD_TEST_KEY" }, []string{secret}},
	}
	t.Setenv("FORWARD_TEST_KEY", secret)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t)
			cfg := Config{URL: p.URL(), Forward: []string{"*"}}
			tc.set(&cfg)
			s := newSink(t, cfg, testDeps())
			leak := `{"message": "bad key ` + secret + ` b64 ` + base64.StdEncoding.EncodeToString([]byte(secret)) +
				` url ` + strings.ReplaceAll(secret, "-", "%2D") + `"}`
			for _, code := range []int{400, 401, 403, 500, 503} {
				p.on("POST ", answer{code: code, body: leak, echo: true})
				p.on("PUT ", answer{code: code, body: leak, echo: true})
				p.on("DELETE ", answer{code: code, body: leak, echo: true})
			}
			var errs []error
			for range 5 {
				errs = append(errs, s.Send(t.Context(), fedAlert("")), s.Send(t.Context(), fedAction(ackBody, "", false)), s.Send(t.Context(), fedDelete("")))
			}
			for _, err := range errs {
				require.Error(t, err)
				for _, f := range tc.forms {
					require.NotContains(t, err.Error(), f)
				}
				require.NotContains(t, err.Error(), base64.StdEncoding.EncodeToString([]byte(secret)))
			}
		})
	}
	t.Run("a missing key file names the file, not a secret", func(t *testing.T) {
		s, err := New(Config{URL: "http://127.0.0.1:1", Forward: []string{"*"}, Origin: "http://gw:1",
			Hawk: HawkConfig{ID: "fed", KeyFile: t.TempDir() + "/none"}}, testDeps())
		require.NoError(t, err)
		err = s.Connect(t.Context())
		require.Error(t, err)
		require.Contains(t, err.Error(), "hawk.key")
		require.False(t, errors.Is(err, adapters.ErrNotConnected))
	})
}

// TestAuthPrecedence: several methods are accepted, the first of Alerta's
// precedence (username, hawk, api_key, token) is used.
func TestAuthPrecedence(t *testing.T) {
	tests := []struct {
		name   string
		set    func(*Config)
		prefix string
	}{
		{"basic over everything", func(c *Config) {
			c.Username, c.Password, c.APIKey, c.Token = "u", "p", "k", "t"
			c.Hawk = HawkConfig{ID: "i", Key: "hawk-secret"}
		}, "Basic dTpw"},
		{"hawk over key and token", func(c *Config) { c.APIKey, c.Token, c.Hawk = "k", "t", HawkConfig{ID: "i", Key: "hawk-secret"} }, "Hawk mac="},
		{"key over token", func(c *Config) { c.APIKey, c.Token = "kkkk", "t" }, "Key kkkk"},
		{"no auth", func(*Config) {}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t)
			cfg := Config{URL: p.URL(), Forward: []string{"*"}}
			tc.set(&cfg)
			s := newSink(t, cfg, testDeps())
			require.NoError(t, s.Send(t.Context(), fedAlert("")))
			got := p.received(false)[0].Header.Get("Authorization")
			if tc.prefix == "" {
				require.Empty(t, got)
			} else {
				require.True(t, strings.HasPrefix(got, tc.prefix), got)
			}
		})
	}
}

// TestTrailingSlashURL: a url written with a trailing '/' still reaches /alert, not
// //alert (which a receiver answers with a redirect, and the event would be
// dead-lettered).
func TestTrailingSlashURL(t *testing.T) {
	p := newPeer(t)
	s := newSink(t, Config{URL: p.URL() + "/api/", Forward: []string{"*"}}, testDeps())
	require.NoError(t, s.Send(t.Context(), fedAlert("")))
	require.NoError(t, s.Send(t.Context(), fedDelete("")))
	require.Equal(t, []string{"POST /api/alert", "DELETE /api/alert/" + alertID}, lines(p.received(false)))
}
