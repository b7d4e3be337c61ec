package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/ilert"
	"github.com/edgerelay/edgerelay/adapters/ilert/ingest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// answer is what a test request got back.
type answer struct {
	status int
	header http.Header
	body   string
}

// do sends one request to srv. A nil header sends a JSON content type when there is
// a body.
func do(t *testing.T, srv *httptest.Server, method, path, body string, header map[string]string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	require.NoError(t, err)
	if header == nil && body != "" {
		header = map[string]string{"Content-Type": "application/json"}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// serve starts the handler under test on 127.0.0.1.
func serve(t *testing.T, opts ingest.Options, pub adapters.Publisher) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(ingest.New(opts, pub))
	t.Cleanup(srv.Close)
	return srv
}

func TestPostEvents(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		header     map[string]string
		wantStatus int
		wantType   string // Content-Type prefix
		wantBody   string // exact JSON (JSONEq) when wantType is JSON; substring otherwise
		wantKey    string // published Key
	}{
		{
			name:       "scenario 47: apiKey alias",
			body:       `{"apiKey":"il1api123","eventType":"ALERT","summary":"Server down","alertKey":"host-1"}`,
			wantStatus: http.StatusOK,
			wantType:   "application/json",
			wantBody: `{"integrationKey":"il1api123","eventType":"ALERT","summary":"Server down","details":null,
				"alertKey":"host-1","priority":null,"images":null,"links":null,"customDetails":null}`,
			wantKey: "host-1",
		},
		{
			name: "scenario 48: all fields echoed",
			body: `{"integrationKey":"k1","eventType":"RESOLVE","summary":"s","details":"d","alertKey":"a",
				"priority":"HIGH","customDetails":{"env":"prod"},"images":[{"src":"https://i/x.png"}],
				"links":[{"href":"https://d","text":"Dashboard"}],"unknownField":1}`,
			wantStatus: http.StatusOK,
			wantType:   "application/json",
			wantBody: `{"integrationKey":"k1","eventType":"RESOLVE","summary":"s","details":"d","alertKey":"a",
				"priority":"HIGH","images":[{"src":"https://i/x.png","href":null,"alt":null}],
				"links":[{"href":"https://d","text":"Dashboard"}],"customDetails":{"env":"prod"}}`,
			wantKey: "a",
		},
		{
			name:       "COMMENT and LOW accepted, no alertKey",
			body:       `{"integrationKey":"k","eventType":"COMMENT","summary":"","priority":"LOW"}`,
			wantStatus: http.StatusOK,
			wantType:   "application/json",
			wantBody: `{"integrationKey":"k","eventType":"COMMENT","summary":"","details":null,"alertKey":null,
				"priority":"LOW","images":null,"links":null,"customDetails":null}`,
		},
		{
			name:       "content type with charset and +json suffix",
			body:       `{"integrationKey":"k","eventType":"ACCEPT","summary":"<b>&</b>","priority":null}`,
			header:     map[string]string{"Content-Type": "application/vnd.x+json; charset=utf-8"},
			wantStatus: http.StatusOK,
			wantType:   "application/json",
			wantBody: `{"integrationKey":"k","eventType":"ACCEPT","summary":"<b>&</b>","details":null,"alertKey":null,
				"priority":null,"images":null,"links":null,"customDetails":null}`,
		},
		{
			name:       "scenario 49: eventType INVALID",
			body:       `{"integrationKey":"k","eventType":"INVALID","summary":"s"}`,
			wantStatus: http.StatusBadRequest,
			wantType:   "application/json",
			wantBody:   `{"error":"Unsupported value for field 'eventType'."}`,
		},
		{
			name:       "eventType is case-sensitive as in ilagent",
			body:       `{"integrationKey":"k","eventType":"alert","summary":"s"}`,
			wantStatus: http.StatusBadRequest,
			wantType:   "application/json",
			wantBody:   `{"error":"Unsupported value for field 'eventType'."}`,
		},
		{
			name:       "scenario 49: priority MEDIUM",
			body:       `{"integrationKey":"k","eventType":"ALERT","summary":"s","priority":"MEDIUM"}`,
			wantStatus: http.StatusBadRequest,
			wantType:   "application/json",
			wantBody:   `{"error":"Unsupported value for field 'priority'."}`,
		},
		{
			name:       "scenario 49: only details",
			body:       `{"details":"only details"}`,
			wantStatus: http.StatusBadRequest,
			wantType:   "text/plain",
			wantBody:   "missing field `integrationKey`",
		},
		{
			name:       "scenario 49: not json",
			body:       `not json`,
			wantStatus: http.StatusBadRequest,
			wantType:   "text/plain",
			wantBody:   "Json deserialize error",
		},
		{name: "missing summary", body: `{"integrationKey":"k","eventType":"ALERT"}`, wantStatus: 400, wantType: "text/plain", wantBody: "missing field `summary`"},
		{name: "missing eventType", body: `{"integrationKey":"k","summary":"s"}`, wantStatus: 400, wantType: "text/plain", wantBody: "missing field `eventType`"},
		{name: "null summary", body: `{"integrationKey":"k","eventType":"ALERT","summary":null}`, wantStatus: 400, wantType: "text/plain", wantBody: "summary"},
		{name: "summary not a string", body: `{"integrationKey":"k","eventType":"ALERT","summary":1}`, wantStatus: 400, wantType: "text/plain", wantBody: "summary"},
		{name: "apiKey and integrationKey both", body: `{"integrationKey":"k","apiKey":"k2","eventType":"ALERT","summary":"s"}`, wantStatus: 400, wantType: "text/plain", wantBody: "duplicate field `integrationKey`"},
		{name: "details not a string", body: `{"integrationKey":"k","eventType":"ALERT","summary":"s","details":{}}`, wantStatus: 400, wantType: "text/plain", wantBody: "details"},
		{name: "image without src", body: `{"integrationKey":"k","eventType":"ALERT","summary":"s","images":[{"href":"h"}]}`, wantStatus: 400, wantType: "text/plain", wantBody: "images[0]"},
		{name: "images not an array", body: `{"integrationKey":"k","eventType":"ALERT","summary":"s","images":{"src":"x"}}`, wantStatus: 400, wantType: "text/plain", wantBody: "images"},
		{name: "image alt not a string", body: `{"integrationKey":"k","eventType":"ALERT","summary":"s","images":[{"src":"x","alt":3}]}`, wantStatus: 400, wantType: "text/plain", wantBody: "images[0].alt"},
		{name: "link without href", body: `{"integrationKey":"k","eventType":"ALERT","summary":"s","links":[{"text":"t"}]}`, wantStatus: 400, wantType: "text/plain", wantBody: "links[0]"},
		{name: "link entry not an object", body: `{"integrationKey":"k","eventType":"ALERT","summary":"s","links":["x"]}`, wantStatus: 400, wantType: "text/plain", wantBody: "links"},
		{name: "trailing data", body: `{"integrationKey":"k","eventType":"ALERT","summary":"s"} {}`, wantStatus: 400, wantType: "text/plain", wantBody: "trailing"},
		{name: "array body", body: `[]`, wantStatus: 400, wantType: "text/plain", wantBody: "object"},
		{name: "truncated", body: `{"integrationKey":"k"`, wantStatus: 400, wantType: "text/plain", wantBody: "EOF"},
		{name: "invalid utf-8", body: "{\"integrationKey\":\"k\xff\",\"eventType\":\"ALERT\",\"summary\":\"s\"}", wantStatus: 400, wantType: "text/plain", wantBody: "UTF-8"},
		{
			name:       "text/plain content type",
			body:       `{"integrationKey":"k","eventType":"ALERT","summary":"s"}`,
			header:     map[string]string{"Content-Type": "text/plain"},
			wantStatus: http.StatusBadRequest,
			wantType:   "text/plain",
			wantBody:   "Content type error",
		},
		{
			name:       "no content type",
			body:       `{"integrationKey":"k","eventType":"ALERT","summary":"s"}`,
			header:     map[string]string{},
			wantStatus: http.StatusBadRequest,
			wantType:   "text/plain",
			wantBody:   "Content type error",
		},
		{
			name:       "empty body",
			header:     map[string]string{"Content-Type": "application/json"},
			wantStatus: http.StatusBadRequest,
			wantType:   "text/plain",
			wantBody:   "EOF",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := adaptertest.NewRecorder()
			srv := serve(t, ingest.Options{}, rec)
			got := do(t, srv, http.MethodPost, "/api/events", tt.body, tt.header)
			require.Equal(t, tt.wantStatus, got.status, got.body)
			require.True(t, strings.HasPrefix(got.header.Get("Content-Type"), tt.wantType), got.header.Get("Content-Type"))
			if tt.wantType == "application/json" {
				require.JSONEq(t, tt.wantBody, got.body)
			} else {
				require.Contains(t, got.body, tt.wantBody)
			}
			pub := rec.Published()
			if tt.wantStatus != http.StatusOK {
				require.Empty(t, pub, "no event published for a refused request")
				return
			}
			require.Len(t, pub, 1)
			e := pub[0]
			require.Equal(t, adapters.KindAlert, e.Kind)
			require.Equal(t, tt.wantKey, e.Key)
			require.Equal(t, "/api/events", e.Topic)
			require.Equal(t, ingest.DefaultSource, e.Source)
			require.NotEmpty(t, e.ID)
			require.Equal(t, ilert.PathEvents, e.Attrs[ilert.AttrEventsPath])
			require.Equal(t, got.body, string(e.Payload), "the answer is the stored event")
			_, err := ilert.CheckEvent(e.Payload)
			require.NoError(t, err, "the ilert sink accepts the payload")
		})
	}
}

// Scenario 50: events posted one after another are published in order.
func TestPostEventsFIFO(t *testing.T) {
	rec := adaptertest.NewRecorder()
	srv := serve(t, ingest.Options{}, rec)
	for _, s := range []string{"event-0", "event-1", "event-2"} {
		got := do(t, srv, http.MethodPost, "/api/events", `{"integrationKey":"k","eventType":"ALERT","summary":"`+s+`"}`, nil)
		require.Equal(t, http.StatusOK, got.status)
	}
	var summaries []string
	for _, e := range rec.Accepted() {
		var m struct{ Summary string }
		require.NoError(t, json.Unmarshal(e.Payload, &m))
		summaries = append(summaries, m.Summary)
	}
	require.Equal(t, []string{"event-0", "event-1", "event-2"}, summaries)
}

func TestBodyLimit(t *testing.T) {
	// body builds an otherwise valid event of exactly n bytes.
	body := func(n int) string {
		head, tail := `{"integrationKey":"k","eventType":"ALERT","summary":"`, `"}`
		return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
	}
	tests := []struct {
		name   string
		limit  int64
		size   int
		chunk  bool // send without Content-Length
		status int
	}{
		{"default limit, exactly 16000", 0, 16000, false, http.StatusOK},
		{"default limit, 16001", 0, 16001, false, http.StatusRequestEntityTooLarge},
		{"default limit, 16001 chunked", 0, 16001, true, http.StatusRequestEntityTooLarge},
		{"default limit, 16000 chunked", 0, 16000, true, http.StatusOK},
		{"custom limit 100, 101", 100, 101, false, http.StatusRequestEntityTooLarge},
		{"custom limit 100, 100", 100, 100, true, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := adaptertest.NewRecorder()
			srv := serve(t, ingest.Options{MaxBodyBytes: tt.limit}, rec)
			b := body(tt.size)
			require.Len(t, b, tt.size)
			var rd io.Reader = strings.NewReader(b)
			if tt.chunk {
				rd = io.MultiReader(rd) // hides the length: chunked encoding
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/api/events", rd)
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, tt.status, resp.StatusCode)
			if tt.status == http.StatusOK {
				require.Len(t, rec.Published(), 1)
			} else {
				require.Empty(t, rec.Published())
			}
		})
	}
}

func TestHeartbeat(t *testing.T) {
	rec := adaptertest.NewRecorder()
	srv := serve(t, ingest.Options{}, rec)
	for _, key := range []string{"il1hbt123abc", "ping-key", "a%2Fb"} {
		got := do(t, srv, http.MethodGet, "/api/heartbeats/"+key, "", nil)
		require.Equal(t, http.StatusAccepted, got.status)
		require.Equal(t, "application/json", got.header.Get("Content-Type"))
		require.Equal(t, "{}", got.body)
	}
	pub := rec.Published()
	require.Len(t, pub, 3)
	for i, want := range []string{"il1hbt123abc", "ping-key", "a/b"} {
		require.Equal(t, adapters.KindHeartbeat, pub[i].Kind)
		require.Equal(t, want, pub[i].Key)
		require.Equal(t, want, ilert.HeartbeatKey(pub[i]), "the ilert sink finds the key")
		require.Equal(t, "/api/heartbeats", pub[i].Topic)
	}
}

func TestRouting(t *testing.T) {
	tests := []struct {
		name, method, path string
		status             int
		allow              string
	}{
		{"scenario 46: / is the web package's", http.MethodGet, "/", http.StatusNotFound, ""},
		{"scenario 46: /health is the web package's", http.MethodGet, "/health", http.StatusNotFound, ""},
		{"scenario 46: /ready is the web package's", http.MethodGet, "/ready", http.StatusNotFound, ""},
		{"GET /api/events", http.MethodGet, "/api/events", http.StatusMethodNotAllowed, "POST"},
		{"PUT /api/events", http.MethodPut, "/api/events", http.StatusMethodNotAllowed, "POST"},
		{"POST heartbeat", http.MethodPost, "/api/heartbeats/k", http.StatusMethodNotAllowed, "GET"},
		{"HEAD heartbeat", http.MethodHead, "/api/heartbeats/k", http.StatusMethodNotAllowed, "GET"},
		{"heartbeat without key", http.MethodGet, "/api/heartbeats/", http.StatusNotFound, ""},
		{"heartbeat with two segments", http.MethodGet, "/api/heartbeats/a/b", http.StatusNotFound, ""},
		{"unknown api path", http.MethodGet, "/api/other", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := adaptertest.NewRecorder()
			srv := serve(t, ingest.Options{}, rec)
			got := do(t, srv, tt.method, tt.path, "", nil)
			require.Equal(t, tt.status, got.status)
			require.Equal(t, tt.allow, got.header.Get("Allow"))
			require.Empty(t, rec.Published())
		})
	}
}

func TestAuth(t *testing.T) {
	const event = `{"integrationKey":"k","eventType":"ALERT","summary":"s"}`
	tests := []struct {
		name   string
		token  string
		auth   string // Authorization header; "" sends none
		status int
	}{
		{"no token configured, none sent", "", "", http.StatusOK},
		{"no token configured, one sent", "", "Bearer whatever", http.StatusOK},
		{"token required, none sent", "s3cret", "", http.StatusUnauthorized},
		{"token required, wrong token", "s3cret", "Bearer s3cre", http.StatusUnauthorized},
		{"token required, wrong scheme", "s3cret", "Basic s3cret", http.StatusUnauthorized},
		{"token required, bare token", "s3cret", "s3cret", http.StatusUnauthorized},
		{"token required, right token", "s3cret", "Bearer s3cret", http.StatusOK},
		{"token required, scheme in lower case", "s3cret", "bearer s3cret", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := adaptertest.NewRecorder()
			srv := serve(t, ingest.Options{Token: tt.token}, rec)
			h := map[string]string{"Content-Type": "application/json"}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			got := do(t, srv, http.MethodPost, "/api/events", event, h)
			require.Equal(t, tt.status, got.status, got.body)
			delete(h, "Content-Type")
			hb := do(t, srv, http.MethodGet, "/api/heartbeats/k", "", h)
			if tt.status == http.StatusOK {
				require.Equal(t, http.StatusAccepted, hb.status)
				require.Len(t, rec.Published(), 2)
				return
			}
			require.Equal(t, http.StatusUnauthorized, hb.status)
			require.JSONEq(t, `{"error":"Unauthorized."}`, got.body)
			require.Contains(t, got.header.Get("WWW-Authenticate"), "Bearer")
			require.Empty(t, rec.Published())
		})
	}
}

func TestPublisherFailure(t *testing.T) {
	const event = `{"integrationKey":"k","eventType":"ALERT","summary":"s"}`
	tests := []struct {
		name string
		pub  adapters.Publisher
		opts ingest.Options
	}{
		{
			name: "done with an error",
			pub: adaptertest.NewRecorder(adaptertest.RejectWhen(func(*adapters.Event, int) error {
				return adaptertest.ErrRejected
			})),
		},
		{
			name: "done with an error later",
			pub: adaptertest.NewRecorder(
				adaptertest.RejectWhen(func(*adapters.Event, int) error { return adaptertest.ErrRejected }),
				adaptertest.DelayDone(func(*adapters.Event, int) time.Duration { return time.Millisecond })),
		},
		{
			name: "Publish refuses",
			pub: adapters.PublisherFunc(func(context.Context, *adapters.Event, func(adapters.Settlement)) error {
				return errors.New("store closed")
			}),
		},
		{
			name: "done never called before the publish timeout",
			pub: adapters.PublisherFunc(func(context.Context, *adapters.Event, func(adapters.Settlement)) error {
				return nil
			}),
			opts: ingest.Options{PublishTimeout: time.Millisecond},
		},
		{
			name: "custom Retry-After",
			pub: adapters.PublisherFunc(func(context.Context, *adapters.Event, func(adapters.Settlement)) error {
				return errors.New("store closed")
			}),
			opts: ingest.Options{RetryAfter: 1500 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, tt.opts, tt.pub)
			got := do(t, srv, http.MethodPost, "/api/events", event, nil)
			require.Equal(t, http.StatusServiceUnavailable, got.status)
			require.JSONEq(t, `{"error":"Internal error occurred."}`, got.body)
			wantRetry := "5"
			if tt.opts.RetryAfter > 0 {
				wantRetry = "2"
			}
			require.Equal(t, wantRetry, got.header.Get("Retry-After"))

			hb := do(t, srv, http.MethodGet, "/api/heartbeats/il1hbt1", "", nil)
			require.Equal(t, http.StatusInternalServerError, hb.status)
			require.True(t, strings.HasPrefix(hb.header.Get("Content-Type"), "text/plain"))
			require.Equal(t, "Failed to proxy heartbeat", hb.body)
			if r, ok := tt.pub.(*adaptertest.Recorder); ok {
				r.Wait()
			}
		})
	}
}

func TestOptionsSourceAndClock(t *testing.T) {
	at := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	rec := adaptertest.NewRecorder()
	srv := serve(t, ingest.Options{Source: "ilagent-proxy", Now: func() time.Time { return at }}, rec)
	got := do(t, srv, http.MethodPost, "/api/events", `{"integrationKey":"k","eventType":"ALERT","summary":"s"}`, nil)
	require.Equal(t, http.StatusOK, got.status)
	pub := rec.Published()
	require.Len(t, pub, 1)
	require.Equal(t, "ilagent-proxy", pub[0].Source)
	require.True(t, at.Equal(pub[0].Received))
}
