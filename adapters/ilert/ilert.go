// Package ilert is the ilert sink: it sends alert events to ilert's events API,
// heartbeats to its heartbeat endpoints and escalation-policy updates to its policy
// API, with ilagent's paths, bodies and status rules. See README.md for the
// configuration and the delivery semantics.
//
// The mapping from upstream messages to ilert event bodies and policy updates lives
// in the mapping subpackage; this sink takes an event whose Payload is already an
// ilert event body or a [PolicyUpdate].
package ilert

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

//go:embed sample.yaml
var sample string

func init() {
	adapters.RegisterSink(SinkType, adapters.SinkSpec[Config]{
		Summary:  "Send alert events and heartbeats to ilert.",
		Sample:   sample,
		Defaults: DefaultConfig,
		New:      func(cfg Config, d adapters.Deps) (adapters.Sink, error) { return New(cfg, d) },
		// The static bound; MaxInFlight reports the configured one.
		Info: adapters.Info{MaxInFlight: DefaultMaxInFlight},
	})
}

var (
	_ adapters.Sink            = (*Sink)(nil)
	_ adapters.InFlightLimiter = (*Sink)(nil)
)

// SinkType is the sink type registered by this package.
const SinkType = "ilert"

// AttrEventsPath is an event attribute that overrides events_path for that event
// ("events", "mqtt" or "kafka"), so that one sink can serve events mapped from
// several kinds of sources. Other values are ignored.
const AttrEventsPath = "ilert.events_path"

// LegacyHeartbeatPrefix starts the keys of legacy heartbeats, which are sent as
// GET {api_host}/api/heartbeats/{key}; every other key is pinged with
// HEAD {heartbeat_host}/api/pings/{key}.
const LegacyHeartbeatPrefix = "il1hbt"

// maxAnswer bounds how much of an answer is read for the error excerpt.
const maxAnswer = 4 << 10

// Sink is the ilert sink. It is safe for concurrent Send.
type Sink struct {
	cfg       Config
	userAgent string
	log       *slog.Logger

	now func() time.Time
	clk clock.Clock // clock.Or(d.Clock): the self-heartbeat ticker

	hbOnce    sync.Once          // starts the self-heartbeat on the first Connect
	hbStarted atomic.Bool        // the self-heartbeat loop was started
	hbCtx     context.Context    // the self-heartbeat's pings; cancelled by Close
	hbStop    context.CancelFunc // cancels hbCtx
	hbDone    chan struct{}      // closed when the self-heartbeat loop has returned

	events    *httpc.Target             // POST {api_host}/api/events, or nil when it does not parse
	keyTarget atomic.Pointer[keyTarget] // the last target with a path and a key

	mu     sync.Mutex // guards client, apiKey, intKey and header
	client *http.Client
	apiKey string // without a "Bearer " prefix
	intKey string
	header *httpc.StaticHeader // the fields of every request (see staticHeader)
}

// keyTarget is the target of an events path other than "events", for one key: a
// sink's events mostly carry the same integration key.
type keyTarget struct {
	path, key string
	t         *httpc.Target
}

// New builds an ilert sink from cfg (zero fields take their defaults). It checks the
// configuration but reads no file and opens no connection.
func New(cfg Config, d adapters.Deps) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{cfg: cfg, userAgent: "edgerelay", log: d.Log, now: d.Now, clk: clock.Or(d.Clock),
		hbDone: make(chan struct{})}
	s.hbCtx, s.hbStop = context.WithCancel(context.Background())
	if s.now == nil {
		s.now = s.clk.Now
	}
	if d.Version != "" {
		s.userAgent += "/" + d.Version
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.events, _ = httpc.NewTarget(http.MethodPost, s.cfg.APIHost+"/api/events") // a failure shows per event
	return s, nil
}

// MaxInFlight returns the configured max_in_flight. It implements the optional
// adapters.InFlightLimiter interface that the daemon checks on a built sink.
func (s *Sink) MaxInFlight() int { return s.cfg.MaxInFlight }

// Connect resolves the integration key and the API key (literal, file, variable, or
// the ILERT_INTEGRATION_KEY / ILERT_API_KEY fallback) and builds the HTTP client. It
// opens no connection. Calling it again re-reads the files and variables.
func (s *Sink) Connect(context.Context) error {
	intKey, err := resolveKey(s.cfg.IntegrationKey, s.cfg.IntegrationKeyFile, s.cfg.IntegrationKeyEnv, DefaultIntegrationKeyEnv)
	if err != nil {
		return fmt.Errorf("resolve integration key: %w", err)
	}
	apiKey, err := resolveKey(s.cfg.APIKey, s.cfg.APIKeyFile, s.cfg.APIKeyEnv, DefaultAPIKeyEnv)
	if err != nil {
		return fmt.Errorf("resolve api key: %w", err)
	}
	apiKey, stripped := StripBearer(apiKey)
	if stripped {
		s.log.Warn("the ilert API key starts with \"Bearer \"; the prefix was removed (configure the bare key)")
	}
	if strings.ContainsAny(apiKey, "\r\n") || strings.ContainsAny(intKey, "\r\n") {
		return errors.New("resolve keys: a key contains a line break")
	}
	client, err := httpc.NewClient(s.cfg.Timeout, s.cfg.TLS)
	if err != nil {
		return fmt.Errorf("build http client: %w", err)
	}
	header := s.staticHeader(apiKey)
	s.mu.Lock()
	old := s.client
	s.client, s.apiKey, s.intKey, s.header = client, apiKey, intKey, header
	s.mu.Unlock()
	if old != nil {
		old.CloseIdleConnections()
	}
	if s.cfg.SelfHeartbeatKey != "" {
		s.hbOnce.Do(func() {
			s.hbStarted.Store(true)
			go s.selfHeartbeat()
		})
	}
	return nil
}

// resolveKey resolves a key given literally, by file or by variable; when none is
// set it reads fallbackEnv, whose absence is not an error.
func resolveKey(value httpc.Secret, file, env, fallbackEnv string) (string, error) {
	if !keyGiven(value, file, env) {
		v := os.Getenv(fallbackEnv)
		secret.Register(v)
		return strings.TrimSpace(v), nil
	}
	sec, err := httpc.ResolveSecret(value.Reveal(), file, env)
	return sec.Reveal(), err
}

// keyGiven reports whether the configuration gives a key itself (else resolveKey
// falls back to the default variable).
func keyGiven(value httpc.Secret, file, env string) bool {
	return value != "" || file != "" || env != ""
}

// keyConfigured reports whether resolveKey would find a key: given, or in fallbackEnv.
func keyConfigured(value httpc.Secret, file, env, fallbackEnv string) bool {
	return keyGiven(value, file, env) || os.Getenv(fallbackEnv) != ""
}

// StripBearer removes a leading "Bearer " (any case) from an API key and reports
// whether it did.
func StripBearer(key string) (string, bool) {
	const p = "bearer "
	if len(key) >= len(p) && strings.EqualFold(key[:len(p)], p) {
		return strings.TrimSpace(key[len(p):]), true
	}
	return key, false
}

// Send delivers e: a heartbeat (Kind [adapters.KindHeartbeat]), an escalation-policy
// update (Kind [adapters.KindPolicy], Payload a [PolicyUpdate]; three calls, each
// successful only with 200, see README.md), an ilert event whose Payload is the
// event body, or an event of the Alerta federation (attribute [AlertaAttrOp], of any
// kind), converted by the mapping in README.md; one with no ilert equivalent returns
// nil after a debug line. Only 202 counts as delivered; 408, 429, 5xx and transport errors are
// retryable (honouring Retry-After); every other answer and an invalid event are
// [adapters.Permanent]. Before Connect it returns an error wrapping
// [adapters.ErrNotConnected]. Its errors never contain the API key or the keys used.
func (s *Sink) Send(ctx context.Context, e *adapters.Event) error {
	s.mu.Lock()
	client, apiKey, intKey, header := s.client, s.apiKey, s.intKey, s.header
	s.mu.Unlock()
	if client == nil {
		return fmt.Errorf("ilert: %w", adapters.ErrNotConnected)
	}
	if _, ok := e.Attrs[AlertaAttrOp]; ok {
		// An event of the Alerta federation: converted here, at send time, so that
		// the stored event stays the federation's and every sink reads the same one.
		body, skip, err := fromAlerta(e)
		if err != nil {
			return httpc.Scrub(adapters.Permanent(fmt.Errorf("ilert event %s: %w", e.ID, err)), apiKey, intKey)
		}
		if skip != "" {
			s.log.Debug("alerta event not sent to ilert", "event_id", e.ID, "op", e.Attrs[AlertaAttrOp], "reason", skip)
			return nil
		}
		c := *e // the daemon may share e with other sinks: never modify it
		c.Kind, c.Payload = adapters.KindAlert, body
		e = &c
	}
	if e.Kind == adapters.KindPolicy {
		return httpc.Scrub(s.sendPolicy(ctx, client, apiKey, e), apiKey, intKey)
	}
	r := httpc.Request{Header: header}
	var key string
	var err error
	if e.Kind == adapters.KindHeartbeat {
		r.Target, key, err = s.heartbeatRequest(e)
	} else {
		r.Target, r.Body, key, err = s.eventRequest(e, intKey)
	}
	if err == nil {
		err = s.do(ctx, client, &r, e)
	}
	if len(key) < minScrubbedKey {
		key = "" // too short to replace without mangling the message
	}
	return httpc.Scrub(err, apiKey, intKey, key)
}

// Preview returns the request Send would send for e (adapters.Previewer): the
// event, heartbeat or Alerta-converted event request, the API key and the
// integration key it would fill in shown as "***". An escalation-policy update (a
// lookup, then a write) is described, not dumped.
func (s *Sink) Preview(e *adapters.Event) ([]byte, string, error) {
	if _, ok := e.Attrs[AlertaAttrOp]; ok {
		body, skip, err := fromAlerta(e)
		if err != nil || skip != "" {
			return nil, skip, err
		}
		c := *e
		c.Kind, c.Payload = adapters.KindAlert, body
		e = &c
	}
	if e.Kind == adapters.KindPolicy {
		return nil, "an escalation-policy update: looked up and written through ilert's REST API, not previewed", nil
	}
	apiKey := ""
	if keyConfigured(s.cfg.APIKey, s.cfg.APIKeyFile, s.cfg.APIKeyEnv, DefaultAPIKeyEnv) {
		apiKey = "***"
	}
	r := httpc.Request{Header: s.staticHeader(apiKey)}
	var err error
	if e.Kind == adapters.KindHeartbeat {
		r.Target, _, err = s.heartbeatRequest(e)
	} else {
		intKey := ""
		if keyConfigured(s.cfg.IntegrationKey, s.cfg.IntegrationKeyFile, s.cfg.IntegrationKeyEnv, DefaultIntegrationKeyEnv) {
			intKey = "***"
		}
		r.Target, r.Body, _, err = s.eventRequest(e, intKey)
	}
	if err != nil {
		return nil, "", err
	}
	b, err := r.Dump()
	return b, "", err
}

// minScrubbedKey is the shortest event-carried key that Send removes from its errors.
const minScrubbedKey = 8

// eventRequest checks the event body, fills in the integration key when the body has
// none, and returns the target for the configured (or attribute-selected) path and
// the body. It returns the integration key used.
func (s *Sink) eventRequest(e *adapters.Event, intKey string) (*httpc.Target, []byte, string, error) {
	key, err := CheckEvent(e.Payload)
	if err != nil {
		return nil, nil, "", adapters.Permanent(fmt.Errorf("ilert event %s: %w", e.ID, err))
	}
	body := e.Payload
	if ref := e.Attrs[AttrKeyRef]; key == "" && ref != "" {
		// A route's event_key, named by reference (AttrKeyRef): it takes precedence
		// over the sink's integration_key, as event_key overrides every other key.
		k, ok := lookupKey(ref)
		if !ok {
			return nil, nil, "", adapters.Permanent(fmt.Errorf("ilert event %s: the route event_key it was queued with (reference %s) is no longer configured; restore it, then `edgerelay queue retry`", e.ID, ref))
		}
		intKey = k
	}
	if key == "" {
		if intKey == "" {
			return nil, nil, "", adapters.Permanent(fmt.Errorf("ilert event %s: no integrationKey in the event and no integration_key configured", e.ID))
		}
		key = intKey
		if body, err = withIntegrationKey(e.Payload, key); err != nil {
			return nil, nil, "", adapters.Permanent(fmt.Errorf("ilert event %s: encode: %w", e.ID, err))
		}
	}
	t, err := s.eventTarget(s.eventsPath(e), key)
	if err != nil {
		return nil, nil, key, adapters.Permanent(fmt.Errorf("ilert event %s: build request: %w", e.ID, err))
	}
	return t, body, key, nil
}

// eventTarget returns the target of events path p for key: the one built in New for
// "events", the last one built when p and key are the same as its.
func (s *Sink) eventTarget(p, key string) (*httpc.Target, error) {
	if p == PathEvents && s.events != nil {
		return s.events, nil
	}
	if kt := s.keyTarget.Load(); p != PathEvents && kt != nil && kt.path == p && kt.key == key {
		return kt.t, nil
	}
	u := s.cfg.APIHost + "/api/events"
	if p != PathEvents {
		u = s.cfg.APIHost + "/api/v1/events/" + p + "/" + url.PathEscape(key)
	}
	t, err := httpc.NewTarget(http.MethodPost, u)
	if err == nil && p != PathEvents {
		s.keyTarget.Store(&keyTarget{path: p, key: key, t: t})
	}
	return t, err
}

// eventsPath returns the events path for e: its AttrEventsPath attribute when valid,
// else events_path.
func (s *Sink) eventsPath(e *adapters.Event) string {
	switch p := e.Attrs[AttrEventsPath]; p {
	case PathEvents, PathMQTT, PathKafka:
		return p
	}
	return s.cfg.EventsPath
}

// heartbeatRequest builds the GET (legacy il1hbt keys) or HEAD ping for the
// heartbeat key of e. It returns the key.
func (s *Sink) heartbeatRequest(e *adapters.Event) (*httpc.Target, string, error) {
	key := HeartbeatKey(e)
	if key == "" {
		return nil, "", adapters.Permanent(fmt.Errorf("ilert heartbeat %s: no heartbeat key (event key, or integrationKey/key/apiKey in the payload)", e.ID))
	}
	method, u := http.MethodHead, s.cfg.HeartbeatHost+"/api/pings/"+url.PathEscape(key)
	if strings.HasPrefix(key, LegacyHeartbeatPrefix) {
		method, u = http.MethodGet, s.cfg.APIHost+"/api/heartbeats/"+url.PathEscape(key)
	}
	t, err := httpc.NewTarget(method, u)
	if err != nil {
		return nil, key, adapters.Permanent(fmt.Errorf("ilert heartbeat %s: build request: %w", e.ID, err))
	}
	return t, key, nil
}

// HeartbeatKey returns the heartbeat key of a heartbeat event: its Key, else the
// first non-empty string among the payload's integrationKey, key and apiKey fields.
func HeartbeatKey(e *adapters.Event) string {
	if e.Key != "" {
		return e.Key
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(e.Payload, &m) != nil {
		return ""
	}
	for _, f := range []string{"integrationKey", "key", "apiKey"} {
		if v := stringField(m, f); v != "" {
			return v
		}
	}
	return ""
}

// headerFields returns the header fields of every request.
func (s *Sink) headerFields(apiKey string) []httpc.Field {
	fs := []httpc.Field{
		{Name: "User-Agent", Value: s.userAgent},
		{Name: "Content-Type", Value: "application/json"},
		{Name: "Accept", Value: "application/json"},
	}
	if apiKey != "" {
		fs = append(fs, httpc.Field{Name: "Authorization", Value: "Bearer " + apiKey})
	}
	return fs
}

// staticHeader returns the header of every request, as Send writes it.
func (s *Sink) staticHeader(apiKey string) *httpc.StaticHeader {
	return httpc.NewStaticHeader(s.headerFields(apiKey)...)
}

// do sends r and applies the status rules: only 202 is success.
func (s *Sink) do(ctx context.Context, client *http.Client, r *httpc.Request, e *adapters.Event) error {
	debug := s.log.Enabled(ctx, slog.LevelDebug)
	r.KeepHeader = debug // for the correlation id
	r.KeepBody = true    // for the excerpt of a 2xx other than 202
	resp, err := httpc.Send(ctx, client, r, maxAnswer)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return adapters.Permanent(fmt.Errorf("%s: %w", r.Target,
			&UnexpectedStatusError{StatusError: httpc.StatusError{StatusCode: resp.StatusCode, Excerpt: httpc.Excerpt(resp.Body, httpc.MaxExcerpt)}}))
	}
	if id := resp.Get("correlation-id"); id != "" && debug {
		s.log.Debug("ilert accepted", "event_id", e.ID, "kind", e.Kind, "correlation_id", id)
	}
	return nil
}

// UnexpectedStatusError is a 2xx answer other than the one ilert gives for a request
// it accepted: 202 Accepted for events and heartbeats, 200 OK for policy calls. It is
// always permanent.
type UnexpectedStatusError struct {
	httpc.StatusError
	// Want is the expected status; zero means 202.
	Want int
}

// Error renders "status 200 OK, want 202 Accepted: <excerpt>".
func (e *UnexpectedStatusError) Error() string {
	want := e.Want
	if want == 0 {
		want = http.StatusAccepted
	}
	msg := fmt.Sprintf("status %d %s, want %d %s", e.StatusCode, http.StatusText(e.StatusCode), want, http.StatusText(want))
	if e.Excerpt != "" {
		msg += ": " + e.Excerpt
	}
	return msg
}

// CheckEvent checks an ilert event body as ilagent does before sending: a JSON object
// whose eventType is ALERT, ACCEPT, RESOLVE or COMMENT, whose priority, when present
// and not null, is HIGH or LOW, and whose integrationKey, when present and not null,
// is a string. It returns the integration key ("" when absent or null). It reads the
// body once without decoding it into maps: the sink runs it for every event.
func CheckEvent(body []byte) (string, error) {
	if key, ok := acceptEvent(body); ok {
		return key, nil // the common case, in one pass without copying the body
	}
	if !gjson.ValidBytes(body) {
		return "", errors.New("payload is not a JSON object")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return "", errors.New("payload is not a JSON object")
	}
	// One pass over the members; the first of a repeated name counts, as for a
	// gjson path.
	var et, pr, key gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch {
		case k.Str == "eventType" && !et.Exists():
			et = v
		case k.Str == "priority" && !pr.Exists():
			pr = v
		case k.Str == "integrationKey" && !key.Exists():
			key = v
		}
		return true
	})
	if et.Type != gjson.String {
		return "", errors.New("eventType: missing or not a string")
	}
	switch et.Str {
	case "ALERT", "ACCEPT", "RESOLVE", "COMMENT":
	default:
		return "", fmt.Errorf("eventType: %q is not ALERT, ACCEPT, RESOLVE or COMMENT", et.Str)
	}
	if pr.Exists() && pr.Type != gjson.Null && (pr.Type != gjson.String || pr.Str != "HIGH" && pr.Str != "LOW") {
		return "", fmt.Errorf("priority: must be HIGH, LOW or null, got %s", httpc.Excerpt([]byte(pr.Raw), 32))
	}
	switch key.Type {
	case gjson.Null, gjson.String:
	default:
		return "", errors.New("integrationKey: not a string")
	}
	return key.Str, nil
}

// withIntegrationKey returns body with integrationKey set to key (added, or replacing
// a null), other members kept as they are.
func withIntegrationKey(body []byte, key string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(key)
	m["integrationKey"] = raw
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// stringField returns m[name] when it is a JSON string, else "".
func stringField(m map[string]json.RawMessage, name string) string {
	var v string
	if raw, ok := m[name]; ok && json.Unmarshal(raw, &v) == nil {
		return v
	}
	return ""
}

// Close releases idle connections. Send after Close returns an error wrapping
// [adapters.ErrNotConnected].
func (s *Sink) Close(context.Context) error {
	s.stopSelfHeartbeat()
	s.mu.Lock()
	client := s.client
	s.client, s.apiKey, s.intKey, s.header = nil, "", "", nil
	s.mu.Unlock()
	if client != nil {
		client.CloseIdleConnections()
	}
	return nil
}
