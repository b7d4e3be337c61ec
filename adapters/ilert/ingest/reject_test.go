package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/ilert/ingest"
	"github.com/edgerelay/edgerelay/adapters/logx"
)

// TestBadRequestsAreCountedNotLogged: thousands of refused requests (wrong token,
// bad JSON, oversize, wrong content type, wrong method, unknown path) are each
// counted under their reason, give a bounded number of log lines without the token
// or the body, and the flush accounts for the rest.
func TestBadRequestsAreCountedNotLogged(t *testing.T) {
	const token = "s3cret-token"
	var mu sync.Mutex
	got := map[string]int{}
	log := &adaptertest.LogLines{Min: slog.LevelDebug}
	fake := clocktest.NewFake(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	lim := logx.New(logx.Options{Now: fake.Now})
	var published int
	srv := serve(t, ingest.Options{
		Token: token, MaxBodyBytes: 256, Log: slog.New(log), Limiter: lim,
		Reject: func(r string) { mu.Lock(); got[r]++; mu.Unlock() },
	}, adapters.PublisherFunc(func(_ context.Context, _ *adapters.Event, done func(adapters.Settlement)) error {
		mu.Lock()
		published++
		mu.Unlock()
		done(adapters.Settled(adapters.Stored, ""))
		return nil
	}))
	auth := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
	plain := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "text/plain"}
	const body = `{"eventType":"ALERT","integrationKey":"il1api0123","summary":"x"}`
	cases := []struct {
		reason, method, path, body string
		header                     map[string]string
		status, n                  int
	}{
		{ingest.RejectUnauthorized, "POST", ingest.PathEvents, body,
			map[string]string{"Authorization": "Bearer guessed-token", "Content-Type": "application/json"}, 401, 1500},
		{ingest.RejectInvalid, "POST", ingest.PathEvents, `{"eventType":`, auth, 400, 500},
		{ingest.RejectInvalid, "POST", ingest.PathEvents, `{"eventType":"NOPE","integrationKey":"k","summary":"s"}`, auth, 400, 100},
		{ingest.RejectTooLarge, "POST", ingest.PathEvents, `{"summary":"` + strings.Repeat("x", 300) + `"}`, auth, 413, 300},
		{ingest.RejectContentType, "POST", ingest.PathEvents, body, plain, 400, 100},
		{ingest.RejectMethodNotAllowed, "GET", ingest.PathEvents, "", auth, 405, 100},
		{ingest.RejectNotFound, "GET", "/api/nothing", "", auth, 404, 100},
		{ingest.RejectMethodNotAllowed, "POST", ingest.PathHeartbeats + "il1hbt-secret-key", "", auth, 405, 100},
	}
	want := map[string]int{}
	for _, tc := range cases {
		for range tc.n {
			a := do(t, srv, tc.method, tc.path, tc.body, tc.header)
			require.Equal(t, tc.status, a.status, "%s %s: %s", tc.method, tc.path, a.body)
		}
		want[tc.reason] += tc.n
	}
	require.Equal(t, 200, do(t, srv, "POST", ingest.PathEvents, body, auth).status, "a good request still passes")
	mu.Lock()
	require.Equal(t, want, got, "every refused request counted once, under its reason")
	require.Equal(t, 1, published)
	mu.Unlock()

	lines := log.Lines()
	require.LessOrEqual(t, len(lines), len(want)*logx.DefaultBurst, strings.Join(lines, "\n"))
	fake.Advance(time.Minute)
	lim.Flush()
	flushed := log.Lines()[len(lines):]
	require.Len(t, flushed, len(want), strings.Join(flushed, "\n"))
	for r, n := range want {
		line := fmt.Sprintf("ilert_http refused a request (suppressed %d similar in the last 60s)", n-logx.DefaultBurst)
		found := false
		for _, l := range flushed {
			found = found || (strings.Contains(l, line) && strings.Contains(l, "reason="+r+" "))
		}
		require.True(t, found, "no flush line for %s in:\n%s", r, strings.Join(flushed, "\n"))
	}
	for _, l := range log.Lines() {
		require.NotContains(t, l, token)
		require.NotContains(t, l, "guessed-token")
		require.NotContains(t, l, "xxxxxxxx", "no body in the log")
		require.NotContains(t, l, "NOPE", "no body in the log")
		require.NotContains(t, l, "il1hbt-secret-key", "no heartbeat key in the log")
	}
}
