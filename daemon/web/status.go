package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Status is the document GET /api/status answers and /api/status/stream sends: what
// the status page shows, every part of it from the running daemon (docs/status-page.md
// describes the fields). Times are absolute, on the daemon's clock, so that a stream
// sends a document only when something changed; the page works out ages against Now.
// Every text in it has been redacted and bounded by the daemon, and every string of
// it is redacted once more as it is written (encodeStatus); numbers and the JSON keys
// never are, so that a short secret cannot garble them.
type Status struct {
	Node    string    `json:"node"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	Now     time.Time `json:"now"`
	// State is the node's: ok, degraded or not_ready (health.Tracker.Node).
	State    string `json:"state"`
	Stopping bool   `json:"stopping,omitempty"`
	// Admin is true when an admin token is configured: the page shows its retry and
	// drop buttons. The web server sets it.
	Admin       bool         `json:"admin"`
	LED         LEDStatus    `json:"led"`
	Sources     []SourceInfo `json:"sources"`
	Sinks       []SinkInfo   `json:"sinks"`
	DeadLetters []DeadInfo   `json:"dead_letters"`
	// DeadLettersMore is true when there are dead letters the bounded list leaves out
	// (see the per-sink counts and edgerelay queue list --dead).
	DeadLettersMore bool        `json:"dead_letters_more,omitempty"`
	Errors          []ErrorInfo `json:"errors"`
	Store           StoreInfo   `json:"store"`
}

// LEDStatus is the status LED's pattern, shown whether or not an LED is fitted, with
// its sequence so that the page blinks it with the LED's timing.
type LEDStatus struct {
	Pattern string    `json:"pattern"`
	Meaning string    `json:"meaning"`
	Colour  string    `json:"colour"`
	Steps   []LEDStep `json:"steps"`
	Fitted  bool      `json:"fitted"` // an LED is configured and open
}

// LEDStep is one phase of the pattern: on or off for MS milliseconds (0: for good).
type LEDStep struct {
	On bool  `json:"on"`
	MS int64 `json:"ms"`
}

// SourceInfo is one source.
type SourceInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// State is ok, degraded (a degraded condition fails: standby, TLS files) or down
	// (a critical one: not connected or not subscribed).
	State    string  `json:"state"`
	Received uint64  `json:"received"`
	Rate     float64 `json:"rate_per_s"` // events received per second over the last RateWindow
	Error    string  `json:"error,omitempty"`
}

// SinkInfo is one sink.
type SinkInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// State is ok, retrying, down or draining, as on the STATUS line.
	State     string    `json:"state"`
	Delivered uint64    `json:"delivered"`
	Rate      float64   `json:"rate_per_s"` // events delivered per second over the last RateWindow
	Retries   uint64    `json:"retries"`
	Depth     int64     `json:"depth"`     // events waiting (memory and outbox)
	InFlight  int       `json:"in_flight"` // sends under way
	Oldest    time.Time `json:"oldest,omitzero"`
	Dead      int       `json:"dead"` // dead letters kept
	LastError string    `json:"last_error,omitempty"`
}

// DeadInfo is one dead letter: never its payload.
type DeadInfo struct {
	Sink    string    `json:"sink"`
	Seq     uint64    `json:"seq"`
	EventID string    `json:"event_id,omitempty"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at,omitzero"`
	Bytes   int       `json:"bytes"` // the stored record's size
	// Retryable is false for a truncated record of an oversize event, a corrupt
	// record and anything of @rejected; Why says which.
	Retryable bool   `json:"retryable"`
	Why       string `json:"why,omitempty"`
}

// ErrorInfo is one entry of the recent errors: the same error in a row is one entry
// with a count.
type ErrorInfo struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Component string    `json:"component"`
	Reason    string    `json:"reason"`
	Count     int       `json:"count"`
}

// StoreInfo is the store's size and wear.
type StoreInfo struct {
	FileBytes    int64  `json:"file_bytes"`
	LiveBytes    int64  `json:"live_bytes"`
	MaxBytes     int64  `json:"max_bytes"` // 0: unbounded
	Full         bool   `json:"full,omitempty"`
	Commits      uint64 `json:"commits"`
	BytesWritten uint64 `json:"bytes_written"`
	Quarantined  bool   `json:"quarantined,omitempty"`
}

// StatusProvider is what the daemon gives the web server for the status page: a
// snapshot, and the two changes the page may ask for.
type StatusProvider interface {
	// Status returns the current document. It must be cheap: a stream calls it every
	// StreamEvery. Its slices may be shared with other callers: they are not changed.
	Status() Status
	// RetryDead moves dead letters of sink (every one when seqs is nil) back to its
	// outbox and says how many, and what was left in place and why.
	RetryDead(ctx context.Context, sink string, seqs []uint64) (n int, left string, err error)
	// DropDead deletes dead letters of sink (every one when seqs is nil).
	DropDead(ctx context.Context, sink string, seqs []uint64) (n int, left string, err error)
}

// The errors a StatusProvider's actions wrap to choose the answer's status.
var (
	// ErrUnknownSink: 404.
	ErrUnknownSink = errors.New("unknown sink")
	// ErrRefused: 409, the request asks for something the rules forbid (a truncated
	// record retried).
	ErrRefused = errors.New("refused")
	// ErrUnavailable: 503, the daemon is still starting or shutting down.
	ErrUnavailable = errors.New("unavailable")
)

// SetStatus gives the server the status page's source; until it is called the page's
// API answers 503. It must be called before Serve.
func (s *Server) SetStatus(p StatusProvider) { s.status.Store(&p) }

func (s *Server) provider() StatusProvider {
	if p := s.status.Load(); p != nil {
		return *p
	}
	return nil
}

// statusDoc returns the provider's document with Admin set, or false without one.
func (s *Server) statusDoc() (Status, bool) {
	p := s.provider()
	if p == nil {
		return Status{}, false
	}
	st := p.Status()
	st.Admin = s.admin.enabled()
	return st, true
}

// encodeStatus encodes st as JSON with every string redacted (every text in it
// already is: this is the last line of defence). It redacts the strings one by one,
// not the encoded document: a secret may be a run of digits or a field's name, and
// must not garble a number or a key.
func encodeStatus(st *Status) []byte {
	r := st.redacted()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // plain JSON quoting; the page never parses it as HTML
	_ = enc.Encode(&r)
	return b.Bytes()
}

// redacted returns a copy of st with every string redacted; st and its slices are
// not changed (a provider may share them). TestStatusRedactsEveryString checks that
// no string field is left out.
func (st *Status) redacted() Status {
	r := *st
	red := secret.Redact
	r.Node, r.Version, r.State = red(r.Node), red(r.Version), red(r.State)
	r.LED.Pattern, r.LED.Meaning, r.LED.Colour = red(r.LED.Pattern), red(r.LED.Meaning), red(r.LED.Colour)
	r.Sources = make([]SourceInfo, len(st.Sources))
	for i, x := range st.Sources {
		x.Name, x.Type, x.State, x.Error = red(x.Name), red(x.Type), red(x.State), red(x.Error)
		r.Sources[i] = x
	}
	r.Sinks = make([]SinkInfo, len(st.Sinks))
	for i, x := range st.Sinks {
		x.Name, x.Type, x.State, x.LastError = red(x.Name), red(x.Type), red(x.State), red(x.LastError)
		r.Sinks[i] = x
	}
	r.DeadLetters = make([]DeadInfo, len(st.DeadLetters))
	for i, x := range st.DeadLetters {
		x.Sink, x.EventID, x.Reason, x.Why = red(x.Sink), red(x.EventID), red(x.Reason), red(x.Why)
		r.DeadLetters[i] = x
	}
	r.Errors = make([]ErrorInfo, len(st.Errors))
	for i, x := range st.Errors {
		x.Kind, x.Component, x.Reason = red(x.Kind), red(x.Component), red(x.Reason)
		r.Errors[i] = x
	}
	return r
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(w, r) {
		return
	}
	pageHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-store")
	st, ok := s.statusDoc()
	if !ok {
		writeJSONError(w, http.StatusServiceUnavailable, "the status is not available yet")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(encodeStatus(&st))
}

// writeJSONError answers code with {"error": msg}.
func writeJSONError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": secret.Redact(msg)})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
