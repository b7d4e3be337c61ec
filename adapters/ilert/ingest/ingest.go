// Package ingest is ilagent's local HTTP proxy API (spec ilagent-behavior.md §4) on
// edgerelay's durable pipeline: POST /api/events validates an ilert event exactly as
// ilagent does and publishes it for the ilert sink, and GET /api/heartbeats/{key}
// publishes a heartbeat ping. Where ilagent inserted into SQLite, the handler waits
// until the daemon reports the event durable (or delivered) before it answers.
//
// The daemon's web server mounts the Handler; it serves /, /health and /ready itself.
// See README.md for the differences from ilagent.
package ingest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert"
	"github.com/edgerelay/edgerelay/adapters/logx"
)

// Paths served by the Handler.
const (
	PathEvents     = "/api/events"
	PathHeartbeats = "/api/heartbeats/"
)

// Defaults of Options.
const (
	// DefaultMaxBodyBytes is ilagent's JSON body limit.
	DefaultMaxBodyBytes = 16000
	// DefaultSource names the events' source when Options.Source is empty.
	DefaultSource = "http"
	// DefaultPublishTimeout bounds how long a request waits for the pipeline.
	DefaultPublishTimeout = 10 * time.Second
	// DefaultRetryAfter is the Retry-After hint of a 503 answer.
	DefaultRetryAfter = 5 * time.Second
)

// Exact answers of ilagent that clients may match on.
const (
	msgEventType = "Unsupported value for field 'eventType'."
	msgPriority  = "Unsupported value for field 'priority'."
	msgInternal  = "Internal error occurred."
	msgHeartbeat = "Failed to proxy heartbeat"
	msgAuth      = "Unauthorized."
)

// Reasons a request is refused, for Options.Reject: the reason label of
// edgerelay_source_rejects_total.
const (
	RejectUnauthorized     = "unauthorized"       // 401: no or a wrong bearer token
	RejectContentType      = "bad_content_type"   // 400: not a JSON media type
	RejectTooLarge         = "too_large"          // 413: the body is over max_body_bytes
	RejectBadRequest       = "bad_request"        // 400: the body could not be read
	RejectInvalid          = "invalid"            // 400: not JSON, or not a valid ilert event
	RejectMethodNotAllowed = "method_not_allowed" // 405
	RejectNotFound         = "not_found"          // 404: no such path under the API
)

// Options configures a Handler. The zero value serves ilagent's API without
// authentication and with ilagent's 16000-byte body limit.
type Options struct {
	// MaxBodyBytes bounds the body of POST /api/events; a larger body is answered
	// 413. Zero or less means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Token, when set, is required as "Authorization: Bearer <token>" on every
	// request; a request without it is answered 401.
	Token string
	// Source is the Source of the published events. Empty means DefaultSource.
	Source string
	// PublishTimeout bounds the wait for the pipeline to accept an event; on expiry
	// the request is answered as a publish failure. Zero or less means
	// DefaultPublishTimeout.
	PublishTimeout time.Duration
	// RetryAfter is sent, rounded up to whole seconds, with a 503 answer. Zero or
	// less means DefaultRetryAfter.
	RetryAfter time.Duration
	// Log receives publish failures and refused requests. Nil discards them.
	Log *slog.Logger
	// Limiter rate-limits those lines (one key per reason). Nil limits nothing.
	Limiter *logx.Limiter
	// Reject is called once for every request answered 400, 401, 404, 405 or 413,
	// with the reason: one of the Reject* codes. Nil counts nothing.
	Reject func(reason string)
	// Now stamps the events' Received time. Nil means time.Now.
	Now func() time.Time
}

// withDefaults returns o with its zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Source == "" {
		o.Source = DefaultSource
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = DefaultPublishTimeout
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Reject == nil {
		o.Reject = func(string) {}
	}
	return o
}

// Handler serves POST /api/events and GET /api/heartbeats/{key}. It is safe for
// concurrent use.
type Handler struct {
	opts Options
	pub  adapters.Publisher
	mux  *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler that publishes to pub. Every other path is answered 404, and
// a wrong method on one of its paths 405.
func New(opts Options, pub adapters.Publisher) *Handler {
	h := &Handler{opts: opts.withDefaults(), pub: pub, mux: http.NewServeMux()}
	h.mux.HandleFunc(PathEvents, h.handleEvents)
	h.mux.HandleFunc(PathHeartbeats+"{key}", h.handleHeartbeat)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.reject(r, RejectNotFound, "no such path")
		http.NotFound(w, r)
	})
	return h
}

// ServeHTTP checks the bearer token, when one is configured, and routes the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.opts.Token != "" && !h.authorized(r) {
		h.reject(r, RejectUnauthorized, "no or a wrong bearer token")
		w.Header().Set("WWW-Authenticate", `Bearer realm="edgerelay"`)
		writeJSONError(w, http.StatusUnauthorized, msgAuth)
		return
	}
	// ServeMux would answer a path with "//", "." or ".." steps with a redirect to
	// its cleaned form; such a path is none of this API's, so it is a 404 like any
	// other unknown path.
	if !cleanPath(r.URL.Path) {
		h.reject(r, RejectNotFound, "path not in clean form")
		http.NotFound(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// reject counts a refused request and logs it, rate-limited per reason. The line
// names the remote host and the method, never the path (a heartbeat's carries its
// integration key), a header or the body.
func (h *Handler) reject(r *http.Request, reason, detail string) {
	h.opts.Reject(reason)
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	h.opts.Limiter.Warn(h.opts.Log, "reject:"+reason, "ilert_http refused a request",
		"reason", reason, "detail", detail, "remote", host, "method", r.Method)
}

// cleanPath reports whether p is rooted and already in the form ServeMux cleans
// paths to (path.Clean, keeping a trailing slash).
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// authorized reports whether r carries "Authorization: Bearer <Token>" (scheme in
// any case), comparing in constant time.
func (h *Handler) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(h.opts.Token)) == 1
}

// handleEvents validates an ilert event, publishes it and echoes it as stored.
func (h *Handler) handleEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		h.reject(r, RejectMethodNotAllowed, "want POST")
		methodNotAllowed(w, http.MethodPost)
		return
	}
	if !jsonContentType(r.Header.Get("Content-Type")) {
		h.reject(r, RejectContentType, "the content type is not JSON")
		writeText(w, http.StatusBadRequest, "Content type error")
		return
	}
	if r.ContentLength > h.opts.MaxBodyBytes {
		h.reject(r, RejectTooLarge, overflow(h.opts.MaxBodyBytes))
		writeText(w, http.StatusRequestEntityTooLarge, overflow(h.opts.MaxBodyBytes))
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.reject(r, RejectTooLarge, overflow(h.opts.MaxBodyBytes))
			writeText(w, http.StatusRequestEntityTooLarge, overflow(h.opts.MaxBodyBytes))
			return
		}
		h.reject(r, RejectBadRequest, "reading the body failed")
		writeText(w, http.StatusBadRequest, "Error that occur during reading payload: "+err.Error())
		return
	}
	ev, err := Decode(raw)
	if err != nil {
		h.reject(r, RejectInvalid, "not a valid ilert event")
		if msg, ok := validationMessage(err); ok {
			writeJSONError(w, http.StatusBadRequest, msg)
		} else {
			writeText(w, http.StatusBadRequest, "Json deserialize error: "+err.Error())
		}
		return
	}
	payload, err := ev.Encode()
	if err != nil {
		h.opts.Log.Error("encode ilert event", "err", err)
		writeJSONError(w, http.StatusInternalServerError, msgInternal)
		return
	}
	e := &adapters.Event{
		ID:       adapters.NewID(),
		Kind:     adapters.KindAlert,
		Source:   h.opts.Source,
		Topic:    PathEvents,
		Payload:  payload,
		Attrs:    map[string]string{ilert.AttrEventsPath: ilert.PathEvents},
		Received: h.opts.Now(),
	}
	if ev.AlertKey != nil {
		e.Key = *ev.AlertKey
	}
	if err := h.publish(r.Context(), e); err != nil {
		h.opts.Limiter.Warn(h.opts.Log, "publish", "publish ilert event", "event_id", e.ID, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(h.opts.RetryAfter)))
		writeJSONError(w, http.StatusServiceUnavailable, msgInternal)
		return
	}
	writeJSON(w, http.StatusOK, payload)
}

// handleHeartbeat publishes a heartbeat ping for the key in the path.
func (h *Handler) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		h.reject(r, RejectMethodNotAllowed, "want GET")
		methodNotAllowed(w, http.MethodGet)
		return
	}
	key := r.PathValue("key")
	if !utf8.ValidString(key) {
		// json.Marshal would put U+FFFD in the payload in place of the bad bytes:
		// the payload's key and the event's would differ, and neither is a key
		// ilert can have.
		h.reject(r, RejectInvalid, "heartbeat key is not valid UTF-8")
		writeText(w, http.StatusBadRequest, "Heartbeat key is not valid UTF-8")
		return
	}
	payload, err := json.Marshal(map[string]string{"integrationKey": key})
	if err != nil {
		writeText(w, http.StatusInternalServerError, msgHeartbeat)
		return
	}
	e := &adapters.Event{
		ID:       adapters.NewID(),
		Kind:     adapters.KindHeartbeat,
		Key:      key,
		Source:   h.opts.Source,
		Topic:    strings.TrimSuffix(PathHeartbeats, "/"),
		Payload:  payload,
		Received: h.opts.Now(),
	}
	if err := h.publish(r.Context(), e); err != nil {
		h.opts.Limiter.Warn(h.opts.Log, "publish", "publish heartbeat", "event_id", e.ID, "err", err)
		writeText(w, http.StatusInternalServerError, msgHeartbeat)
		return
	}
	writeJSON(w, http.StatusAccepted, []byte("{}"))
}

// publish hands e to the pipeline and waits, at most PublishTimeout, until it is
// durable or delivered.
func (h *Handler) publish(ctx context.Context, e *adapters.Event) error {
	ctx, cancel := context.WithTimeout(ctx, h.opts.PublishTimeout)
	defer cancel()
	if err := adapters.PublishWait(ctx, h.pub, e); err != nil {
		return fmt.Errorf("publish %s event %s: %w", e.Kind, e.ID, err)
	}
	return nil
}

// jsonContentType reports whether ct is a JSON media type as actix's JSON extractor
// accepts it: subtype "json" or a "+json" suffix. A missing type is refused.
func jsonContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	_, sub, ok := strings.Cut(mt, "/")
	return ok && (sub == "json" || strings.HasSuffix(sub, "+json"))
}

// overflow is the text of a 413 answer.
func overflow(limit int64) string {
	return fmt.Sprintf("Json payload is larger than allowed (limit: %d bytes)", limit)
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// methodNotAllowed answers 405 with the allowed method.
func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	w.WriteHeader(http.StatusMethodNotAllowed)
}

// writeJSON answers status with the JSON body b.
func writeJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeJSONError answers status with {"error": msg}.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	writeJSON(w, status, b)
}

// writeText answers status with a plain-text body, as actix's default error
// responses do.
func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(status)
	_, _ = io.Copy(w, bytes.NewReader([]byte(msg)))
}
