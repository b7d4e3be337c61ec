package alertatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/alerta"
)

// call is one request being answered.
type call struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	body []byte
	rid  string
	id   string // the {id} of the path
}

// method answers 405 unless the request has method m, then authorizes scope.
func (c *call) method(m, scope string, f func()) {
	if c.r.Method != m {
		methodNotAllowed(c.w, c.rid, m)
		return
	}
	c.auth(scope, f)
}

// auth runs f when the request holds scope.
func (c *call) auth(scope string, f func()) {
	if e := c.authorize(scope); e != nil {
		if e.basic {
			c.w.Header().Set("WWW-Authenticate", "Basic realm=Alerta")
		}
		writeEnvelope(c.w, c.rid, e.err, e.errors)
		return
	}
	f()
}

// origin is the request's Origin header as Alerta's loop messages name it.
func (c *call) origin() string {
	if o := c.r.Header.Get("Origin"); o != "" {
		return o
	}
	return "(unknown)"
}

// looped is Alerta's receive-side loop check (§3.3): the forwarder plugin is on and
// BASE_URL is a substring of the first X-Alerta-Loop header.
func (c *call) looped() bool {
	return slices.Contains(c.s.plugins, PluginForwarder) &&
		alerta.LoopHasCompat(c.r.Header.Get(alerta.HeaderLoop), c.s.BaseURL())
}

// receive is POST /alert: validation, the pre-receive plugins in PLUGINS order,
// then de-duplication, correlation or creation.
func (c *call) receive() {
	s := c.s
	now := s.now()
	d := alerta.Defaults{Origin: s.opts.Origin, Timeout: 86400, Now: now}
	a, e := alerta.DecodeAlert(c.body, d)
	// An invalid severity is found by the database step in Alerta, after the
	// plugins: a looped or rejected alert answers as such first. DecodeAlert checks
	// the severity last, so the alert decodes with any valid one in its place.
	var late *alerta.Error
	if e != nil && e.Code == http.StatusInternalServerError {
		late = e
		a = withSeverity(c.body, d)
	}
	if a == nil {
		writeError(c.w, c.rid, e)
		return
	}
	for _, p := range s.plugins {
		switch p {
		case PluginRemoteIP:
			a.Attributes = setAttribute(a.Attributes, "ip", clientIP(c.r))
		case PluginReject:
			if !s.environmentAllowed(a.Environment) {
				writeError(c.w, c.rid, &alerta.Error{Code: http.StatusForbidden,
					Message: "[POLICY] Alert environment does not match one of " + strings.Join(s.envs, ", ")})
				return
			}
			if len(a.Service) == 0 {
				writeError(c.w, c.rid, &alerta.Error{Code: http.StatusForbidden, Message: "[POLICY] Alert must define a service"})
				return
			}
		case PluginHeartbeat:
			if slices.Contains(s.hbEvents, a.Event) {
				hb := &alerta.Heartbeat{Origin: a.Origin, Tags: a.Tags, Timeout: a.Timeout, Customer: a.Customer,
					CreateTime: now, Attributes: heartbeatAttributes(a)}
				s.mu.Lock()
				stored, _ := s.book.Beat(hb, now) // the fake has no byte budget: no error
				id := stored.ID
				s.mu.Unlock()
				writeJSON(c.w, http.StatusAccepted, map[string]any{"status": "ok",
					"message": "Alert converted to Heartbeat", "id": id})
				return
			}
		case PluginForwarder:
			if c.looped() {
				writeJSON(c.w, http.StatusAccepted, map[string]any{"status": "ok",
					"message": fmt.Sprintf("Alert forwarded by %s already processed by %s", c.origin(), s.BaseURL())})
				return
			}
		}
	}
	if late != nil {
		writeError(c.w, c.rid, late)
		return
	}
	base := s.BaseURL()
	s.mu.Lock()
	st, _, _, e := s.book.Receive(a, now)
	var out []byte
	var id string
	if e == nil {
		out, id = st.Output(base), st.ID
	}
	s.mu.Unlock()
	if e != nil {
		writeError(c.w, c.rid, e)
		return
	}
	writeJSON(c.w, http.StatusCreated, map[string]any{"status": "ok", "id": id, "alert": json.RawMessage(out)})
}

// withSeverity decodes body with its (invalid) severity replaced by a valid one,
// then puts the original back, so that the plugins see the alert as Alerta's do.
func withSeverity(body []byte, d alerta.Defaults) *alerta.Alert {
	var o map[string]json.RawMessage
	if json.Unmarshal(body, &o) != nil {
		return nil
	}
	var sev string
	_ = json.Unmarshal(o["severity"], &sev)
	o["severity"] = json.RawMessage(`"indeterminate"`)
	b, err := json.Marshal(o)
	if err != nil {
		return nil
	}
	a, e := alerta.DecodeAlert(b, d)
	if e != nil {
		return nil
	}
	a.Severity = sev
	return a
}

// resolve is the id of the alert the path names (§5.3); it answers 404 when there
// is none.
func (c *call) resolve() (string, bool) {
	s := c.s
	s.mu.Lock()
	st, ok := s.book.Resolve(c.id)
	var id string
	if ok {
		id = st.ID
	}
	s.mu.Unlock()
	if !ok {
		writeError(c.w, c.rid, &alerta.Error{Code: http.StatusNotFound, Message: "not found"})
	}
	return id, ok
}

// action is PUT /alert/{id}/action: the body, the lookup, the loop check, then the
// alarm model.
func (c *call) action() {
	s := c.s
	act, e := alerta.DecodeAction(c.body)
	if e != nil {
		writeError(c.w, c.rid, e)
		return
	}
	id, ok := c.resolve()
	if !ok {
		return
	}
	if c.looped() {
		writeJSON(c.w, http.StatusAccepted, map[string]any{"status": "ok",
			"message": fmt.Sprintf("Action %s forwarded by %s already processed by %s", act.Action, c.origin(), s.BaseURL())})
		return
	}
	s.mu.Lock()
	_, _, e = s.book.Act(id, act, s.now())
	s.mu.Unlock()
	if e != nil {
		writeError(c.w, c.rid, e)
		return
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"status": "ok"})
}

// delete is DELETE /alert/{id}: the lookup, then the delete plugins — the
// forwarder's loop check raises, which Alerta turns into a 500 that keeps the
// alert (unless PLUGINS_RAISE_ON_ERROR is off).
func (c *call) delete() {
	s := c.s
	id, ok := c.resolve()
	if !ok {
		return
	}
	if c.looped() && !s.opts.PluginsNoRaise {
		writeError(c.w, c.rid, &alerta.Error{Code: http.StatusInternalServerError, Message: fmt.Sprintf(
			"Error while running delete plugin 'alerta.plugins.forwarder': Delete forwarded by %s already processed by %s",
			c.origin(), s.BaseURL())})
		return
	}
	s.mu.Lock()
	s.book.Delete(id)
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, map[string]any{"status": "ok"})
}

// get is GET /alert/{id}.
func (c *call) get() {
	s := c.s
	base := s.BaseURL()
	s.mu.Lock()
	st, ok := s.book.Resolve(c.id)
	var out []byte
	if ok {
		out = st.Output(base)
	}
	s.mu.Unlock()
	if !ok {
		writeError(c.w, c.rid, &alerta.Error{Code: http.StatusNotFound, Message: "not found"})
		return
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"status": "ok", "total": 1, "alert": json.RawMessage(out)})
}

// query is GET /alerts.
func (c *call) query() { c.list((*alerta.Book).Query) }

// list answers a GET of a list from the book's query q (Book.Query or
// Book.QueryHeartbeats).
func (c *call) list(q func(b *alerta.Book, q url.Values, baseURL string, now time.Time) ([]byte, *alerta.Error)) {
	s := c.s
	base := s.BaseURL()
	s.mu.Lock()
	out, e := q(s.book, c.r.URL.Query(), base, s.now())
	s.mu.Unlock()
	if e != nil {
		writeError(c.w, c.rid, e)
		return
	}
	writeRaw(c.w, http.StatusOK, out)
}

// heartbeat is POST /heartbeat: an upsert on (origin, customer), no loop check.
func (c *call) heartbeat() {
	s := c.s
	now := s.now()
	h, e := alerta.DecodeHeartbeat(c.body, alerta.Defaults{Origin: s.opts.Origin, Timeout: 86400, Now: now})
	if e != nil {
		writeError(c.w, c.rid, e)
		return
	}
	base := s.BaseURL()
	s.mu.Lock()
	hb, _ := s.book.Beat(h, now) // the fake has no byte budget: no error
	out := hb.Output(base, now)
	s.mu.Unlock()
	writeJSON(c.w, http.StatusCreated, map[string]any{"status": "ok", "id": hb.ID, "heartbeat": json.RawMessage(out)})
}

// heartbeats is GET /heartbeats.
func (c *call) heartbeats() { c.list((*alerta.Book).QueryHeartbeats) }

// environmentAllowed is the reject plugin's test: a full match of one of
// ALLOWED_ENVIRONMENTS, as Python's re.fullmatch.
func (s *Server) environmentAllowed(env string) bool {
	return slices.ContainsFunc(s.envRes, func(re *regexp.Regexp) bool { return re.MatchString(env) })
}

// compileEnvironments compiles ALLOWED_ENVIRONMENTS for a full match; a pattern
// that does not compile matches nothing.
func compileEnvironments(envs []string) []*regexp.Regexp {
	var res []*regexp.Regexp
	for _, p := range envs {
		if re, err := regexp.Compile(`^(?:` + p + `)$`); err == nil {
			res = append(res, re)
		}
	}
	return res
}

// heartbeatAttributes are the attributes Alerta's heartbeat plugin gives the
// heartbeat it makes of an alert, in its order.
func heartbeatAttributes(a *alerta.Alert) []byte {
	b, _ := json.Marshal(struct {
		Environment string   `json:"environment"`
		Severity    string   `json:"severity"`
		Service     []string `json:"service"`
		Group       string   `json:"group"`
	}{a.Environment, a.Severity, orEmpty(a.Service), a.Group})
	return b
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// clientIP is remote_ip's address: the first X-Forwarded-For entry, else the peer.
func clientIP(r *http.Request) string {
	if f := r.Header.Get("X-Forwarded-For"); f != "" {
		first, _, _ := strings.Cut(f, ",")
		return strings.TrimSpace(first)
	}
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// setAttribute sets key in a JSON object's raw bytes, keeping the order of the
// other keys (Python's dict.update: an existing key keeps its place, a new one
// goes last). An object that does not decode is returned unchanged.
func setAttribute(obj []byte, key, value string) []byte {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return obj
	}
	type kv struct {
		k string
		v json.RawMessage
	}
	var kvs []kv
	for dec.More() {
		t, err := dec.Token()
		k, ok := t.(string)
		if err != nil || !ok {
			return obj
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return obj
		}
		kvs = append(kvs, kv{k, v})
	}
	val, _ := json.Marshal(value)
	if i := slices.IndexFunc(kvs, func(e kv) bool { return e.k == key }); i >= 0 {
		kvs[i].v = val
	} else {
		kvs = append(kvs, kv{key, val})
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		b.Write(e.v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// writeJSON answers v as Alerta's JSON provider does: Python's json.dumps with
// sort_keys and ensure_ascii, so the default separators ", " and ": " and every
// non-ASCII character escaped.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"status":"error"}`)
	}
	writeRaw(w, status, bytes.TrimRight(b.Bytes(), "\n"))
}

// writeRaw answers body, compact JSON with its keys in order, re-encoded in
// json.dumps style.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	if py, err := alerta.PyJSON(body); err == nil {
		body = py
	}
	body = asciiJSON(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// asciiJSON escapes every non-ASCII character of a JSON text as \uXXXX (a
// surrogate pair above U+FFFF), as Python's ensure_ascii.
func asciiJSON(b []byte) []byte {
	i := bytes.IndexFunc(b, func(r rune) bool { return r >= 0x80 })
	if i < 0 {
		return b
	}
	out := append([]byte(nil), b[:i]...)
	for _, r := range string(b[i:]) {
		switch {
		case r < 0x80:
			out = append(out, byte(r))
		case r > 0xFFFF:
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out
}

// writeError answers Alerta's error envelope for e.
func writeError(w http.ResponseWriter, rid string, e *alerta.Error) {
	writeEnvelope(w, rid, e, nil)
}

// writeEnvelope answers Alerta's error envelope, with an errors list or null.
func writeEnvelope(w http.ResponseWriter, rid string, e *alerta.Error, errs []string) {
	writeJSON(w, e.Code, map[string]any{"code": e.Code, "errors": errs, "message": e.Message,
		"requestId": rid, "status": "error"})
}

// writeHTTPError answers as Alerta's handler of werkzeug's HTTP errors.
func writeHTTPError(w http.ResponseWriter, rid string, code int, description string) {
	writeJSON(w, code, map[string]any{"code": code, "errors": []string{description},
		"message":   fmt.Sprintf("%d %s: %s", code, http.StatusText(code), description),
		"requestId": rid, "status": "error"})
}

func notFound(w http.ResponseWriter, rid string) {
	writeHTTPError(w, rid, http.StatusNotFound,
		"The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.")
}

func methodNotAllowed(w http.ResponseWriter, rid, allow string) {
	w.Header().Set("Allow", allow)
	writeHTTPError(w, rid, http.StatusMethodNotAllowed, "The method is not allowed for the requested URL.")
}
