// Package ilerttest is a fake of the ilert API for tests, in the spirit of
// net/http/httptest: NewServer starts a real HTTP server on 127.0.0.1 that answers
// the calls edgerelay (and ilagent before it) makes to ilert:
//
//   - POST /api/events, POST /api/v1/events/mqtt/{key}, POST /api/v1/events/kafka/{key}:
//     the event body is validated (eventType ALERT, ACCEPT, RESOLVE or COMMENT;
//     priority HIGH, LOW or null; an integration key in the body or the path) and
//     answered 202 with a correlation-id header, or 400 with a JSON error body;
//   - GET /api/heartbeats/{key} (legacy il1hbt keys) and HEAD /api/pings/{key}: 202;
//   - POST /api/users/search-email, GET /api/escalation-policies/resolve?routing-key=
//     and PUT /api/escalation-policies/{id}/levels/{shift}, answered from seeded users
//     and policies and requiring "Authorization: Bearer <api key>";
//   - GET /api/edge-connections/events: the edge connector's poll, from per-key
//     queues (AddEdge, AddEdgeItems) with after-id paging, or with HA leader
//     election per cluster (cluster-id, instance-id, last-processed-id), a
//     settable leader lease and 7-day retention by a settable clock (see edge.go).
//
// The server records every request and can inject faults per path pattern: status
// codes (FailNext), canned answers (RespondNext), delays (SetDelay) and dropped
// connections (DropNext). It is safe for concurrent use.
package ilerttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters/adaptertest/fakehttp"
)

// Request is one request the server received, recorded before any fault applied.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Path is the URL path, unescaped.
	Path string
	// Query is the raw query string.
	Query string
	// Header is a copy of the request headers.
	Header http.Header
	// Body is the request body.
	Body []byte
	// Status is the status the server answered, or 0 when it dropped the connection.
	Status int
}

// Event is one event the server accepted (answered 202).
type Event struct {
	// Source is "events" for POST /api/events, else "mqtt" or "kafka".
	Source string
	// PathKey is the integration key from the path ("" for /api/events).
	PathKey string
	// Body is the request body as received.
	Body []byte
	// Fields is Body decoded.
	Fields map[string]json.RawMessage
	// CorrelationID is the correlation-id the server answered with.
	CorrelationID string
}

// Heartbeat is one heartbeat the server accepted.
type Heartbeat struct {
	// Legacy is true for GET /api/heartbeats/{key}, false for HEAD /api/pings/{key}.
	Legacy bool
	// Key is the heartbeat key from the path.
	Key string
}

// Rule is one escalation rule (level) of a seeded policy.
type Rule struct {
	// EscalationTimeout is the level's timeout in minutes.
	EscalationTimeout int64 `json:"escalationTimeout"`
	// Users are the ids of the level's users.
	Users []int64 `json:"-"`
}

// Policy is a seeded escalation policy.
type Policy struct {
	// ID is the policy id.
	ID int64
	// Rules are the levels, indexed by shift.
	Rules []Rule
}

// LevelUpdate is one accepted PUT /api/escalation-policies/{id}/levels/{shift}.
type LevelUpdate struct {
	// PolicyID and Shift are taken from the path.
	PolicyID int64
	Shift    int
	// EscalationTimeout and Users are taken from the body.
	EscalationTimeout int64
	Users             []int64
}

// fault is an injected failure: an answer's status and headers, or a dropped
// connection.
type fault struct {
	status int
	header http.Header
	drop   bool
	body   []byte // when not nil, answered as is instead of the JSON error body
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	corrID atomic.Int64 // numbers correlation ids

	mu       sync.Mutex // guards every field below
	gen      int        // incremented by Reset: requests in flight across it are not recorded back
	srv      *httptest.Server
	apiKey   string
	faults   fakehttp.Queue[fault]
	delays   map[string]time.Duration
	reqs     []Request
	events   []Event
	beats    []Heartbeat
	users    map[string]int64 // e-mail → user id
	noRecord bool             // SetRecord(false): validate and answer, keep nothing
	policies map[string]*Policy
	updates  []LevelUpdate
	edgeSt   *edgeState // the edge endpoint's queues, clusters and polls; nil until used
}

// NewServer starts a fake on 127.0.0.1 and closes it when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{
		delays:   map[string]time.Duration{},
		users:    map[string]int64{},
		policies: map[string]*Policy{},
	}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// URL returns the base URL ("http://127.0.0.1:port"), to use as api_host and
// heartbeat_host.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv.URL
}

// Close shuts the server down, dropping open connections. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	srv.CloseClientConnections()
	srv.Close()
}

// Restart closes the server (dropping its connections) and serves again on the same
// address, keeping the recorded state. It returns an error if the port cannot be
// taken back; tests usually skip then.
func (s *Server) Restart() error {
	s.mu.Lock()
	old := s.srv
	s.mu.Unlock()
	addr := old.Listener.Addr().String()
	old.CloseClientConnections()
	old.Close()
	ln, err := fakehttp.ListenAgain(addr)
	if err != nil {
		return err
	}
	srv := fakehttp.Serve(s, ln)
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	return nil
}

// SetAPIKey sets the API key the policy endpoints require as "Bearer <key>". Empty
// (the default) accepts any non-empty bearer token.
func (s *Server) SetAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKey = key
}

// AddUser seeds a user for POST /api/users/search-email.
func (s *Server) AddUser(email string, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[email] = id
}

// AddPolicy seeds a policy for GET /api/escalation-policies/resolve?routing-key=.
func (s *Server) AddPolicy(routingKey string, p Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := p
	cp.Rules = append([]Rule(nil), p.Rules...)
	s.policies[routingKey] = &cp
}

// FailNext makes the next n requests whose path matches pattern answer status with a
// JSON error body. The pattern is a path.Match pattern ("/api/events",
// "/api/v1/events/*/*"); "*" alone matches every path. Faults queue up in the order
// they were added.
func (s *Server) FailNext(pattern string, n, status int) {
	s.FailNextWithHeader(pattern, n, status, nil)
}

// FailNextWithHeader is FailNext with extra response headers (Retry-After).
func (s *Server) FailNextWithHeader(pattern string, n, status int, h http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(pattern, n, fault{status: status, header: h.Clone()})
}

// RespondNext makes the next n requests whose path matches pattern answer status with
// exactly body (which may be empty) and the headers in h; when h has no Content-Type,
// net/http guesses one from the body. It suits answers the real API should never give: a 200 whose
// body is not JSON or lacks a field, a resolved policy without escalationRules. The
// pattern and the queueing are FailNext's.
func (s *Server) RespondNext(pattern string, n, status int, h http.Header, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body == nil {
		body = []byte{}
	}
	s.faults.Add(pattern, n, fault{status: status, header: h.Clone(), body: body})
}

// DropNext makes the next n requests whose path matches pattern lose their
// connection: the server reads the request, then hijacks and closes the connection
// without answering.
func (s *Server) DropNext(pattern string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(pattern, n, fault{drop: true})
}

// SetDelay delays the answer to every request whose path matches pattern by d (or
// until the client gives up). Zero removes the delay.
func (s *Server) SetDelay(pattern string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.delays, pattern)
		return
	}
	s.delays[pattern] = d
}

// Requests returns every request received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Events returns every accepted event, in arrival order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Heartbeats returns every accepted heartbeat, in arrival order.
func (s *Server) Heartbeats() []Heartbeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Heartbeat(nil), s.beats...)
}

// LevelUpdates returns every accepted escalation-level update, in arrival order.
func (s *Server) LevelUpdates() []LevelUpdate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LevelUpdate(nil), s.updates...)
}

// SetRecord turns the recording of requests and events on (the default) or off.
// Off, the fake still validates and answers every request as before but keeps no
// record of it: for a benchmark whose own sink counts deliveries, so that the
// fake's growing record does not weigh on the machine it measures.
func (s *Server) SetRecord(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noRecord = !on
}

// Reset forgets recorded requests, events, heartbeats, updates, edge polls and
// pending faults. Seeded users, policies, edge queues, delays and the API key stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs, s.events, s.beats, s.updates = nil, nil, nil, nil
	s.faults.Reset()
	if s.edgeSt != nil {
		s.edgeSt.polls = nil
	}
	s.gen++
}

// maxBody bounds a request body the fake reads.
const maxBody = 1 << 20

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	s.mu.Lock()
	idx, gen, record := len(s.reqs), s.gen, !s.noRecord
	if record {
		s.reqs = append(s.reqs, Request{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: body,
		})
	}
	var delay time.Duration
	for p, d := range s.delays {
		if fakehttp.Match(p, r.URL.Path) {
			delay = max(delay, d)
		}
	}
	f, faulty := s.faults.Take(r.URL.Path)
	s.mu.Unlock()

	if !fakehttp.Delay(r.Context(), delay) {
		return
	}
	rec := &fakehttp.StatusRecorder{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		if record && s.gen == gen { // a Reset during the request dropped its record
			s.reqs[idx].Status = rec.Status
		}
		s.mu.Unlock()
	}()
	if faulty {
		if f.drop {
			fakehttp.Drop(w)
			return
		}
		for k, v := range f.header {
			w.Header()[k] = v
		}
		if f.body != nil {
			rec.WriteHeader(f.status)
			_, _ = rec.Write(f.body)
			return
		}
		writeError(rec, f.status, "injected failure")
		return
	}
	s.route(rec, r, body)
}

// route dispatches a request that no fault claimed.
func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte) {
	p := r.URL.Path
	switch {
	case p == "/api/events":
		s.onlyMethod(w, r, http.MethodPost, func() { s.event(w, "events", "", body) })
	case strings.HasPrefix(p, "/api/v1/events/mqtt/"):
		s.onlyMethod(w, r, http.MethodPost, func() { s.event(w, "mqtt", strings.TrimPrefix(p, "/api/v1/events/mqtt/"), body) })
	case strings.HasPrefix(p, "/api/v1/events/kafka/"):
		s.onlyMethod(w, r, http.MethodPost, func() { s.event(w, "kafka", strings.TrimPrefix(p, "/api/v1/events/kafka/"), body) })
	case strings.HasPrefix(p, "/api/heartbeats/"):
		s.onlyMethod(w, r, http.MethodGet, func() { s.heartbeat(w, true, strings.TrimPrefix(p, "/api/heartbeats/")) })
	case strings.HasPrefix(p, "/api/pings/"):
		s.onlyMethod(w, r, http.MethodHead, func() { s.heartbeat(w, false, strings.TrimPrefix(p, "/api/pings/")) })
	case p == EdgePath:
		s.onlyMethod(w, r, http.MethodGet, func() { s.edgePoll(w, r) })
	case p == "/api/users/search-email":
		s.onlyMethod(w, r, http.MethodPost, func() {
			if s.authorized(w, r) {
				s.searchEmail(w, body)
			}
		})
	case p == "/api/escalation-policies/resolve":
		s.onlyMethod(w, r, http.MethodGet, func() {
			if s.authorized(w, r) {
				s.resolvePolicy(w, r.URL.Query().Get("routing-key"))
			}
		})
	case strings.HasPrefix(p, "/api/escalation-policies/"):
		s.onlyMethod(w, r, http.MethodPut, func() {
			if s.authorized(w, r) {
				s.updateLevel(w, strings.TrimPrefix(p, "/api/escalation-policies/"), body)
			}
		})
	default:
		writeError(w, http.StatusNotFound, "no such endpoint: "+p)
	}
}

func (s *Server) onlyMethod(w http.ResponseWriter, r *http.Request, method string, f func()) {
	if r.Method != method {
		w.Header().Set("Allow", method)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed: "+r.Method)
		return
	}
	f()
}

// authorized checks the bearer token and answers 401 when it is wrong.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	want := s.apiKey
	s.mu.Unlock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" || (want != "" && tok != want) {
		writeError(w, http.StatusUnauthorized, "missing or invalid bearer token")
		return false
	}
	return true
}

// ValidateEvent checks an ilert event body as the fake does: a JSON object whose
// eventType is ALERT, ACCEPT, RESOLVE or COMMENT, whose priority is HIGH, LOW, null or
// absent, and which carries a non-empty string integrationKey unless pathKey is set.
func ValidateEvent(body []byte, pathKey string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, fmt.Errorf("body is not a JSON object")
	}
	var et string
	if raw, ok := m["eventType"]; !ok || json.Unmarshal(raw, &et) != nil {
		return nil, fmt.Errorf("eventType: missing or not a string")
	}
	switch et {
	case "ALERT", "ACCEPT", "RESOLVE", "COMMENT":
	default:
		return nil, fmt.Errorf("eventType: unknown value %q", et)
	}
	if raw, ok := m["priority"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		var pr string
		if json.Unmarshal(raw, &pr) != nil || (pr != "HIGH" && pr != "LOW") {
			return nil, fmt.Errorf("priority: must be HIGH, LOW or null, got %s", raw)
		}
	}
	if pathKey == "" {
		var key string
		if raw, ok := m["integrationKey"]; !ok || json.Unmarshal(raw, &key) != nil || key == "" {
			return nil, fmt.Errorf("integrationKey: missing")
		}
	}
	return m, nil
}

func (s *Server) event(w http.ResponseWriter, source, pathKey string, body []byte) {
	if source != "events" && (pathKey == "" || strings.Contains(pathKey, "/")) {
		writeError(w, http.StatusNotFound, "no integration key in path")
		return
	}
	m, err := ValidateEvent(body, pathKey)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	id := "corr-" + strconv.FormatInt(s.corrID.Add(1), 10)
	s.mu.Lock()
	if !s.noRecord {
		s.events = append(s.events, Event{Source: source, PathKey: pathKey, Body: body, Fields: m, CorrelationID: id})
	}
	s.mu.Unlock()
	w.Header().Set("correlation-id", id)
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) heartbeat(w http.ResponseWriter, legacy bool, key string) {
	if key == "" || strings.Contains(key, "/") {
		writeError(w, http.StatusNotFound, "no heartbeat key in path")
		return
	}
	s.mu.Lock()
	s.beats = append(s.beats, Heartbeat{Legacy: legacy, Key: key})
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) searchEmail(w http.ResponseWriter, body []byte) {
	var req struct {
		Email string `json:"email"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Email == "" {
		writeError(w, http.StatusBadRequest, "email: missing")
		return
	}
	s.mu.Lock()
	id, ok := s.users[req.Email]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "no user with that email")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "email": req.Email})
}

func (s *Server) resolvePolicy(w http.ResponseWriter, routingKey string) {
	if routingKey == "" {
		writeError(w, http.StatusBadRequest, "routing-key: missing")
		return
	}
	s.mu.Lock()
	p, ok := s.policies[routingKey]
	var out map[string]any
	if ok {
		rules := make([]map[string]any, len(p.Rules))
		for i, r := range p.Rules {
			users := make([]map[string]int64, len(r.Users))
			for j, u := range r.Users {
				users[j] = map[string]int64{"id": u}
			}
			rules[i] = map[string]any{"escalationTimeout": r.EscalationTimeout, "users": users}
		}
		out = map[string]any{"id": p.ID, "routingKey": routingKey, "escalationRules": rules}
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "no policy with that routing key")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) updateLevel(w http.ResponseWriter, rest string, body []byte) {
	parts := strings.Split(rest, "/") // {id}/levels/{shift}
	if len(parts) != 3 || parts[1] != "levels" {
		writeError(w, http.StatusNotFound, "no such endpoint")
		return
	}
	id, err1 := strconv.ParseInt(parts[0], 10, 64)
	shift, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || shift < 0 {
		writeError(w, http.StatusBadRequest, "policy id and level must be non-negative integers")
		return
	}
	var req struct {
		EscalationTimeout *int64 `json:"escalationTimeout"`
		Users             []struct {
			ID *int64 `json:"id"`
		} `json:"users"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.EscalationTimeout == nil {
		writeError(w, http.StatusBadRequest, "body: need escalationTimeout and users")
		return
	}
	users := make([]int64, 0, len(req.Users))
	for _, u := range req.Users {
		if u.ID == nil {
			writeError(w, http.StatusBadRequest, "users: every user needs an id")
			return
		}
		users = append(users, *u.ID)
	}
	s.mu.Lock()
	var pol *Policy
	for _, p := range s.policies {
		if p.ID == id {
			pol = p
			break
		}
	}
	switch {
	case pol == nil:
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "no such policy")
		return
	case shift >= len(pol.Rules):
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "no such level")
		return
	}
	pol.Rules[shift] = Rule{EscalationTimeout: *req.EscalationTimeout, Users: users}
	s.updates = append(s.updates, LevelUpdate{PolicyID: id, Shift: shift, EscalationTimeout: *req.EscalationTimeout, Users: users})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"escalationTimeout": *req.EscalationTimeout, "users": req.Users})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers status with an ilert-style JSON error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"status": status, "message": msg, "error": http.StatusText(status)})
}
