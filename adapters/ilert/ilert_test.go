package ilert

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

// newSink builds and connects a sink against srv with cfg's zero fields defaulted.
func newSink(t *testing.T, cfg Config, d adapters.Deps) *Sink {
	t.Helper()
	s, err := New(cfg, d)
	require.NoError(t, err)
	require.NoError(t, s.Connect(context.Background()))
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func hostCfg(srv *ilerttest.Server) Config {
	return Config{APIHost: srv.URL(), HeartbeatHost: srv.URL(), IntegrationKey: "il1api-default"}
}

func alert(payload string) *adapters.Event {
	return &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindAlert, Payload: []byte(payload)}
}

// outcome names a Send result class.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case adapters.IsPermanent(err):
		return "permanent"
	default:
		return "retry"
	}
}

func TestStatusRules(t *testing.T) {
	srv := ilerttest.NewServer(t)
	s := newSink(t, hostCfg(srv), testDeps())
	for _, tc := range []struct {
		status int
		want   string
	}{
		{http.StatusAccepted, "ok"},
		{http.StatusOK, "permanent"},
		{http.StatusCreated, "permanent"},
		{http.StatusNoContent, "permanent"},
		{http.StatusMovedPermanently, "permanent"},
		{http.StatusBadRequest, "permanent"},
		{http.StatusUnauthorized, "permanent"},
		{http.StatusForbidden, "permanent"},
		{http.StatusNotFound, "permanent"},
		{http.StatusUnprocessableEntity, "permanent"},
		{http.StatusRequestTimeout, "retry"},
		{http.StatusTooManyRequests, "retry"},
		{http.StatusInternalServerError, "retry"},
		{http.StatusBadGateway, "retry"},
		{http.StatusServiceUnavailable, "retry"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			if tc.status != http.StatusAccepted {
				srv.FailNext("/api/events", 1, tc.status)
			}
			err := s.Send(context.Background(), alert(`{"eventType":"ALERT","summary":"x"}`))
			require.Equal(t, tc.want, outcome(err), "error: %v", err)
			if tc.status >= 400 {
				require.Contains(t, err.Error(), "injected failure", "the reason carries the answer's body")
			}
			if tc.status >= 200 && tc.status < 300 && tc.status != http.StatusAccepted {
				require.Contains(t, err.Error(), "want 202")
			}
		})
	}
}

func TestRetryAfterAndTransportErrors(t *testing.T) {
	srv := ilerttest.NewServer(t)
	s := newSink(t, hostCfg(srv), testDeps())
	ctx := context.Background()

	srv.FailNextWithHeader("/api/events", 1, http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}})
	err := s.Send(ctx, alert(`{"eventType":"ALERT"}`))
	require.Equal(t, "retry", outcome(err))
	d, ok := adapters.RetryDelay(err)
	require.True(t, ok)
	require.Equal(t, 7*time.Second, d)

	// A request lost on a reused connection is sent once more at once (the server may
	// have closed the idle connection); a second loss is the caller's retry.
	srv.DropNext("/api/events", 2)
	require.Equal(t, "retry", outcome(s.Send(ctx, alert(`{"eventType":"ALERT"}`))))

	require.NoError(t, s.Send(ctx, alert(`{"eventType":"ALERT"}`)), "works again after faults")

	srv.Close()
	require.Equal(t, "retry", outcome(s.Send(ctx, alert(`{"eventType":"ALERT"}`))))
}

func TestInvalidEventsArePermanentWithoutRequest(t *testing.T) {
	srv := ilerttest.NewServer(t)
	noKey := hostCfg(srv)
	noKey.IntegrationKey = ""
	t.Setenv(DefaultIntegrationKeyEnv, "")
	withKey := newSink(t, hostCfg(srv), testDeps())
	withoutKey := newSink(t, noKey, testDeps())
	for _, tc := range []struct {
		name    string
		s       *Sink
		payload string
		want    string
	}{
		{"not json", withKey, `not json`, "permanent"},
		{"array", withKey, `[1]`, "permanent"},
		{"no event type", withKey, `{"summary":"x"}`, "permanent"},
		{"invalid event type", withKey, `{"eventType":"INVALID"}`, "permanent"},
		{"lowercase event type", withKey, `{"eventType":"alert"}`, "permanent"},
		{"priority medium", withKey, `{"eventType":"ALERT","priority":"MEDIUM"}`, "permanent"},
		{"priority number", withKey, `{"eventType":"ALERT","priority":1}`, "permanent"},
		{"key not a string", withKey, `{"eventType":"ALERT","integrationKey":5}`, "permanent"},
		{"no key anywhere", withoutKey, `{"eventType":"ALERT"}`, "permanent"},
		{"resolve", withKey, `{"eventType":"RESOLVE","alertKey":"a"}`, "ok"},
		{"accept", withKey, `{"eventType":"ACCEPT"}`, "ok"},
		{"comment", withKey, `{"eventType":"COMMENT"}`, "ok"},
		{"priority high", withKey, `{"eventType":"ALERT","priority":"HIGH"}`, "ok"},
		{"priority null", withKey, `{"eventType":"ALERT","priority":null}`, "ok"},
		{"key in event", withoutKey, `{"eventType":"ALERT","integrationKey":"il1api-own"}`, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset()
			err := tc.s.Send(context.Background(), alert(tc.payload))
			require.Equal(t, tc.want, outcome(err), "error: %v", err)
			if tc.want == "permanent" {
				require.Empty(t, srv.Requests(), "an invalid event must not be sent")
			} else {
				require.Len(t, srv.Events(), 1)
			}
		})
	}
}

func TestPathSelection(t *testing.T) {
	srv := ilerttest.NewServer(t)
	for _, tc := range []struct {
		name, eventsPath, attr, payload string
		wantPath, wantKey               string
	}{
		{"default events", "", "", `{"eventType":"ALERT"}`, "/api/events", "il1api-default"},
		{"events keeps own key", "events", "", `{"eventType":"ALERT","integrationKey":"il1api-own"}`, "/api/events", "il1api-own"},
		{"mqtt", "mqtt", "", `{"eventType":"ALERT"}`, "/api/v1/events/mqtt/il1api-default", "il1api-default"},
		{"kafka own key", "kafka", "", `{"eventType":"ALERT","integrationKey":"k1"}`, "/api/v1/events/kafka/k1", "k1"},
		{"attr overrides", "events", "kafka", `{"eventType":"ALERT"}`, "/api/v1/events/kafka/il1api-default", "il1api-default"},
		{"bad attr ignored", "mqtt", "ftp", `{"eventType":"ALERT"}`, "/api/v1/events/mqtt/il1api-default", "il1api-default"},
		{"null key filled", "events", "", `{"eventType":"ALERT","integrationKey":null}`, "/api/events", "il1api-default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset()
			cfg := hostCfg(srv)
			cfg.EventsPath = tc.eventsPath
			s := newSink(t, cfg, testDeps())
			e := alert(tc.payload)
			if tc.attr != "" {
				e.Attrs = map[string]string{AttrEventsPath: tc.attr}
			}
			require.NoError(t, s.Send(context.Background(), e))
			reqs := srv.Requests()
			require.Len(t, reqs, 1)
			require.Equal(t, http.MethodPost, reqs[0].Method)
			require.Equal(t, tc.wantPath, reqs[0].Path)
			var body struct {
				IntegrationKey string `json:"integrationKey"`
				EventType      string `json:"eventType"`
			}
			require.NoError(t, json.Unmarshal(reqs[0].Body, &body))
			require.Equal(t, tc.wantKey, body.IntegrationKey)
			require.Equal(t, "ALERT", body.EventType)
		})
	}
}

// TestRouteKeyByReference: a route transform's event_key travels as a reference
// (AttrKeyRef) and an empty integrationKey, so the store never holds it; the sink
// sends the referenced key, in the body and the path, over its own integration_key.
// A reference no configured key answers is a permanent failure naming the remedy.
func TestRouteKeyByReference(t *testing.T) {
	srv := ilerttest.NewServer(t)
	cfg := hostCfg(srv)
	cfg.EventsPath = PathMQTT
	s := newSink(t, cfg, testDeps())
	ref := RegisterKey("il1api-route-key-1")
	require.Equal(t, KeyRef("il1api-route-key-1"), ref)
	require.NotContains(t, ref, "route-key")

	e := alert(`{"integrationKey":"","eventType":"ALERT","summary":"s"}`)
	e.Attrs = map[string]string{AttrKeyRef: ref}
	require.NoError(t, s.Send(context.Background(), e))
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "/api/v1/events/mqtt/il1api-route-key-1", reqs[0].Path)
	require.Contains(t, string(reqs[0].Body), `"integrationKey":"il1api-route-key-1"`)

	// A key in the body wins over the reference, as it always wins over the sink's.
	srv.Reset()
	e = alert(`{"integrationKey":"il1api-own","eventType":"ALERT"}`)
	e.Attrs = map[string]string{AttrKeyRef: ref}
	require.NoError(t, s.Send(context.Background(), e))
	require.Equal(t, "/api/v1/events/mqtt/il1api-own", srv.Requests()[0].Path)

	srv.Reset()
	e = alert(`{"integrationKey":"","eventType":"ALERT"}`)
	e.Attrs = map[string]string{AttrKeyRef: KeyRef("a key no route has")}
	err := s.Send(context.Background(), e)
	require.True(t, adapters.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "no longer configured")
	require.Empty(t, srv.Requests())
}

func TestBodyKeptWhenKeyPresent(t *testing.T) {
	srv := ilerttest.NewServer(t)
	s := newSink(t, hostCfg(srv), testDeps())
	payload := `{ "integrationKey": "il1api-own", "eventType": "ALERT", "summary": "<b>&</b>" }`
	require.NoError(t, s.Send(context.Background(), alert(payload)))
	require.Equal(t, payload, string(srv.Requests()[0].Body))
}

func TestHeartbeats(t *testing.T) {
	api := ilerttest.NewServer(t)
	hb := ilerttest.NewServer(t)
	cfg := hostCfg(api)
	cfg.HeartbeatHost = hb.URL()
	s := newSink(t, cfg, testDeps())
	for _, tc := range []struct {
		name, key, payload string
		wantAPI            bool // legacy: GET on the API host
		wantKey            string
	}{
		{"legacy from event key", "il1hbt123abc", ``, true, "il1hbt123abc"},
		{"ping from event key", "hbt-new-1", ``, false, "hbt-new-1"},
		{"legacy from integrationKey", "", `{"integrationKey":"il1hbt-kafka-test"}`, true, "il1hbt-kafka-test"},
		{"ping from key", "", `{"key":"ping-2","extra":1}`, false, "ping-2"},
		{"ping from apiKey", "", `{"apiKey":"ping-3"}`, false, "ping-3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api.Reset()
			hb.Reset()
			e := &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindHeartbeat, Key: tc.key, Payload: []byte(tc.payload)}
			require.NoError(t, s.Send(context.Background(), e))
			if tc.wantAPI {
				require.Empty(t, hb.Requests())
				reqs := api.Requests()
				require.Len(t, reqs, 1)
				require.Equal(t, http.MethodGet, reqs[0].Method)
				require.Equal(t, "/api/heartbeats/"+tc.wantKey, reqs[0].Path)
				require.Equal(t, []ilerttest.Heartbeat{{Legacy: true, Key: tc.wantKey}}, api.Heartbeats())
			} else {
				require.Empty(t, api.Requests())
				reqs := hb.Requests()
				require.Len(t, reqs, 1)
				require.Equal(t, http.MethodHead, reqs[0].Method)
				require.Equal(t, "/api/pings/"+tc.wantKey, reqs[0].Path)
				require.Equal(t, []ilerttest.Heartbeat{{Legacy: false, Key: tc.wantKey}}, hb.Heartbeats())
			}
		})
	}

	t.Run("no key", func(t *testing.T) {
		for _, p := range []string{``, `not json`, `{}`, `{"key":5}`} {
			e := &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindHeartbeat, Payload: []byte(p)}
			require.Equal(t, "permanent", outcome(s.Send(context.Background(), e)), "payload %q", p)
		}
	})
	t.Run("status rules", func(t *testing.T) {
		for _, tc := range []struct {
			status int
			want   string
		}{{404, "permanent"}, {200, "permanent"}, {429, "retry"}, {500, "retry"}} {
			hb.FailNext("/api/pings/*", 1, tc.status)
			e := &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindHeartbeat, Key: "hbt-status-key"}
			err := s.Send(context.Background(), e)
			require.Equal(t, tc.want, outcome(err), "status %d: %v", tc.status, err)
			require.NotContains(t, err.Error(), "hbt-status-key", "the heartbeat key is scrubbed")
		}
	})
}

func TestStripBearer(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		stripped bool
	}{
		{"xyz", "xyz", false},
		{"Bearer xyz", "xyz", true},
		{"bearer xyz", "xyz", true},
		{"BEARER  xyz ", "xyz", true},
		{"Bearerxyz", "Bearerxyz", false},
		{"", "", false},
	} {
		got, stripped := StripBearer(tc.in)
		require.Equal(t, tc.want, got, tc.in)
		require.Equal(t, tc.stripped, stripped, tc.in)
	}
}

func TestHeadersAndBearerFromEnv(t *testing.T) {
	srv := ilerttest.NewServer(t)
	t.Setenv(DefaultAPIKeyEnv, "Bearer il1api-env-key")
	var logs bytes.Buffer // written only during Connect, on this goroutine
	d := testDeps()
	d.Version = "1.2.3"
	d.Log = slog.New(slog.NewTextHandler(&logs, nil))
	s := newSink(t, hostCfg(srv), d)
	require.Contains(t, logs.String(), "prefix was removed")
	require.NotContains(t, logs.String(), "il1api-env-key")

	require.NoError(t, s.Send(context.Background(), alert(`{"eventType":"ALERT"}`)))
	require.NoError(t, s.Send(context.Background(), &adapters.Event{Kind: adapters.KindHeartbeat, Key: "il1hbt1"}))
	require.NoError(t, s.Send(context.Background(), &adapters.Event{Kind: adapters.KindHeartbeat, Key: "p1"}))
	for _, r := range srv.Requests() {
		require.Equal(t, "edgerelay/1.2.3", r.Header.Get("User-Agent"), r.Path)
		require.Equal(t, "application/json", r.Header.Get("Accept"), r.Path)
		require.Equal(t, "application/json", r.Header.Get("Content-Type"), r.Path)
		require.Equal(t, "Bearer il1api-env-key", r.Header.Get("Authorization"), r.Path)
	}
}

func TestKeysFromFileAndNoAPIKey(t *testing.T) {
	srv := ilerttest.NewServer(t)
	t.Setenv(DefaultAPIKeyEnv, "")
	t.Setenv(DefaultIntegrationKeyEnv, "")
	f := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(f, []byte("il1api-from-file\n"), 0o600))
	cfg := hostCfg(srv)
	cfg.IntegrationKey, cfg.IntegrationKeyFile = "", f
	s := newSink(t, cfg, testDeps())
	require.NoError(t, s.Send(context.Background(), alert(`{"eventType":"ALERT"}`)))
	r := srv.Requests()[0]
	require.Empty(t, r.Header.Get("Authorization"), "no api key, no Authorization header")
	require.Contains(t, string(r.Body), `"integrationKey":"il1api-from-file"`)

	cfg.IntegrationKeyFile = filepath.Join(t.TempDir(), "missing")
	s2, err := New(cfg, testDeps())
	require.NoError(t, err)
	require.Error(t, s2.Connect(context.Background()), "a named file that is missing fails Connect")

	cfg.IntegrationKeyFile, cfg.IntegrationKeyEnv = "", "EDGERELAY_TEST_UNSET_VAR"
	s3, err := New(cfg, testDeps())
	require.NoError(t, err)
	require.Error(t, s3.Connect(context.Background()), "a named variable that is unset fails Connect")
}

func TestSendBeforeConnectAndAfterClose(t *testing.T) {
	srv := ilerttest.NewServer(t)
	s, err := New(hostCfg(srv), testDeps())
	require.NoError(t, err)
	require.ErrorIs(t, s.Send(context.Background(), alert(`{"eventType":"ALERT"}`)), adapters.ErrNotConnected)
	require.NoError(t, s.Connect(context.Background()))
	require.NoError(t, s.Close(context.Background()))
	require.ErrorIs(t, s.Send(context.Background(), alert(`{"eventType":"ALERT"}`)), adapters.ErrNotConnected)
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // substring of the error, "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"zero config", func(c *Config) { *c = Config{} }, ""},
		{"api host scheme", func(c *Config) { c.APIHost = "ftp://x" }, "api_host"},
		{"heartbeat host no host", func(c *Config) { c.HeartbeatHost = "https://" }, "heartbeat_host"},
		{"userinfo", func(c *Config) { c.APIHost = "https://u:p@x" }, "api_host"},
		{"two integration keys", func(c *Config) { c.IntegrationKey, c.IntegrationKeyEnv = "a", "B" }, "integration_key"},
		{"two api keys", func(c *Config) { c.APIKeyFile, c.APIKeyEnv = "/f", "B" }, "api_key"},
		{"events path", func(c *Config) { c.EventsPath = "amqp" }, "events_path"},
		{"mqtt path", func(c *Config) { c.EventsPath = "mqtt" }, ""},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout"},
		{"max in flight", func(c *Config) { c.MaxInFlight = 1000 }, "max_in_flight"},
		{"tls", func(c *Config) { c.TLS.CertFile = "/c" }, "tls.cert_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestSampleDecodesStrictly(t *testing.T) {
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(sample))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c))
	require.NoError(t, c.Validate())
	require.Equal(t, DefaultTimeout, c.Timeout)
}
