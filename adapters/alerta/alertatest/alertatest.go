// Package alertatest is a fake of the Alerta 9.1 API for tests and benchmarks, in
// the spirit of net/http/httptest: a real HTTP server on 127.0.0.1 that answers as
// a default Alerta server does (federation spec §3.3, §4, §5, §6), so that a test
// written against it holds against a real server. It is built on the federation's
// model (alerta.DecodeAlert for §5.1 validation, alerta.Book for de-duplication,
// correlation, the alarm model and id lookup).
//
// It answers POST /alert, PUT /alert/{id}/action, DELETE /alert/{id}, GET
// /alert/{id}, GET /alerts, POST /heartbeat and GET /heartbeats under an optional
// path prefix, with Alerta's auth (§4.1: API keys with scopes, Hawk, Basic, opaque
// bearer tokens, AUTH_REQUIRED), Alerta's plugin order (remote_ip, reject,
// heartbeat, forwarder) and Alerta's substring loop check — not the stricter one of
// edgerelay's receiver. Unlike Alerta it never puts a secret in an answer: no
// expected Hawk MAC, no echoed API key.
//
// It records every request, injects faults (FailNext, DropNext, SetDelay, SetDown)
// and forgets its alerts on Reset (a re-created target, alerta/alerta#1340). See
// README.md for what it leaves out.
package alertatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters/adaptertest/fakehttp"
	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
)

// APIKey is one API key the fake accepts (Authorization: Key, X-API-Key or
// ?api-key=).
type APIKey struct {
	// Key is the key itself.
	Key string
	// Scopes are Alerta scopes: "read", "write", "admin", "read:alerts",
	// "write:alerts", "delete:alerts", "write:heartbeats", ….
	Scopes []string
}

// User is one Basic-auth user.
type User struct {
	// Username and Password are the credentials; Alerta logs in by e-mail or login.
	Username, Password string
	// Scopes are the user's scopes (from its roles, in Alerta).
	Scopes []string
}

// Token is one bearer token. Alerta only accepts JWTs it signed itself; the fake
// takes opaque tokens instead, which is what a sink under test sends anyway.
type Token struct {
	// Token is the token as sent after "Bearer ".
	Token string
	// Scopes are the token's scopes.
	Scopes []string
}

// Plugin names of Options.Plugins.
const (
	PluginRemoteIP  = "remote_ip"
	PluginReject    = "reject"
	PluginHeartbeat = "heartbeat"
	PluginForwarder = "forwarder"
)

// DefaultPlugins is Alerta's default PLUGINS, less blackout (the fake has no
// blackouts).
var DefaultPlugins = []string{PluginRemoteIP, PluginReject, PluginHeartbeat, PluginForwarder}

// Options configure a fake. The zero value is a default Alerta server with
// AUTH_REQUIRED off.
type Options struct {
	// Prefix is the path the API is served under, "" or like "/api" (no trailing
	// slash). Requests outside it answer 404.
	Prefix string
	// BaseURL is the server's BASE_URL, its loop identity (§3.1); empty means
	// URL()+Prefix, the URL tests address it by.
	BaseURL string
	// AuthRequired is AUTH_REQUIRED: without it, a request with no credentials is
	// allowed (credentials that are sent are still checked, as Alerta does).
	AuthRequired bool
	// AllowReadonly is ALLOW_READONLY: an anonymous request gets READONLY_SCOPES
	// (read) when AuthRequired is set.
	AllowReadonly bool
	// APIKeys, Hawk, Users and Tokens are the credentials accepted.
	APIKeys []APIKey
	Hawk    []hawk.Credentials
	Users   []User
	Tokens  []Token
	// HawkReplayCache turns on a replay cache for Hawk nonces; Alerta has none
	// (§4.2 step 4), so by default the same signed request passes twice.
	HawkReplayCache bool
	// DeleteScopes is DELETE_SCOPES: with "delete:alerts" in it, a DELETE needs
	// admin, admin:alerts or delete:alerts (write is not enough).
	DeleteScopes []string
	// Plugins is PLUGINS, in order; nil means DefaultPlugins. Known names are
	// PluginRemoteIP, PluginReject, PluginHeartbeat and PluginForwarder.
	Plugins []string
	// AllowedEnvironments is ALLOWED_ENVIRONMENTS (regular expressions, full
	// match); nil means Production and Development, an empty list refuses every
	// alert (as Alerta's reject plugin with an empty list).
	AllowedEnvironments []string
	// HeartbeatEvents is HEARTBEAT_EVENTS; nil means ["Heartbeat"].
	HeartbeatEvents []string
	// PluginsNoRaise is PLUGINS_RAISE_ON_ERROR=False: a looped DELETE then deletes
	// and answers 200 instead of 500.
	PluginsNoRaise bool
	// Origin is the default origin of an alert that has none; empty means
	// "alertad/alertatest".
	Origin string
	// MaxAlerts bounds the book (oldest closed alert evicted first); zero means
	// 100000.
	MaxAlerts int
	// MaxBody bounds a request body; beyond it the answer is 413. Zero means 1 MiB.
	MaxBody int64
	// Now tells the time (Hawk skew, createTime defaults, receive times); nil
	// means time.Now.
	Now func() time.Time
	// ProxyFix is USE_PROXYFIX: the Host and scheme a Hawk MAC is checked against
	// come from X-Forwarded-Host and X-Forwarded-Proto when present (a TLS proxy in
	// front: port 443 by default).
	ProxyFix bool
	// DownResets makes SetDown(true) keep the port open and reset every
	// connection (RST) instead of refusing it.
	DownResets bool
}

// Request is one request the fake received, recorded before any fault applied.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Path is the URL path as received, prefix included.
	Path string
	// Query is the raw query string.
	Query string
	// Header is a copy of the request headers.
	Header http.Header
	// Body is the request body (at most MaxBody bytes).
	Body []byte
	// Time is when it arrived, by Options.Now.
	Time time.Time
	// RequestID is the request id the fake answered with (X-Request-ID).
	RequestID string
	// Status is the status answered: 0 while it is in flight, Dropped when the
	// connection was dropped (DropNext, or the client gave up during a delay).
	Status int
}

// fault is an injected failure: an answer's status, or a dropped connection.
type fault struct {
	status int
	drop   bool
}

// Server is a fake Alerta server. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	plugins  []string
	envs     []string
	envRes   []*regexp.Regexp
	hbEvents []string
	verifier *hawk.Verifier
	now      func() time.Time

	downMu sync.Mutex // serializes SetDown

	mu      sync.Mutex // guards every field below
	srv     *httptest.Server
	addr    string // the listening address, kept across SetDown
	down    net.Listener
	book    *alerta.Book
	reqs    []Request
	changed chan struct{} // closed and replaced whenever reqs changes
	faults  fakehttp.Queue[fault]
	delay   time.Duration
	closed  bool
	noRec   bool // SetRecord(false)
}

// New returns a fake configured by opts; Start serves it.
func New(opts Options) *Server {
	s := &Server{opts: opts, changed: make(chan struct{})}
	s.plugins = opts.Plugins
	if s.plugins == nil {
		s.plugins = DefaultPlugins
	}
	s.envs = opts.AllowedEnvironments
	if s.envs == nil {
		s.envs = []string{"Production", "Development"}
	}
	s.envRes = compileEnvironments(s.envs)
	s.hbEvents = opts.HeartbeatEvents
	if s.hbEvents == nil {
		s.hbEvents = []string{"Heartbeat"}
	}
	if s.opts.Origin == "" {
		s.opts.Origin = "alertad/alertatest"
	}
	if s.opts.MaxAlerts <= 0 {
		s.opts.MaxAlerts = 100000
	}
	if s.opts.MaxBody <= 0 {
		s.opts.MaxBody = 1 << 20
	}
	s.now = opts.Now
	if s.now == nil {
		s.now = time.Now
	}
	creds := map[string]hawk.Credentials{}
	for _, c := range opts.Hawk {
		creds[c.ID] = c
	}
	s.verifier = &hawk.Verifier{
		Lookup:      func(id string) (hawk.Credentials, bool) { c, ok := creds[id]; return c, ok },
		Now:         s.now,
		AllowReplay: !opts.HawkReplayCache,
	}
	s.book = s.newBook()
	return s
}

// newBook returns an empty book. Alerta bounds no alert's size, so neither does
// the fake beyond MaxBody: MaxStored is off.
func (s *Server) newBook() *alerta.Book {
	b := alerta.NewBook(s.opts.MaxAlerts)
	b.MaxStored = 0
	return b
}

// NewServer starts a fake configured by opts and closes it when the test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatalf("alertatest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start serves the fake on a free port of 127.0.0.1.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil || s.closed {
		_ = ln.Close()
		return errors.New("already started")
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return nil
}

// serve starts an httptest server on ln. The caller holds s.mu.
func (s *Server) serve(ln net.Listener) { s.srv = fakehttp.Serve(s, ln) }

// Close shuts the fake down, dropping open connections. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	srv, down := s.srv, s.down
	s.srv, s.down, s.closed = nil, nil, true
	s.mu.Unlock()
	if down != nil {
		_ = down.Close()
	}
	if srv != nil {
		srv.CloseClientConnections()
		srv.Close()
	}
}

// URL returns "http://127.0.0.1:port", without the prefix.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr
}

// BaseURL returns the server's BASE_URL: Options.BaseURL, or URL()+Prefix. It is
// what a forwarder's destination URL (and so its loop skip) must equal.
func (s *Server) BaseURL() string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	return s.URL() + s.opts.Prefix
}

// SetDown takes the server down (true) or brings it back on the same port (false).
// Down, the listener is closed and connections are dropped, so a client gets
// connection refused — or, with Options.DownResets, a reset on every connection.
// Alerts and records are kept. Bringing it back fails when the port was taken
// meanwhile.
func (s *Server) SetDown(down bool) error {
	// downMu serializes SetDown; s.mu is not held while the old server closes,
	// because closing waits for handlers that take s.mu to record their answer.
	s.downMu.Lock()
	defer s.downMu.Unlock()
	s.mu.Lock()
	if s.closed || s.addr == "" {
		s.mu.Unlock()
		return errors.New("not started")
	}
	srv, rst, addr := s.srv, s.down, s.addr
	if down {
		s.srv = nil
	} else {
		s.down = nil
	}
	s.mu.Unlock()
	if down {
		if srv == nil {
			return nil
		}
		srv.CloseClientConnections()
		srv.Close()
		if !s.opts.DownResets {
			return nil
		}
		return s.listenAgain(addr, func(ln net.Listener) {
			s.down = ln
			go resetAll(ln)
		})
	}
	if srv != nil {
		return nil
	}
	if rst != nil {
		_ = rst.Close()
	}
	return s.listenAgain(addr, s.serve)
}

// listenAgain takes addr back and hands its listener to use under s.mu, unless
// the fake was closed meanwhile.
func (s *Server) listenAgain(addr string, use func(net.Listener)) error {
	ln, err := fakehttp.ListenAgain(addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ln.Close()
	}
	use(ln)
	return nil
}

// resetAll accepts connections on ln and resets each at once (SO_LINGER 0). It
// returns when ln is closed (SetDown(false) or Close).
func resetAll(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

// FailNext makes the next n requests, whatever their path, answer code with
// Alerta's error envelope ("injected failure").
func (s *Server) FailNext(n, code int) { s.FailPath("*", n, code) }

// FailPath makes the next n requests whose path (prefix included) matches
// pattern answer code. The pattern is a path.Match pattern ("/api/alert",
// "/alert/*/action"); "*" alone matches every path. Faults queue up in the order
// they were added.
func (s *Server) FailPath(pattern string, n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(pattern, n, fault{status: code})
}

// DropNext makes the next n requests whose path matches pattern lose their
// connection: the fake reads the request, then closes the connection without an
// answer.
func (s *Server) DropNext(pattern string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(pattern, n, fault{drop: true})
}

// SetDelay delays every answer by d (or until the client gives up); zero removes
// the delay.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = max(d, 0)
}

// Reset forgets every alert and heartbeat, as a re-created target does
// (alerta/alerta#1340): actions and deletes then answer 404. Records, faults and
// the delay stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.book = s.newBook()
}

// SetRecord turns the recording of requests on (the default) or off. Off, the
// fake answers as before but keeps no record (Requests, Count and WaitFor see
// nothing new): for a benchmark whose sink counts its own deliveries, so that a
// growing record does not weigh on the machine it measures.
func (s *Server) SetRecord(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noRec = !on
}

// ClearRequests forgets the recorded requests.
func (s *Server) ClearRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
	s.notify()
}

// notify wakes the waiters. The caller holds s.mu.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Requests returns every request received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Count returns how many requests with method (any when empty) and a path
// matching pattern (path.Match, prefix included; "*" is every path) were received.
func (s *Server) Count(method, pattern string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.reqs {
		if (method == "" || r.Method == method) && fakehttp.Match(pattern, r.Path) {
			n++
		}
	}
	return n
}

// WaitFor waits until n requests have been answered (or dropped), and returns
// every request recorded then; it fails when ctx ends first.
func (s *Server) WaitFor(ctx context.Context, n int) ([]Request, error) {
	return s.WaitMatch(ctx, n, nil)
}

// WaitMatch waits until n answered requests satisfy match (every request when
// match is nil) and returns those requests; it fails when ctx ends first.
func (s *Server) WaitMatch(ctx context.Context, n int, match func(Request) bool) ([]Request, error) {
	for {
		s.mu.Lock()
		var got []Request
		for _, r := range s.reqs {
			if r.Status != 0 && (match == nil || match(r)) {
				got = append(got, r)
			}
		}
		ch := s.changed
		s.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return got, fmt.Errorf("alertatest: %d of %d requests: %w", len(got), n, ctx.Err())
		}
	}
}

// Dropped is the Request.Status of a request that got no answer.
const Dropped = -1

// Alerts returns every stored alert, ordered by id.
func (s *Server) Alerts() []alerta.Stored {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.book.All()
	out := make([]alerta.Stored, 0, len(all))
	for _, st := range all {
		out = append(out, *st)
	}
	return out
}

// Alert returns the alert id names as Alerta resolves it (§5.3: a case-insensitive
// prefix of its id or lastReceiveId).
func (s *Server) Alert(id string) (alerta.Stored, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.book.Resolve(id)
	if !ok {
		return alerta.Stored{}, false
	}
	return *st, true
}

// ServeHTTP implements http.Handler: it records the request, applies the faults
// and the delay, then answers as Alerta.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := r.Header.Get(alerta.HeaderRequestID)
	if rid == "" {
		rid = r.Header.Get("X-Amzn-Trace-Id")
	}
	if rid == "" {
		rid = alerta.NewUUID()
	}
	w.Header().Set(alerta.HeaderRequestID, rid)
	body, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxBody+1))
	tooLarge := int64(len(body)) > s.opts.MaxBody
	if tooLarge {
		body = body[:s.opts.MaxBody]
	}

	s.mu.Lock()
	idx, record := len(s.reqs), !s.noRec
	if record {
		s.reqs = append(s.reqs, Request{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(),
			Body: body, Time: s.now(), RequestID: rid,
		})
		s.notify()
	}
	f, faulty := s.faults.Take(r.URL.Path)
	delay := s.delay
	s.mu.Unlock()

	rec := &fakehttp.StatusRecorder{ResponseWriter: w}
	defer func() {
		if !record {
			return
		}
		s.mu.Lock()
		if idx < len(s.reqs) && s.reqs[idx].RequestID == rid {
			s.reqs[idx].Status = rec.Status
			if rec.Status == 0 {
				s.reqs[idx].Status = Dropped
			}
		}
		s.notify()
		s.mu.Unlock()
	}()
	if !fakehttp.Delay(r.Context(), delay) {
		return
	}
	switch {
	case faulty && f.drop:
		fakehttp.Drop(w)
	case faulty:
		writeError(rec, rid, &alerta.Error{Code: f.status, Message: "injected failure"})
	case err != nil:
		writeError(rec, rid, &alerta.Error{Code: http.StatusBadRequest, Message: "read body: " + err.Error()})
	case tooLarge:
		writeHTTPError(rec, rid, http.StatusRequestEntityTooLarge, "The data value transmitted exceeds the capacity limit.")
	default:
		s.route(rec, r, body, rid)
	}
}

// route dispatches a request to its endpoint, as Flask's router does: an unknown
// path is 404, a known path with another method 405.
func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte, rid string) {
	p, ok := strings.CutPrefix(r.URL.Path, s.opts.Prefix)
	if !ok || (s.opts.Prefix != "" && p != "" && p[0] != '/') {
		notFound(w, rid)
		return
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	c := &call{s: s, w: w, r: r, body: body, rid: rid}
	switch {
	case p == "/alert":
		c.method(http.MethodPost, "write:alerts", c.receive)
	case p == "/alerts":
		c.method(http.MethodGet, "read:alerts", c.query)
	case p == "/heartbeat":
		c.method(http.MethodPost, "write:heartbeats", c.heartbeat)
	case p == "/heartbeats":
		c.method(http.MethodGet, "read:heartbeats", c.heartbeats)
	case len(parts) == 2 && parts[0] == "alert" && parts[1] != "":
		c.id = parts[1]
		switch r.Method {
		case http.MethodGet:
			c.auth("read:alerts", c.get)
		case http.MethodDelete:
			c.auth("delete:alerts", c.delete)
		default:
			methodNotAllowed(w, rid, "GET, DELETE")
		}
	case len(parts) == 3 && parts[0] == "alert" && parts[1] != "" && parts[2] == "action":
		c.id = parts[1]
		c.method(http.MethodPut, "write:alerts", c.action)
	default:
		notFound(w, rid)
	}
}
