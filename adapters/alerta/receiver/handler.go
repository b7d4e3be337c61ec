package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// retryAfter is the Retry-After of a 503 answer, in seconds.
const retryAfter = 5

// maxRequestID bounds an X-Request-ID the receiver echoes; a longer one (or one
// with other characters than printable ASCII) is replaced by a new one.
const maxRequestID = 128

// handler serves the API under the source's prefix.
type handler struct{ s *Source }

var _ http.Handler = (*handler)(nil)

// patterns are the ServeMux patterns the handler is mounted on.
func (h *handler) patterns() []string {
	p := h.s.prefix
	return []string{p + "/alert", p + "/alert/", p + "/alerts", p + "/heartbeat", p + "/heartbeats"}
}

// request is one request being served.
type request struct {
	r    *http.Request
	id   string // the request id: echoed, and requestId in error bodies
	body []byte
}

// ServeHTTP routes a request, authenticates it and answers it. Every answer has
// an X-Request-ID: the client's, or a new one.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rq := &request{r: r, id: requestID(r)}
	w.Header().Set(alerta.HeaderRequestID, rq.id)
	route, id, ok := h.route(r)
	if !ok {
		h.reject(r, RejectNotFound, "no such path")
		h.fail(w, rq, http.StatusNotFound, "The requested URL was not found on the server.")
		return
	}
	if allow := route.allow(); !strings.Contains(","+allow+",", ","+r.Method+",") {
		h.reject(r, RejectMethodNotAllowed, "method not allowed")
		w.Header().Set("Allow", allow)
		h.fail(w, rq, http.StatusMethodNotAllowed, "The method is not allowed for the requested URL.")
		return
	}
	au := h.s.auth
	// A Hawk signature hashes the body; every other credential is checked before
	// the body is read.
	hawkBody := au.wantsBody(r)
	if !hawkBody {
		if e := au.check(r, nil); e != nil {
			h.refuse(w, rq, e)
			return
		}
	}
	limit := h.s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		h.reject(r, RejectTooLarge, "body over max_body_bytes")
		h.fail(w, rq, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes.", limit))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.reject(r, RejectTooLarge, "body over max_body_bytes")
			h.fail(w, rq, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes.", limit))
			return
		}
		h.reject(r, RejectBadRequest, "reading the body failed")
		h.fail(w, rq, http.StatusBadRequest, "The request body could not be read.")
		return
	}
	rq.body = body
	if hawkBody {
		if e := au.check(r, body); e != nil {
			h.refuse(w, rq, e)
			return
		}
	}
	switch {
	case route == routeAlert:
		h.postAlert(w, rq)
	case route == routeAlertID && r.Method == http.MethodGet:
		h.getAlert(w, rq, id)
	case route == routeAlertID:
		h.deleteAlert(w, rq, id)
	case route == routeAction:
		h.putAction(w, rq, id)
	case route == routeAlerts:
		h.getAlerts(w, rq)
	case route == routeHeartbeat:
		h.postHeartbeat(w, rq)
	case route == routeHeartbeats:
		h.getHeartbeats(w, rq)
	}
}

// routes of the API.
type routeKind int

const (
	routeAlert      routeKind = iota + 1 // POST /alert
	routeAlertID                         // GET, DELETE /alert/{id}
	routeAction                          // PUT /alert/{id}/action
	routeAlerts                          // GET /alerts
	routeHeartbeat                       // POST /heartbeat
	routeHeartbeats                      // GET /heartbeats
)

// allow lists the methods of a route, for the Allow header.
func (k routeKind) allow() string {
	switch k {
	case routeAlert, routeHeartbeat:
		return http.MethodPost
	case routeAlertID:
		return http.MethodGet + "," + http.MethodDelete
	case routeAction:
		return http.MethodPut
	}
	return http.MethodGet
}

// route finds the route of r's path and the alert id it names. The id is the
// path segment unescaped (an id with an escaped '/' is one segment).
func (h *handler) route(r *http.Request) (routeKind, string, bool) {
	// The fixed routes match the decoded path, as ServeMux and Alerta's router do
	// (/%61lert is /alert); an id is taken from the escaped path, so that an id
	// with an escaped '/' stays one segment.
	plain, ok := strings.CutPrefix(r.URL.Path, h.s.prefix)
	if !ok {
		return 0, "", false
	}
	switch plain {
	case "/alert":
		return routeAlert, "", true
	case "/alerts":
		return routeAlerts, "", true
	case "/heartbeat":
		return routeHeartbeat, "", true
	case "/heartbeats":
		return routeHeartbeats, "", true
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), h.s.prefix)
	if !ok {
		return 0, "", false
	}
	seg, ok := strings.CutPrefix(rest, "/alert/")
	if !ok {
		return 0, "", false
	}
	kind := routeAlertID
	if s, ok := strings.CutSuffix(seg, "/action"); ok {
		seg, kind = s, routeAction
	}
	if seg == "" || strings.Contains(seg, "/") {
		return 0, "", false
	}
	id, err := url.PathUnescape(seg)
	if err != nil || id == "" || !utf8.ValidString(id) {
		return 0, "", false
	}
	return kind, id, true
}

// requestID returns the client's X-Request-ID (or X-Amzn-Trace-Id) when it is
// short printable ASCII, else a new UUID.
func requestID(r *http.Request) string {
	for _, k := range []string{alerta.HeaderRequestID, "X-Amzn-Trace-Id"} {
		v := r.Header.Get(k)
		if v == "" || len(v) > maxRequestID {
			continue
		}
		good := true
		for i := 0; i < len(v); i++ {
			if v[i] < ' ' || v[i] >= 0x7f {
				good = false
				break
			}
		}
		// An id that carries a credential (a client's mistake or an attacker's
		// probe) is not echoed.
		if good && secret.Redact(v) == v {
			return v
		}
	}
	return alerta.NewUUID()
}

// rejectWith counts and logs a rejection (reject) and answers it with e.
func (h *handler) rejectWith(w http.ResponseWriter, rq *request, reason, detail string, e *alerta.Error) {
	h.reject(rq.r, reason, detail)
	h.failWith(w, rq, e)
}

// reject counts a refused request and logs it, rate-limited per reason. The line
// names the remote host and the method, never the path, a header or the body: any
// of them may carry a credential.
func (h *handler) reject(r *http.Request, reason, detail string) {
	h.s.d.Reject(reason)
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	h.s.d.Limiter.Warn(h.s.log, "reject:"+reason, "alerta refused a request",
		"reason", reason, "detail", detail, "remote", host, "method", r.Method)
}

// refuse answers a failed authentication.
func (h *handler) refuse(w http.ResponseWriter, rq *request, e *authError) {
	h.reject(rq.r, e.reason, e.message)
	if e.challenge {
		w.Header().Set("WWW-Authenticate", "Basic realm=Alerta")
	}
	h.fail(w, rq, e.status, e.message)
}

// fail answers Alerta's error envelope with status and message.
func (h *handler) fail(w http.ResponseWriter, rq *request, status int, message string) {
	h.send(w, status, alerta.ErrorBody(&alerta.Error{Code: status, Message: message}, rq.id))
}

// failWith answers e as Alerta does.
func (h *handler) failWith(w http.ResponseWriter, rq *request, e *alerta.Error) {
	h.send(w, e.Code, alerta.ErrorBody(e, rq.id))
}

// unavailable answers 503 with Retry-After: the event was not accepted (or the
// alert's record not made durable), so the client must send it again.
func (h *handler) unavailable(w http.ResponseWriter, rq *request, err error) {
	h.s.d.Limiter.Warn(h.s.log, "publish", "alerta: request not accepted", "err", err)
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	h.fail(w, rq, http.StatusServiceUnavailable, "The relay could not accept the request now; send it again later.")
}

// send writes a JSON answer. Every registered secret is redacted from it first: an
// alert's text, an Origin header or a request id may carry a credential a client
// sent by mistake, and no answer repeats one.
func (h *handler) send(w http.ResponseWriter, status int, b []byte) {
	b = secret.RedactBytes(b)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ok answers status with fields as a JSON object, keys sorted as Alerta's JSON
// provider writes them, in the style of alerta.ErrorBody so that every answer of
// the receiver looks alike. A json.RawMessage value is embedded (re-encoded in
// that style).
func (h *handler) ok(w http.ResponseWriter, status int, fields map[string]any) {
	h.send(w, status, answer(fields))
}

// answer encodes fields with sorted keys in alerta.ErrorBody's style (json.dumps
// separators, non-ASCII escaped).
func answer(fields map[string]any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fields); err != nil {
		return []byte(`{"status": "error"}`)
	}
	b, err := alerta.PyJSON(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if err != nil {
		return []byte(`{"status": "error"}`)
	}
	return b
}

// origin is the request's Origin header as Alerta's loop messages name it.
func origin(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" {
		return o
	}
	return "(unknown)"
}

// loopIn is the incoming X-Alerta-Loop: only the first instance counts (§3.2).
func loopIn(r *http.Request) string {
	if v := r.Header.Values(alerta.HeaderLoop); len(v) > 0 {
		return v[0]
	}
	return ""
}

// looped reports whether this node already processed the request (§3.3; the strict
// element match of alerta.LoopHas) and, if so, answers 202 with what's message.
func (h *handler) looped(w http.ResponseWriter, rq *request, what string) bool {
	if !alerta.LoopHas(loopIn(rq.r), h.s.baseURL) {
		return false
	}
	h.ok(w, http.StatusAccepted, map[string]any{
		"status":  "ok",
		"message": fmt.Sprintf("%s forwarded by %s already processed by %s", what, origin(rq.r), h.s.baseURL),
	})
	return true
}

// event returns a new event of the source, with the federation attributes common
// to every op.
func (h *handler) event(rq *request, kind, key, op string, payload []byte) *adapters.Event {
	return &adapters.Event{
		ID:       adapters.NewID(),
		Kind:     kind,
		Key:      key,
		Source:   h.s.d.Name,
		Topic:    strings.TrimPrefix(rq.r.URL.Path, h.s.prefix),
		Payload:  payload,
		Attrs:    map[string]string{alerta.AttrOp: op, alerta.AttrLoop: alerta.LoopAppend(loopIn(rq.r), h.s.baseURL)},
		Received: h.s.now(),
	}
}

// defaults are the defaults of a received alert or heartbeat (Alerta's).
func (h *handler) defaults() alerta.Defaults {
	return alerta.Defaults{Origin: h.s.cfg.OriginDefault, Timeout: DefaultAlertTimeout, Now: h.s.now(), NewID: alerta.NewUUID}
}

// known answers 404 for an alert id the book cannot resolve, then applies the loop
// check to the op (what). It returns the alert's lock key; false means the request
// was answered.
func (h *handler) known(w http.ResponseWriter, rq *request, id, what string) (string, bool) {
	key, ok := h.s.lookup(id)
	if !ok {
		h.fail(w, rq, http.StatusNotFound, "not found")
		return "", false
	}
	return key, !h.looped(w, rq, what)
}

// alertEvent makes the event of an action or a delete (op) on the alert a change
// names.
func (h *handler) alertEvent(rq *request, op string, payload []byte) func(c *change) *adapters.Event {
	return func(c *change) *adapters.Event {
		ev := h.event(rq, adapters.KindAlert, c.id, op, payload)
		c.alertAttrs(ev)
		return ev
	}
}

// settled answers an action or a delete: 503 when it could not be published in
// time (err), the book's error (e), else 200 ok.
func (h *handler) settled(w http.ResponseWriter, rq *request, e *alerta.Error, err error) {
	switch {
	case err != nil:
		h.unavailable(w, rq, err)
	case e != nil:
		h.failWith(w, rq, e)
	default:
		h.ok(w, http.StatusOK, map[string]any{"status": "ok"})
	}
}

// beatFailed answers a heartbeat that could not be stored or published: 503 when
// it could not be published in time (err), the book's 413 (e) counted as a
// rejection. False means neither happened.
func (h *handler) beatFailed(w http.ResponseWriter, rq *request, e *alerta.Error, err error) bool {
	switch {
	case err != nil:
		h.unavailable(w, rq, err)
		return true
	case e != nil:
		h.rejectWith(w, rq, RejectTooLarge, "heartbeat over max_state_bytes", e)
		return true
	}
	return false
}

// context returns the context of the request's wait: publish_timeout at most.
func (h *handler) context(rq *request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(rq.r.Context(), h.s.cfg.PublishTimeout)
}

// postAlert is POST /alert: validate, reject policy, loop check, then the book and
// the event (§5.1, §3.3, §6).
func (h *handler) postAlert(w http.ResponseWriter, rq *request) {
	a, e := alerta.DecodeAlert(rq.body, h.defaults())
	if e != nil {
		h.rejectWith(w, rq, RejectInvalid, "not a valid alert", e)
		return
	}
	if adapters.CheckTableKey(a.ID) != nil {
		// Alerta takes any text as an id; the receiver's table keys are bounded.
		h.reject(rq.r, RejectInvalid, "alert id unfit for the table")
		h.fail(w, rq, http.StatusBadRequest, fmt.Sprintf("id must be 1 to %d bytes, without NUL", adapters.MaxTableKey))
		return
	}
	if e := h.s.env.Check(a.Environment); e != nil {
		h.rejectWith(w, rq, RejectForbidden, "environment not allowed", e)
		return
	}
	if a.Event == heartbeatEvent {
		h.alertHeartbeat(w, rq, a)
		return
	}
	if h.looped(w, rq, "Alert") {
		return
	}
	ctx, cancel := h.context(rq)
	defer cancel()
	res, e, err := h.s.receive(ctx, a, func(c *change) *adapters.Event {
		ev := h.event(rq, adapters.KindAlert, c.id, alerta.OpAlert, a.Encode())
		ev.Attrs[alerta.AttrID] = a.ID
		ev.Attrs[alerta.AttrDedup] = c.dedup
		return ev
	})
	switch {
	case err != nil:
		h.unavailable(w, rq, err)
	case e != nil:
		h.rejectWith(w, rq, RejectInvalid, "alert refused by the book", e)
	default:
		h.ok(w, http.StatusCreated, map[string]any{"status": "ok", "id": res.id, "alert": json.RawMessage(res.output)})
	}
}

// heartbeatEvent is Alerta's HEARTBEAT_EVENTS: an alert with this event is a
// heartbeat.
const heartbeatEvent = "Heartbeat"

// alertHeartbeat turns an alert whose event is Heartbeat into a heartbeat, as
// Alerta's heartbeat plugin does before the loop check: 202 "Alert converted to
// Heartbeat" with the heartbeat's id. The heartbeat's event is published unless the
// request looped; a looped one is only recorded, as Alerta records it.
func (h *handler) alertHeartbeat(w http.ResponseWriter, rq *request, a *alerta.Alert) {
	hb := &alerta.Heartbeat{Origin: a.Origin, Tags: a.Tags, Attributes: a.Attributes, Timeout: a.Timeout, CreateTime: a.CreateTime, Customer: a.Customer}
	if hb.Tags == nil {
		hb.Tags = []string{}
	}
	var mk func() *adapters.Event
	if !alerta.LoopHas(loopIn(rq.r), h.s.baseURL) {
		mk = func() *adapters.Event {
			return h.event(rq, adapters.KindHeartbeat, hb.Origin, alerta.OpHeartbeat, hb.Encode())
		}
	}
	ctx, cancel := h.context(rq)
	defer cancel()
	id, _, e, err := h.s.beat(ctx, hb, mk)
	if h.beatFailed(w, rq, e, err) {
		return
	}
	h.ok(w, http.StatusAccepted, map[string]any{"status": "ok", "message": "Alert converted to Heartbeat", "id": id})
}

// putAction is PUT /alert/{id}/action: 400 for a bad body, 404 for an unknown
// alert, then the loop check, then the alarm model (§5.2, §3.3).
func (h *handler) putAction(w http.ResponseWriter, rq *request, id string) {
	act, e := alerta.DecodeAction(rq.body)
	if e != nil {
		h.rejectWith(w, rq, RejectInvalid, "not a valid action", e)
		return
	}
	key, ok := h.known(w, rq, id, "Action "+act.Action)
	if !ok {
		return
	}
	ctx, cancel := h.context(rq)
	defer cancel()
	_, e, err := h.s.act(ctx, id, key, act, h.alertEvent(rq, alerta.OpAction, act.Encode()))
	h.settled(w, rq, e, err)
}

// deleteAlert is DELETE /alert/{id}: 404 for an unknown alert, then the loop
// check. A looped delete is answered 202 like a looped alert, not 500 as Alerta
// does: Alerta's 500 blocks the delete and makes a sender that retries (as
// edgerelay's forwarder does on 5xx) retry for ever.
func (h *handler) deleteAlert(w http.ResponseWriter, rq *request, id string) {
	key, ok := h.known(w, rq, id, "Delete")
	if !ok {
		return
	}
	ctx, cancel := h.context(rq)
	defer cancel()
	e, err := h.s.remove(ctx, id, key, h.alertEvent(rq, alerta.OpDelete, nil))
	h.settled(w, rq, e, err)
}

// postHeartbeat is POST /heartbeat: validated as Alerta does, then, beyond Alerta
// (which has no loop check there), the strict loop check, then the event and the
// upsert.
func (h *handler) postHeartbeat(w http.ResponseWriter, rq *request) {
	hb, e := alerta.DecodeHeartbeat(rq.body, h.defaults())
	if e != nil {
		h.rejectWith(w, rq, RejectInvalid, "not a valid heartbeat", e)
		return
	}
	if h.looped(w, rq, "Heartbeat") {
		return
	}
	ctx, cancel := h.context(rq)
	defer cancel()
	id, out, e, err := h.s.beat(ctx, hb, func() *adapters.Event {
		return h.event(rq, adapters.KindHeartbeat, hb.Origin, alerta.OpHeartbeat, hb.Encode())
	})
	if h.beatFailed(w, rq, e, err) {
		return
	}
	h.ok(w, http.StatusCreated, map[string]any{"status": "ok", "id": id, "heartbeat": json.RawMessage(out)})
}

// getAlert is GET /alert/{id}.
func (h *handler) getAlert(w http.ResponseWriter, rq *request, id string) {
	out, ok := h.s.output(id)
	if !ok {
		h.fail(w, rq, http.StatusNotFound, "not found")
		return
	}
	h.ok(w, http.StatusOK, map[string]any{"status": "ok", "total": 1, "alert": json.RawMessage(out)})
}

// getAlerts is GET /alerts with Alerta's query parameters (the api-key one is
// authentication, not a filter).
func (h *handler) getAlerts(w http.ResponseWriter, rq *request) {
	h.list(w, rq, h.s.query)
}

// getHeartbeats is GET /heartbeats with Alerta's filters and paging (page,
// page-size at most alerta.MaxPageSize); the api-key parameter is authentication,
// not a filter.
func (h *handler) getHeartbeats(w http.ResponseWriter, rq *request) {
	h.list(w, rq, h.s.heartbeats)
}

// list answers a GET of a list: the query less its api-key parameter (which is
// authentication, not a filter) goes to f, whose JSON is the answer.
func (h *handler) list(w http.ResponseWriter, rq *request, f func(url.Values) ([]byte, *alerta.Error)) {
	q := rq.r.URL.Query()
	q.Del("api-key")
	out, e := f(q)
	if e != nil {
		h.failWith(w, rq, e)
		return
	}
	h.send(w, http.StatusOK, out)
}
