package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/daemon/health"
)

// pageSource is the daemon's side of the status page as these tests need it: a
// document they change, and a record of the actions that got through. (The daemon's
// own StatusProvider is tested in package daemon, on a running daemon.)
type pageSource struct {
	mu    sync.Mutex
	st    Status
	calls []string
}

func (p *pageSource) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	st.Now = time.Now()
	return st
}

func (p *pageSource) set(f func(*Status)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.st)
}

func (p *pageSource) act(what string, sink string, seqs []uint64) (int, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, fmt.Sprintf("%s %s %v", what, sink, seqs))
	switch sink {
	case "nope":
		return 0, "", fmt.Errorf("%w %q", ErrUnknownSink, sink)
	case "cut":
		return 0, "", fmt.Errorf("%w: truncated", ErrRefused)
	case "starting":
		return 0, "", fmt.Errorf("%w: the pipeline is still starting", ErrUnavailable)
	}
	return len(seqs), "", nil
}

func (p *pageSource) RetryDead(_ context.Context, sink string, seqs []uint64) (int, string, error) {
	return p.act("retry", sink, seqs)
}

func (p *pageSource) DropDead(_ context.Context, sink string, seqs []uint64) (int, string, error) {
	return p.act("drop", sink, seqs)
}

func (p *pageSource) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

const testToken = "the-admin-token-0123456789"

// TestAdminRules: the status page's actions against every rule of authorize, in
// the order it applies them; only the last cases get through to the daemon.
func TestAdminRules(t *testing.T) {
	type req struct {
		method, path, body, ctype, auth, origin, site string
		host                                          string
	}
	good := func(r req) req {
		if r.method == "" {
			r.method = "POST"
		}
		if r.path == "" {
			r.path = "/api/dead-letters/retry"
		}
		if r.body == "" {
			r.body = `{"sink":"hook","seqs":[7]}`
		}
		if r.ctype == "" {
			r.ctype = "application/json"
		}
		if r.auth == "" {
			r.auth = "Bearer " + testToken
		}
		return r
	}
	tests := []struct {
		name     string
		readOnly bool
		r        req
		code     int
		want     string // in the error text
		reason   string // the refusal counted, "" for none
		reaches  bool   // the daemon got the action
	}{
		{name: "read-only without a token", readOnly: true, r: good(req{}), code: 403, want: "read-only", reason: RefusedReadOnly},
		{name: "no token", r: good(req{auth: "-"}), code: 401, want: "admin token is required", reason: RefusedNoToken},
		{name: "wrong token", r: good(req{auth: "Bearer not-the-token-at-all"}), code: 401, want: "wrong admin token", reason: RefusedBadToken},
		{name: "token as basic auth", r: good(req{auth: "Basic dXNlcjp0aGUtYWRtaW4tdG9rZW4tMDEyMzQ1Njc4OQ=="}), code: 401, reason: RefusedNoToken},
		{name: "token prefix", r: good(req{auth: "Bearer " + testToken[:10]}), code: 401, reason: RefusedBadToken},
		{name: "token in the query", r: good(req{path: "/api/dead-letters/retry?token=" + testToken, auth: "-"}), code: 400, want: "parameters in the URL are refused", reason: RefusedTokenInURL},
		{name: "token in the query and the header", r: good(req{path: "/api/dead-letters/retry?access_token=" + testToken}), code: 400, reason: RefusedTokenInURL},
		{name: "another origin", r: good(req{origin: "http://evil.example"}), code: 403, want: "cross-origin", reason: RefusedCrossOrigin},
		{name: "origin null", r: good(req{origin: "null"}), code: 403, reason: RefusedCrossOrigin},
		{name: "same host other port", r: good(req{origin: "http://HOST:1"}), code: 403, reason: RefusedCrossOrigin},
		{name: "same host and port, https", r: good(req{origin: "https://HOSTPORT"}), code: 403, want: "is not this server (http://", reason: RefusedCrossOrigin},
		{name: "cross-site fetch", r: good(req{site: "cross-site"}), code: 403, want: "Sec-Fetch-Site", reason: RefusedCrossOrigin},
		{name: "same-site fetch", r: good(req{site: "same-site"}), code: 403, reason: RefusedCrossOrigin},
		{name: "a form post", r: good(req{ctype: "application/x-www-form-urlencoded", body: "sink=hook&all=true"}), code: 415, reason: RefusedBadRequest},
		{name: "not a valid action", r: good(req{body: `{"sink":"hook","seqs":[1],"all":true}`}), code: 400, want: "not both", reason: RefusedBadRequest},
		{name: "no sink", r: good(req{body: `{"all":true}`}), code: 400, reason: RefusedBadRequest},
		{name: "unknown field", r: good(req{body: `{"sink":"hook","all":true,"force":1}`}), code: 400, reason: RefusedBadRequest},
		{name: "unknown sink", r: good(req{body: `{"sink":"nope","all":true}`}), code: 404, reaches: true},
		{name: "refused by the rules", r: good(req{body: `{"sink":"cut","seqs":[3]}`}), code: 409, reaches: true},
		{name: "before the lanes started", r: good(req{body: `{"sink":"starting","all":true}`}), code: 503, want: "still starting", reaches: true},
		{name: "retry, same origin", r: good(req{origin: "http://HOST", site: "same-origin"}), code: 200, reaches: true},
		{name: "drop all, no origin (curl)", r: good(req{path: "/api/dead-letters/drop", body: `{"sink":"hook","all":true}`}), code: 200, reaches: true},
		{name: "lower-case bearer", r: good(req{auth: "bearer " + testToken}), code: 200, reaches: true},
		{name: "GET is not an action", r: req{method: "GET", path: "/api/dead-letters/retry"}, code: 405},
		{name: "a rebound host name", r: good(req{host: "evil.example:8977", origin: "http://evil.example:8977"}), code: 421, want: "not a loopback name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Listen: "127.0.0.1:0", AdminToken: testToken}
			if tc.readOnly {
				cfg.AdminToken = ""
			}
			set := metrics.NewSet()
			src := &pageSource{}
			s := New(cfg, health.New(nil), set, discard())
			s.SetStatus(src)
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://")
			r, err := http.NewRequest(tc.r.method, srv.URL+tc.r.path, strings.NewReader(tc.r.body))
			require.NoError(t, err)
			if tc.r.ctype != "" {
				r.Header.Set("Content-Type", tc.r.ctype)
			}
			if tc.r.auth != "" && tc.r.auth != "-" {
				r.Header.Set("Authorization", tc.r.auth)
			}
			if tc.r.origin != "" {
				r.Header.Set("Origin", strings.ReplaceAll(strings.ReplaceAll(tc.r.origin, "HOSTPORT", host), "HOST", strings.Split(host, ":")[0]))
				if tc.r.origin == "http://HOST" {
					r.Header.Set("Origin", "http://"+host)
				}
			}
			if tc.r.site != "" {
				r.Header.Set("Sec-Fetch-Site", tc.r.site)
			}
			if tc.r.host != "" {
				r.Host = tc.r.host
			}
			resp, err := client.Do(r)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, tc.code, resp.StatusCode, string(body))
			if tc.want != "" {
				require.Contains(t, string(body), tc.want)
			}
			require.NotContains(t, string(body), testToken, "the token is never echoed")
			if tc.code == 401 {
				require.Equal(t, `Bearer realm="edgerelay"`, resp.Header.Get("WWW-Authenticate"))
			}
			require.Equal(t, tc.reaches, len(src.Calls()) == 1, "calls: %v", src.Calls())
			if tc.reason != "" {
				require.Equal(t, uint64(1), set.GetOrCreateCounter(series(MetricAdminRefused, "reason", tc.reason)).Get())
			}
		})
	}
}

// TestAdminRateLimit: after AdminBurst wrong tokens every admin request is refused,
// the right token too, without looking at it; AdminRefill later one more try is
// allowed. The clock is the test's.
func TestAdminRateLimit(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := New(Config{AdminToken: testToken}, health.New(nil), metrics.NewSet(), discard())
	s.admin.now = clock
	src := &pageSource{}
	s.SetStatus(src)
	post := func(tok string) int {
		rec := httptest.NewRecorder()
		r := localReq("POST", "/api/dead-letters/retry", strings.NewReader(`{"sink":"hook","all":true}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+tok)
		s.Handler().ServeHTTP(rec, r)
		if rec.Code == 429 {
			require.NotEmpty(t, rec.Header().Get("Retry-After"))
		}
		return rec.Code
	}
	for i := range AdminBurst {
		require.Equal(t, 401, post(fmt.Sprintf("guess-%02d-xxxxxxxxxxxx", i)), "guess %d", i)
	}
	require.Equal(t, 429, post("another-guess-xxxxxxxxx"))
	require.Equal(t, 429, post(testToken), "the right token waits too: the budget is not a guessing oracle")
	require.Empty(t, src.Calls())
	mu.Lock()
	now = now.Add(AdminRefill)
	mu.Unlock()
	require.Equal(t, 200, post(testToken))
	require.Equal(t, 401, post("guess-after-xxxxxxxxxxx"), "one more try came back")
	require.Equal(t, 429, post(testToken))
}

// TestAdminTokenFile: the token from a file (a systemd credential), trimmed; the
// two keys together, an empty file and a short token are configuration errors.
func TestAdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/admin"
	require.NoError(t, writeFile(file, testToken+"\n"))
	tok, err := Config{AdminTokenFile: file}.AdminSecret()
	require.NoError(t, err)
	require.Equal(t, testToken, tok.Reveal())
	_, err = Config{AdminToken: testToken, AdminTokenFile: file}.AdminSecret()
	require.ErrorContains(t, err, "set only one of them")
	require.NoError(t, writeFile(file, "\n"))
	_, err = Config{AdminTokenFile: file}.AdminSecret()
	require.ErrorContains(t, err, "is empty")
	c := Config{AdminToken: "short"}
	require.ErrorContains(t, c.Validate(), "http.admin_token: the token is 5 bytes; use at least 16")
	require.NotContains(t, c.Validate().Error(), "short", "the error never shows the token")
}

// TestRootNegotiation: / answers ilagent's text to everything but a browser, which
// gets the page with its security headers; the page holds no inline script or style.
func TestRootNegotiation(t *testing.T) {
	s := New(Config{Version: "1.2.3"}, health.New(nil), nil, discard())
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		accept string
		html   bool
	}{
		{"", false},
		{"*/*", false},
		{"text/plain", false},
		{"application/json", false},
		{"text/plain, text/html;q=0.5", false},
		{"text/html;q=0", false},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", true}, // Chromium
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},                       // Firefox
		{"TEXT/HTML", true},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			r, _ := http.NewRequest("GET", srv.URL+"/", nil)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			resp, err := client.Do(r)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode)
			if !tc.html {
				require.Equal(t, "edgerelay/1.2.3", string(b))
				require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"))
				return
			}
			require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html"))
			require.Equal(t, pageCSP, resp.Header.Get("Content-Security-Policy"))
			require.Contains(t, pageCSP, "default-src 'self'")
			require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			require.Contains(t, string(b), `<script src="/ui/app.js" defer></script>`)
		})
	}
	// DNS rebinding: a browser sent here under another name gets no page and no
	// status; a non-browser still gets ilagent's answer.
	for _, tc := range []struct {
		path, accept string
		code         int
	}{{"/", "text/html", 421}, {"/", "", 200}, {"/api/status", "", 421}, {"/api/status/stream", "", 421}, {"/ui/app.js", "", 421}} {
		r, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
		r.Host = "rebound.example:8977"
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		resp, err := client.Do(r)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, tc.code, resp.StatusCode, tc.path)
	}
	for host, ok := range map[string]bool{"127.0.0.1:8977": true, "localhost:8977": true, "[::1]:8977": true, "LOCALHOST": true,
		"127.0.0.2": true, "gw.local:8977": false, "10.0.0.1:8977": false, "": false} {
		require.Equal(t, ok, loopbackHost(host), host)
	}
	wide := New(Config{Listen: "0.0.0.0:8977"}, health.New(nil), nil, discard())
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/ui/app.js", nil) // Host example.com
	wide.Handler().ServeHTTP(rec, r)
	require.Equal(t, 200, rec.Code, "on a wider listen address any Host is served")

	raw, _ := uiFS.ReadFile("ui/index.html")
	html := string(raw)
	for _, m := range regexp.MustCompile(`(?s)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(html, -1) {
		require.Contains(t, m[1], "src=", "no inline script")
		require.Empty(t, strings.TrimSpace(m[2]), "no inline script")
	}
	require.NotRegexp(t, `(?i)\son[a-z]+=`, html, "no inline event handlers")
	require.NotContains(t, html, "style=", "no inline style")
	require.NotContains(t, html, "<style", "no inline style")
	require.NotRegexp(t, `(?i)(src|href)="(https?:)?//`, html, "nothing from elsewhere")
}

// TestAssets: the page's files, gzip-compressed for a client that takes it, with a
// validator; the page itself only at /.
func TestAssets(t *testing.T) {
	s := New(Config{}, health.New(nil), nil, discard())
	for _, name := range []string{"app.js", "app.css"} {
		rec := httptest.NewRecorder()
		r := localReq("GET", "/ui/"+name, nil)
		r.Header.Set("Accept-Encoding", "gzip, deflate")
		s.Handler().ServeHTTP(rec, r)
		require.Equal(t, 200, rec.Code, name)
		require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
		require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
		etag := rec.Header().Get("ETag")
		rec = httptest.NewRecorder()
		r = localReq("GET", "/ui/"+name, nil)
		r.Header.Set("If-None-Match", etag)
		s.Handler().ServeHTTP(rec, r)
		require.Equal(t, 304, rec.Code)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, localReq("GET", "/ui/app.js", nil))
	require.Equal(t, "text/javascript; charset=utf-8", rec.Header().Get("Content-Type"))
	require.NotContains(t, rec.Body.String(), "innerHTML", "texts from the daemon are never parsed as HTML")
	require.NotContains(t, rec.Body.String(), "eval(")
	for _, p := range []string{"/ui/index.html", "/ui/nope.js", "/ui/%2e%2e%2fgo.mod"} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, localReq("GET", p, nil))
		require.Equal(t, 404, rec.Code, p)
	}
	raw, gz := PageWeight()
	require.Greater(t, raw, gz)
}

// TestStatusStream: the stream sends the document at once and again when it changes
// (not when only Now moves), heartbeats while quiet, outlives the server's read
// timeout, allows MaxStreams at once, and ends when the server shuts down so that
// Serve's graceful shutdown is not held up.
func TestStatusStream(t *testing.T) {
	var log adaptertest.Buffer
	s := New(Config{Listen: "127.0.0.1:0", ReadTimeout: 50 * time.Millisecond, ShutdownTimeout: time.Minute},
		health.New(nil), nil, slogTo(&log))
	s.streamEvery, s.streamHeartbeat = 10*time.Millisecond, 100*time.Millisecond // a heartbeat outlasts the read timeout
	src := &pageSource{st: Status{Node: "gw-1", State: "ok"}}
	s.SetStatus(src)
	require.NoError(t, s.Listen())
	stop := serve(t, s)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	url := "http://" + s.Addr() + "/api/status/stream"
	streamClient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	resp, err := streamClient.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	rd := bufio.NewReader(resp.Body)
	next := func(prefix string) string { // the next line starting with prefix
		t.Helper()
		for {
			line, err := rd.ReadString('\n')
			require.NoError(t, err)
			if strings.HasPrefix(line, prefix) {
				return line
			}
		}
	}
	require.Contains(t, next("data: "), `"node":"gw-1"`)
	next(": heartbeat") // only Now changes: quiet, then a heartbeat
	src.set(func(st *Status) { st.State = "degraded" })
	require.Contains(t, next("data: "), `"state":"degraded"`, "a change goes out, after the read timeout passed")

	// MaxStreams at once: this one and MaxStreams-1 more; the next is refused.
	var more []*http.Response
	for range MaxStreams - 1 {
		r, err := streamClient.Get(url)
		require.NoError(t, err)
		require.Equal(t, 200, r.StatusCode)
		more = append(more, r)
	}
	over, err := streamClient.Get(url)
	require.NoError(t, err)
	b, _ := io.ReadAll(over.Body)
	over.Body.Close()
	require.Equal(t, 503, over.StatusCode)
	require.Contains(t, string(b), "poll /api/status")

	stop() // returns once Shutdown is done: the streams must end for it
	stopped = true
	_, err = io.ReadAll(rd)
	require.NoError(t, err, "the stream ended cleanly")
	for _, r := range more {
		_, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	require.NotContains(t, log.String(), "http shutdown timed out")
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// localReq is httptest.NewRequest with the Host a browser on the gateway sends (its
// default, example.com, is refused by hostAllowed on a loopback listener).
func localReq(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.Host = "127.0.0.1:8977"
	return r
}
