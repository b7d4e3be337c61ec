package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
)

// ilagent's edge mode end to end, from its command line: `edgerelay daemon
// --edge_mode http …` polls an edge endpoint (served here as §3.4 describes it) and
// delivers to the site's HTTP system, killed with SIGKILL mid-flow.

// cliEdgeAPI serves GET /api/edge-connections/events for one key: items 1..n in
// order, limit and after-id honoured, and counts how often each item was served.
type cliEdgeAPI struct {
	srv    *httptest.Server
	mu     sync.Mutex // guards served
	served map[int64]int
}

func newCLIEdgeAPI(t *testing.T, key string, n int64) *cliEdgeAPI {
	a := &cliEdgeAPI{served: map[int64]int{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/edge-connections/events" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != key {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		after, _ := strconv.ParseInt(r.URL.Query().Get("after-id"), 10, 64)
		limit, err := strconv.ParseInt(r.URL.Query().Get("limit"), 10, 64)
		if err != nil || limit <= 0 {
			limit = 100
		}
		type item struct {
			ID      int64           `json:"id"`
			Payload json.RawMessage `json:"payload"`
		}
		items := []item{}
		a.mu.Lock()
		for id := after + 1; id <= n && int64(len(items)) < limit; id++ {
			a.served[id]++
			items = append(items, item{id, json.RawMessage(fmt.Sprintf(
				`{"id":"%d","summary":"pump %d","eventType":"alert-created","status":"PENDING","timestamp":"2026-05-04T10:00:00.000Z"}`, id%37, id))})
		}
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items})
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// servedTwice counts the items polled more than once: the replayed ones.
func (a *cliEdgeAPI) servedTwice() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.served {
		if c > 1 {
			n++
		}
	}
	return n
}

// cliEdgeSite is the site's HTTP system: it takes PUTs carrying the auth header,
// answers after delay and counts every item by X-ilert-Edge-Item-Id.
type cliEdgeSite struct {
	srv  *httptest.Server
	mu   sync.Mutex // guards seen, bad
	seen map[string]int
	bad  []string
}

func newCLIEdgeSite(t *testing.T, header, value string, delay time.Duration) *cliEdgeSite {
	s := &cliEdgeSite{seen: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		id := r.Header.Get("X-ilert-Edge-Item-Id")
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Method != http.MethodPut || r.Header.Get(header) != value || id == "" ||
			r.Header.Get("X-ilert-Event-Type") != "alert-created" || r.Header.Get("X-ilert-Alert-Id") == "" {
			s.bad = append(s.bad, fmt.Sprintf("%s %v", r.Method, r.Header))
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		s.seen[id]++
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *cliEdgeSite) counts() (unique, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countSeen(s.seen)
}

// TestIlagentEdgeKill: ilagent's edge http command line (PUT, the auth value from
// ILERT_EDGE_HTTP_AUTH_VALUE, -p, -f) delivers every item with the three X-ilert-*
// headers; SIGKILL mid-delivery and a restart lose nothing (the items polled again
// are counted). The connector key and the auth value are never logged.
func TestIlagentEdgeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: kill -9 end-to-end test (slow); runs without -short")
	}
	if _, ok := adapters.Lookup(adapters.DirSource, "ilert_edge"); !ok {
		// Before the ilert_edge source is merged, or in a build without it.
		t.Skip("SKIP: the ilert_edge source is not registered in this build")
	}
	const (
		n     = 2000
		key   = "iec1:cli-e2e-edge-key"
		token = "site-token-s3cret"
	)
	api := newCLIEdgeAPI(t, key, n)
	site := newCLIEdgeSite(t, "X-Site-Token", token, 2*time.Millisecond)
	httpAddr := freePort(t)
	_, port, _ := net.SplitHostPort(httpAddr)
	args := []string{"daemon", "-f", filepath.Join(t.TempDir(), "ilagent.db3"), "-p", port,
		"--edge_mode", "http", "--edge_http_url", site.srv.URL + "/alerts", "--edge_http_method", "put",
		"--edge_http_auth_header", "X-Site-Token", "--edge_poll_interval", "5"}
	env := []string{"ILERT_EDGE_CONNECTOR_KEY=" + key, "ILERT_API_HOST=" + api.srv.URL, "ILERT_EDGE_HTTP_AUTH_VALUE=" + token}

	d := startDaemon(t, env, args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.stderr.String())
		}
	})
	waitReady(t, d, "http://"+httpAddr+"/ready")
	waitUntil(t, "deliveries under way", 60*time.Second, func() bool {
		u, _ := site.counts()
		return u >= 300
	})
	d.kill()
	atKill, _ := site.counts()
	require.Less(t, atKill, n, "the kill must land mid-flow")
	for _, s := range []string{key, token} {
		require.NotContains(t, d.stderr.String(), s, "no secret in the log")
	}

	d2 := startDaemon(t, env, args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("restarted daemon log:\n%s", d2.stderr.String())
		}
	})
	waitReady(t, d2, "http://"+httpAddr+"/ready")
	waitUntil(t, "every item at the site", 180*time.Second, func() bool {
		u, _ := site.counts()
		return u == n
	})
	u, dups := site.counts()
	replayed := api.servedTwice()
	t.Logf("killed with %d of %d delivered; after the restart %d unique, %d duplicate deliveries, %d items polled twice, 0 lost", atKill, n, u, dups, replayed)
	site.mu.Lock()
	require.Empty(t, site.bad, "every request was a PUT with the auth header and the X-ilert-* headers")
	site.mu.Unlock()
	// How many items a crash polls again is the ilert_edge source's bound (at most one
	// batch), asserted by TestZeroLossEdgeKill; this test is about the command line,
	// so it reports the figure.
	for _, s := range []string{key, token} {
		require.NotContains(t, d2.stderr.String(), s, "no secret in the log")
	}
}
