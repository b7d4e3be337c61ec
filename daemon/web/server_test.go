package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/daemon/health"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bound caps every wait; no test asserts how fast anything is.
const bound = 5 * time.Second

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// client never keeps connections, so no transport goroutine outlives a test.
var client = &http.Client{Timeout: bound, Transport: &http.Transport{DisableKeepAlives: true}}

func do(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestRoutes(t *testing.T) {
	h := health.New(nil)
	set := metrics.NewSet()
	NewMetrics(set).EventsIn("plant").Inc()
	s := New(Config{Version: "1.2.3"}, h, set, discard())
	s.Handle("POST /api/events", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	tests := []struct {
		method, path string
		wantStatus   int
		wantType     string // Content-Type prefix, "" for none checked
		wantBody     string // exact body, unless wantContains is set
		wantContains string
		wantAllow    string
	}{
		{method: "GET", path: "/", wantStatus: 200, wantType: "text/plain", wantBody: "edgerelay/1.2.3"},
		{method: "HEAD", path: "/", wantStatus: 200, wantType: "text/plain"},
		{method: "GET", path: "/health", wantStatus: 204},
		{method: "HEAD", path: "/health", wantStatus: 204},
		{method: "GET", path: "/ready", wantStatus: 204},
		{method: "GET", path: "/metrics", wantStatus: 200, wantType: "text/plain; version=0.0.4", wantContains: `edgerelay_events_in_total{source="plant"} 1`},
		{method: "POST", path: "/api/events", wantStatus: 202},
		{method: "POST", path: "/", wantStatus: 405, wantAllow: "GET, HEAD"},
		{method: "POST", path: "/health", wantStatus: 405, wantAllow: "GET, HEAD"},
		{method: "DELETE", path: "/ready", wantStatus: 405, wantAllow: "GET, HEAD"},
		{method: "PUT", path: "/metrics", wantStatus: 405, wantAllow: "GET, HEAD"},
		{method: "GET", path: "/api/events", wantStatus: 405, wantAllow: "POST"},
		{method: "GET", path: "/nope", wantStatus: 404},
		{method: "GET", path: "/health/extra", wantStatus: 404},
		{method: "GET", path: "/healthz", wantStatus: 404},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := do(t, tc.method, srv.URL+tc.path)
			require.Equal(t, tc.wantStatus, resp.StatusCode, body)
			if tc.wantType != "" {
				require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), tc.wantType), resp.Header.Get("Content-Type"))
			}
			switch {
			case tc.wantContains != "":
				require.Contains(t, body, tc.wantContains)
			case tc.method != "HEAD" && tc.wantStatus < 300:
				require.Equal(t, tc.wantBody, body)
			}
			if tc.wantAllow != "" {
				require.Equal(t, tc.wantAllow, resp.Header.Get("Allow"))
			}
		})
	}
}

func TestRootDefaultVersion(t *testing.T) {
	s := New(Config{}, health.New(nil), nil, discard())
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	require.Equal(t, 200, rec.Code)
	require.Equal(t, "edgerelay/dev", rec.Body.String())
}

func TestHealthAndReadyWhileStopping(t *testing.T) {
	h := health.New(nil)
	h.Set("store", "open", false, health.Critical, "disk gone")
	s := New(Config{}, h, nil, discard())
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	resp, _ := do(t, "GET", srv.URL+"/health")
	require.Equal(t, 204, resp.StatusCode)
	resp, _ = do(t, "GET", srv.URL+"/ready")
	require.Equal(t, 503, resp.StatusCode)

	h.SetStopping()
	resp, body := do(t, "GET", srv.URL+"/health")
	require.Equal(t, 503, resp.StatusCode)
	require.Empty(t, body)
	resp, body = do(t, "GET", srv.URL+"/ready")
	require.Equal(t, 503, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, `{"component":"daemon","error":"shutting down"}`, body)
}

func TestReadyBody(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *health.Tracker)
		want  string // "" means all is well (204), unless contains is set
		// code is the expected status when want is set; 0 means 503.
		code int
		// contains, when set, is checked instead of an exact body.
		contains string
	}{
		{name: "nothing reported", setup: func(*health.Tracker) {}},
		{
			name: "all conditions hold",
			setup: func(h *health.Tracker) {
				h.For("mqtt:plant").Set("connected", true, "")
				h.Set("store", "open", true, health.Critical, "")
			},
		},
		{
			name: "a degraded condition stays ready: 200 with the component list",
			setup: func(h *health.Tracker) {
				h.Set("sink:hook", "connected", true, health.Degraded, "")
				h.Set("sink:hook", "delivering", false, health.Degraded, "HTTP 503")
				h.Set("store", "open", true, health.Critical, "")
				h.For("edge:ilert").SetDegraded("active", false, "standby")
			},
			code: 200,
			want: `{"components":[` +
				`{"component":"edge:ilert","state":"degraded","active":false,"error":"standby"},` +
				`{"component":"sink:hook","state":"degraded","connected":true,"delivering":false,"error":"HTTP 503"}]}`,
		},
		{
			name: "stopping wins over every other failure",
			setup: func(h *health.Tracker) {
				h.Set("store", "open", false, health.Critical, "corrupt")
				h.SetStopping()
			},
			want: `{"component":"daemon","error":"shutting down"}`,
		},
		{
			name: "mqtt source in ilagent's shape from its conditions",
			setup: func(h *health.Tracker) {
				v := h.For("mqtt:plant")
				v.Set("connected", true, "")
				v.Set("subscriptions_ready", false, "Subscription rejected: alerts/#")
			},
			want: `{"component":"mqtt:plant","connected":true,"subscriptions_ready":false,"error":"Subscription rejected: alerts/#",` +
				`"components":[{"component":"mqtt:plant","state":"critical","connected":true,"subscriptions_ready":false,"error":"Subscription rejected: alerts/#"}]}`,
		},
		{
			name: "mqtt source in ilagent's shape from fields",
			setup: func(h *health.Tracker) {
				h.Set("mqtt:plant", "ready", false, health.Critical, "dial tcp 127.0.0.1:1883: connection refused")
				h.SetFields("mqtt:plant", map[string]any{"connected": false, "subscriptions_ready": false, "ready": "fields win"})
			},
			want: `{"component":"mqtt:plant","connected":false,"ready":"fields win","subscriptions_ready":false,"error":"dial tcp 127.0.0.1:1883: connection refused",` +
				`"components":[{"component":"mqtt:plant","state":"critical","connected":false,"ready":"fields win","subscriptions_ready":false,"error":"dial tcp 127.0.0.1:1883: connection refused"}]}`,
		},
		{
			name: "reserved keys are not overridden and degraded conditions of the component show as false",
			setup: func(h *health.Tracker) {
				h.Set("store", "open", false, health.Critical, "")
				h.Set("store", "space", false, health.Degraded, "95% full")
				h.SetFields("store", map[string]any{"component": "x", "state": "z", "error": "y", "components": 1, "path": "/var/lib/edgerelay"})
			},
			want: `{"component":"store","open":false,"path":"/var/lib/edgerelay","space":false,"error":"",` +
				`"components":[{"component":"store","state":"critical","open":false,"path":"/var/lib/edgerelay","space":false,"error":""}]}`,
		},
		{
			name: "several failing components: first critical by name, all listed with their state, details joined",
			setup: func(h *health.Tracker) {
				h.Set("store", "open", false, health.Critical, "permission denied")
				h.For("source:http").Set("listening", false, "address in use")
				h.For("mqtt:plant").Set("connected", false, "refused")
				h.For("mqtt:plant").Set("subscribed", false, "not connected")
				h.Set("sink:hook", "delivering", false, health.Degraded, "HTTP 503")
				h.Set("broker", "listening", false, health.Degraded, "not yet") // degraded, first by name: not the top
			},
			want: `{"component":"mqtt:plant","connected":false,"subscribed":false,"error":"refused; not connected",` +
				`"components":[` +
				`{"component":"broker","state":"degraded","listening":false,"error":"not yet"},` +
				`{"component":"mqtt:plant","state":"critical","connected":false,"subscribed":false,"error":"refused; not connected"},` +
				`{"component":"sink:hook","state":"degraded","delivering":false,"error":"HTTP 503"},` +
				`{"component":"source:http","state":"critical","listening":false,"error":"address in use"},` +
				`{"component":"store","state":"critical","open":false,"error":"permission denied"}]}`,
		},
		{
			name: "a field JSON cannot encode is written as text",
			setup: func(h *health.Tracker) {
				h.Set("edge", "polling", false, health.Critical, "401")
				h.SetFields("edge", map[string]any{"items_delivered": 3, "weird": make(chan int)})
			},
			contains: `"items_delivered":3,"polling":false,"weird":"0x`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := health.New(nil)
			tc.setup(h)
			s := New(Config{}, h, nil, discard())
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
			if tc.contains != "" {
				require.Equal(t, 503, rec.Code)
				require.True(t, json.Valid(rec.Body.Bytes()), rec.Body.String())
				require.Contains(t, rec.Body.String(), tc.contains)
				return
			}
			if tc.want == "" {
				require.Equal(t, 204, rec.Code, rec.Body.String())
				require.Empty(t, rec.Body.String())
				return
			}
			code := tc.code
			if code == 0 {
				code = 503
			}
			require.Equal(t, code, rec.Code)
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			require.Equal(t, tc.want, rec.Body.String())
			require.True(t, json.Valid(rec.Body.Bytes()))
		})
	}
}

func TestMetricsEndpoint(t *testing.T) {
	set := metrics.NewSet()
	m := NewMetrics(set)
	m.EventsIn("plant").Add(3)
	m.EventsIn("plant").Inc() // cached: the same counter
	m.EventsOut("hook").Inc()
	m.EventsRejected("plant", "invalid_json").Inc()
	m.EventsRejected(`we"ird\name`, "too_large").Inc()
	m.Retries("hook").Add(2)
	m.DeadLetters("hook").Inc()
	m.QueueDepth("hook", func() float64 { return 7 })
	m.QueueDepth("hook", func() float64 { return 9 }) // replaces the callback
	m.QueueOldestAge("hook", func() float64 { return 1.5 })
	m.QueueOldestAge("idle", nil)
	m.StoreCommits().Inc()
	m.StoreBytesWritten().Set(4096)
	m.StoreQuarantined().Set(1)
	m.BusDropped("status").Set(5)
	require.Same(t, m.EventsIn("plant"), m.EventsIn("plant"))

	s := New(Config{}, health.New(nil), set, discard())
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	body := rec.Body.String()
	for _, line := range []string{
		`edgerelay_events_in_total{source="plant"} 4`,
		`edgerelay_events_out_total{sink="hook"} 1`,
		`edgerelay_events_rejected_total{source="plant",reason="invalid_json"} 1`,
		`edgerelay_events_rejected_total{source="we\"ird\\name",reason="too_large"} 1`,
		`edgerelay_retries_total{sink="hook"} 2`,
		`edgerelay_dead_letters_total{sink="hook"} 1`,
		`edgerelay_queue_depth{sink="hook"} 9`,
		`edgerelay_queue_oldest_age_seconds{sink="hook"} 1.5`,
		`edgerelay_queue_oldest_age_seconds{sink="idle"} 0`,
		`edgerelay_store_commits_total 1`,
		`edgerelay_store_bytes_written_total 4096`,
		`edgerelay_store_quarantined 1`,
		`edgerelay_bus_dropped_total{subscriber="status"} 5`,
	} {
		require.Contains(t, body, line+"\n")
	}
	require.Contains(t, body, "\ngo_goroutines ", "Go runtime metrics follow")
	require.Contains(t, body, "\nprocess_", "process metrics follow")
	for _, name := range []string{
		MetricEventsIn, MetricEventsOut, MetricEventsRejected, MetricRetries, MetricDeadLetters,
		MetricQueueDepth, MetricQueueOldestAge, MetricStoreCommits, MetricStoreBytesWritten, MetricStoreQuarantined,
	} {
		require.True(t, strings.HasPrefix(name, "edgerelay_"), name)
		require.Contains(t, body, name)
	}
}

func TestMetricsWithoutSet(t *testing.T) {
	s := New(Config{}, health.New(nil), nil, discard())
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	require.Contains(t, rec.Body.String(), "go_goroutines")
	require.NotContains(t, rec.Body.String(), "edgerelay_")
}

func TestListenAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	addr := taken.Addr().String()

	s := New(Config{Listen: addr}, health.New(nil), nil, discard())
	err = s.Listen()
	require.Error(t, err)
	require.True(t, errors.Is(err, syscall.EADDRINUSE), err)
	require.Contains(t, err.Error(), addr)
	require.Contains(t, err.Error(), "http.listen")
	require.Contains(t, err.Error(), "already in use")
	require.Equal(t, addr, s.Addr())

	// Serve reports the same error instead of serving.
	err = s.Serve(context.Background())
	require.ErrorContains(t, err, "already in use")
}

func TestListenBadAddress(t *testing.T) {
	s := New(Config{Listen: "127.0.0.1:notaport"}, health.New(nil), nil, discard())
	err := s.Listen()
	require.ErrorContains(t, err, "http.listen: listen on 127.0.0.1:notaport")
}

// serve starts s.Serve and returns a function that cancels it and requires a nil return.
func serve(t *testing.T, s *Server) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }() // exits when ctx is cancelled
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(bound):
			t.Fatal("Serve did not return after cancel")
		}
	}
}

func TestServeAndShutdownFreesThePort(t *testing.T) {
	s := New(Config{Listen: "127.0.0.1:0"}, health.New(nil), nil, discard())
	require.NoError(t, s.Listen())
	require.NoError(t, s.Listen()) // idempotent
	addr := s.Addr()
	require.NotEqual(t, "127.0.0.1:0", addr)

	stop := serve(t, s)
	resp, _ := do(t, "GET", "http://"+addr+"/health")
	require.Equal(t, 204, resp.StatusCode)
	stop()

	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "the port is free again after Serve returned")
	require.NoError(t, ln.Close())
}

func TestServeBindsWithoutListen(t *testing.T) {
	s := New(Config{Listen: "127.0.0.1:0"}, health.New(nil), nil, discard())
	stop := serve(t, s)
	// Serve binds in its own goroutine; wait until it has.
	deadline := time.Now().Add(bound)
	for s.Addr() == "127.0.0.1:0" {
		require.True(t, time.Now().Before(deadline), "Serve never bound")
		time.Sleep(5 * time.Millisecond)
	}
	resp, body := do(t, "GET", "http://"+s.Addr()+"/")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "edgerelay/dev", body)
	stop()
}

func TestServeShutdownIsBounded(t *testing.T) {
	s := New(Config{Listen: "127.0.0.1:0", ShutdownTimeout: 50 * time.Millisecond}, health.New(nil), nil, discard())
	entered := make(chan struct{})
	release := make(chan struct{})
	s.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select { // a handler that ignores shutdown until the test releases it
		case <-release:
		case <-time.After(bound):
		}
	}))
	require.NoError(t, s.Listen())
	stop := serve(t, s)

	reqDone := make(chan struct{})
	go func() { // exits when the request fails or completes
		defer close(reqDone)
		resp, err := client.Get("http://" + s.Addr() + "/slow")
		if err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-entered:
	case <-time.After(bound):
		t.Fatal("slow handler never entered")
	}
	stop() // returns nil although the handler is still running
	close(release)
	<-reqDone
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string
	}{
		{name: "defaults", cfg: DefaultConfig()},
		{name: "empty means default", cfg: Config{}},
		{name: "all interfaces", cfg: Config{Listen: "0.0.0.0:8977"}},
		{name: "ipv6", cfg: Config{Listen: "[::1]:8977"}},
		{name: "host name", cfg: Config{Listen: "localhost:0"}},
		{name: "port only", cfg: Config{Listen: ":8977"}},
		{name: "no port", cfg: Config{Listen: "127.0.0.1"}, wantErr: []string{"http.listen: \"127.0.0.1\" is not host:port"}},
		{name: "bad port", cfg: Config{Listen: "127.0.0.1:99999"}, wantErr: []string{"http.listen: port \"99999\""}},
		{name: "bad host", cfg: Config{Listen: "a b:80"}, wantErr: []string{"neither an IP address nor a host name"}},
		{
			name:    "negative durations, all reported",
			cfg:     Config{ReadTimeout: -1, WriteTimeout: -1, IdleTimeout: -1, ShutdownTimeout: -1},
			wantErr: []string{"http.read_timeout", "http.write_timeout", "http.idle_timeout", "http.shutdown_timeout"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.wantErr {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	require.Equal(t, DefaultConfig(), Config{}.withDefaults())
	c := Config{Listen: ":1", ShutdownTimeout: time.Second}.withDefaults()
	require.Equal(t, ":1", c.Listen)
	require.Equal(t, time.Second, c.ShutdownTimeout)
	require.Equal(t, DefaultReadTimeout, c.ReadTimeout)
}
