// Package forward is the alerta sink: it forwards the federation's alerts, actions,
// deletes and heartbeats (and any other event, converted by the documented mapping)
// to one Alerta server or edgerelay gateway, as Alerta 9.1's forwarder puts them on
// the wire (spec alerta-federation.md §2), with Alerta's filter words (§1.3), its
// loop prevention (§3), its four auth methods (§4), and what Alerta lacks: retries
// from the durable outbox, a circuit breaker and a resend of the alert when an
// action finds the remote without it (§9.3). See README.md.
package forward

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
	"github.com/edgerelay/edgerelay/adapters/breaker"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

//go:embed sample.yaml
var sample string

func init() {
	adapters.RegisterSink("alerta", adapters.SinkSpec[Config]{
		Summary:  "Forward alerts, actions, deletes and heartbeats to an Alerta server or gateway, as Alerta's forwarder does.",
		Sample:   sample,
		Defaults: DefaultConfig,
		New:      func(cfg Config, d adapters.Deps) (adapters.Sink, error) { return New(cfg, d) },
		Info:     adapters.Info{MaxInFlight: DefaultMaxInFlight},
	})
}

var (
	_ adapters.Sink             = (*Sink)(nil)
	_ adapters.InFlightLimiter  = (*Sink)(nil)
	_ adapters.LoopIdentityUser = (*Config)(nil)
)

// maxAnswer bounds how much of an answer is read: enough for Alerta's error
// envelope and its loop message.
const maxAnswer = 4 << 10

// contentType is sent on every request, DELETE included, as Alerta's forwarder
// sends it (§2).
const contentType = "application/json"

// loopMarker is in the body of the 500 a real Alerta answers a looped DELETE with
// (§3.3): the remote has already seen the event, so it is delivered.
var loopMarker = []byte("already processed by")

// Sink is the alerta sink. It is safe for concurrent Send.
type Sink struct {
	cfg       Config
	filter    alerta.Filter
	method    string // the auth method used (authMethods' first), authNone for none
	userAgent string
	log       *slog.Logger
	clk       clock.Clock
	br        *breaker.Breaker
	nonce     func() string // hawk.Nonce; tests pin it
	newID     func() string // the X-Request-ID of each attempt; tests pin it

	mu     sync.Mutex // guards client and cred
	client *http.Client
	cred   *credentials
}

// credentials are the secrets Connect resolved.
type credentials struct {
	header  string            // a static Authorization value (Basic, Key, Bearer), or ""
	hawk    *hawk.Credentials // set for Hawk
	secrets []string          // every form to scrub from errors
}

// New builds an alerta sink from cfg (zero fields take their defaults). It checks
// the configuration but reads no file and opens no connection. cfg.Origin must be
// set, by the configuration or by the loader (Config.UseLoopIdentity).
func New(cfg Config, d adapters.Deps) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Origin == "" {
		return nil, ErrNoOrigin
	}
	s := &Sink{cfg: cfg, filter: alerta.Filter(cfg.Forward), userAgent: "edgerelay", log: d.Log, clk: clock.Or(d.Clock),
		nonce: hawk.Nonce, newID: alerta.NewUUID}
	if d.Version != "" {
		s.userAgent += "/" + d.Version
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	health := d.Health
	if health == nil {
		health = adapters.NopHealth{}
	}
	methods := cfg.authMethods()
	if len(methods) > 0 {
		s.method = methods[0]
	}
	if len(methods) > 1 {
		s.log.Warn("several auth methods configured: the first in Alerta's precedence (username, hawk, api_key, token) is used",
			"used", methods[0], "ignored", strings.Join(methods[1:], ","))
	}
	circuit := d.Circuit
	s.br = breaker.New(breaker.Config{Failures: cfg.Circuit.Failures, OpenFor: cfg.Circuit.OpenFor}, s.clk, func(c breaker.Change) {
		switch c.To {
		case breaker.Open:
			wait := max(c.Until.Sub(s.clk.Now()), 0).Round(time.Second)
			health.SetDegraded("circuit", false, fmt.Sprintf("open after %d failures, probing in %ds", c.Failures, int(wait/time.Second)))
			s.log.Warn("circuit open", "failures", c.Failures, "retry_in", wait.Seconds())
		case breaker.HalfOpen:
			health.SetDegraded("circuit", false, "half-open: probing")
		case breaker.Closed:
			health.SetDegraded("circuit", true, "")
			s.log.Info("circuit closed")
		}
		if circuit != nil {
			circuit(string(c.To))
		}
	})
	if circuit != nil {
		circuit(string(breaker.Closed))
	}
	return s, nil
}

// MaxInFlight returns the configured max_in_flight (adapters.InFlightLimiter).
func (s *Sink) MaxInFlight() int { return s.cfg.MaxInFlight }

// Connect resolves the credentials (literal, file or environment) and builds the
// HTTP client from the TLS settings. It opens no connection. While the circuit is
// open it fails, wrapping [adapters.ErrNotConnected] with the time left, so that the
// pipeline holds the outbox until the circuit lets a probe through.
func (s *Sink) Connect(context.Context) error {
	if rem := s.br.Remaining(); rem > 0 {
		return adapters.RetryAfter(fmt.Errorf("circuit open, probing in %s: %w", rem.Round(time.Second), adapters.ErrNotConnected), rem)
	}
	cred, err := s.resolve()
	if err != nil {
		return err
	}
	client, err := httpc.NewClient(s.cfg.Timeout, s.cfg.TLS)
	if err != nil {
		return fmt.Errorf("build http client: %w", err)
	}
	s.use(client, cred)
	return nil
}

// use makes Send use client and cred (nil: not connected), and releases the idle
// connections of the client it used before.
func (s *Sink) use(client *http.Client, cred *credentials) {
	s.mu.Lock()
	old := s.client
	s.client, s.cred = client, cred
	s.mu.Unlock()
	if old != nil {
		old.CloseIdleConnections()
	}
}

// resolve reads the secrets of the auth method in use.
func (s *Sink) resolve() (*credentials, error) {
	c := &credentials{}
	get := func(key string, v httpc.Secret, file, env string) (string, error) {
		sec, err := httpc.ResolveSecret(v.Reveal(), file, env)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", key, err)
		}
		if strings.ContainsAny(sec.Reveal(), "\r\n") {
			return "", fmt.Errorf("resolve %s: it contains a line break", key)
		}
		c.secrets = append(c.secrets, sec.Reveal())
		return sec.Reveal(), nil
	}
	cfg := &s.cfg
	switch s.method {
	case authBasic:
		p, err := get("password", cfg.Password, cfg.PasswordFile, cfg.PasswordEnv)
		if err != nil {
			return nil, err
		}
		b64 := base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + p))
		secret.Register(b64) // a peer echoing the header must not show it in an excerpt
		c.header = "Basic " + b64
		c.secrets = append(c.secrets, b64)
	case authHawk:
		k, err := get("hawk.key", cfg.Hawk.Key, cfg.Hawk.KeyFile, cfg.Hawk.KeyEnv)
		if err != nil {
			return nil, err
		}
		if k == "" {
			return nil, errors.New("resolve hawk.key: it is empty")
		}
		c.hawk = &hawk.Credentials{ID: cfg.Hawk.ID, Key: k, Algorithm: cfg.Hawk.Algorithm}
	case authKey:
		k, err := get("api_key", cfg.APIKey, cfg.APIKeyFile, cfg.APIKeyEnv)
		if err != nil {
			return nil, err
		}
		c.header = "Key " + k
	case authBearer:
		t, err := get("token", cfg.Token, cfg.TokenFile, cfg.TokenEnv)
		if err != nil {
			return nil, err
		}
		c.header = "Bearer " + t
	}
	return c, nil
}

// request is one event's plan: what to send where.
type request struct {
	op     string // alerta.OpAlert, OpAction, OpDelete, OpHeartbeat
	id     string // the alert id, for action and delete
	action string // the action name
	body   []byte
	resend []byte // the alert body for a 404 resend, or nil
	loop   string // the X-Alerta-Loop value
}

// Send forwards e. A federation event (alerta.op) is sent as it is; any other is
// converted first. An event the filter does not forward, or whose loop header
// already holds the destination, is delivered without a request (Alerta would skip
// it too; a looped DELETE would even get a 500). Answers: 2xx (202 for a loop
// included) is delivered; 409 to an action (the remote already has that state)
// too; 404 to an action with resend_on_404 (to a delete with resend_delete_on_404),
// the alert's body and a filter that takes alerts posts the alert and then the
// action or delete again; a delete answered 404 in the end is delivered (gone); a
// 500 saying "already
// processed by" is a loop, delivered; 408, 429, 5xx and transport errors are
// retryable (Retry-After honoured) and count towards the circuit; any other status
// is permanent. Errors never contain a secret.
func (s *Sink) Send(ctx context.Context, e *adapters.Event) error {
	s.mu.Lock()
	client, cred := s.client, s.cred
	s.mu.Unlock()
	if client == nil {
		return fmt.Errorf("%s: %w", httpc.RedactURL(s.cfg.URL), adapters.ErrNotConnected)
	}
	r, err := s.plan(e)
	if err != nil {
		return s.scrub(adapters.Permanent(err), cred)
	}
	if r == nil {
		return nil
	}
	if ok, wait := s.br.Allow(); !ok {
		return adapters.RetryAfter(fmt.Errorf("%s: circuit open, probing in %s: %w",
			httpc.RedactURL(s.cfg.URL), wait.Round(time.Second), adapters.ErrNotConnected), wait)
	}
	err = s.exchange(ctx, client, cred, r, e.ID)
	switch {
	case err == nil || adapters.IsPermanent(err):
		s.br.Success() // the remote answered: it is up
	case ctx.Err() != nil:
		s.br.Release()
	default:
		s.br.Failure()
	}
	return s.scrub(err, cred)
}

// plan decides what e becomes on the wire; nil without error means not forwarded.
func (s *Sink) plan(e *adapters.Event) (*request, error) {
	r := &request{op: e.Attrs[alerta.AttrOp], loop: e.Attrs[alerta.AttrLoop]}
	if r.op != "" {
		r.body = e.Payload
		r.id = e.Attrs[alerta.AttrID]
		if r.id == "" {
			r.id = e.Key
		}
		if v := e.Attrs[alerta.AttrResend]; v != "" {
			r.resend = []byte(v)
		}
		switch r.op {
		case alerta.OpAlert, alerta.OpHeartbeat:
		case alerta.OpAction, alerta.OpDelete:
			if r.id == "" {
				return nil, fmt.Errorf("%s event without %s", r.op, alerta.AttrID)
			}
			if r.op == alerta.OpDelete {
				r.body = nil
			}
		default:
			return nil, fmt.Errorf("%s %q is not one of alert, action, delete, heartbeat", alerta.AttrOp, r.op)
		}
	} else {
		o := s.cfg.Convert
		o.Now = s.clk.Now()
		c, err := alerta.FromEvent(e, o)
		if err != nil {
			return nil, fmt.Errorf("convert: %w", err)
		}
		if c.Skip != "" {
			s.log.Debug("not forwarded: no Alerta equivalent", "event_id", e.ID, "reason", c.Skip)
			return nil, nil
		}
		r.op, r.id, r.body, r.resend = c.Op, c.ID, c.Body, c.Resend
	}
	if r.op == alerta.OpAction {
		a, aerr := alerta.DecodeAction(r.body)
		if aerr != nil {
			return nil, fmt.Errorf("action body: %s", aerr.Message)
		}
		r.action = a.Action
	}
	var pass bool
	switch r.op {
	case alerta.OpAlert:
		pass = s.filter.Alerts()
	case alerta.OpAction:
		pass = s.filter.Action(r.action)
	case alerta.OpDelete:
		pass = s.filter.Delete()
	case alerta.OpHeartbeat:
		pass = s.filter.Heartbeats()
	}
	if !pass {
		s.log.Debug("not forwarded: the filter does not take it", "event_id", e.ID, "op", r.op, "action", r.action)
		return nil, nil
	}
	if alerta.LoopSkip(r.loop, s.cfg.URL) {
		s.log.Debug("not forwarded: the destination already processed it", "event_id", e.ID, "op", r.op)
		return nil, nil
	}
	if r.loop == "" {
		r.loop = s.cfg.Origin
	}
	return r, nil
}

// exchange sends r and applies the answer rules of Send.
func (s *Sink) exchange(ctx context.Context, c *http.Client, cred *credentials, r *request, eventID string) error {
	method, path, body := s.first(r)
	switch r.op {
	case alerta.OpAlert, alerta.OpHeartbeat:
		_, err := s.do(ctx, c, cred, method, path, body, r.loop)
		return err
	case alerta.OpDelete:
		code, err := s.do(ctx, c, cred, method, path, body, r.loop)
		// With resend_delete_on_404, a destination that does not know the alert (a
		// gateway that lost it while the nodes behind it still hold it: only a delete
		// it can apply travels on) gets the alert first, as for an action, and the
		// delete again; a 404 left means it is gone.
		if code == http.StatusNotFound && s.cfg.ResendDeleteOn404 && s.resends(r) {
			s.log.Debug("delete: the remote has no such alert; sending the alert first", "event_id", eventID)
			if _, err := s.do(ctx, c, cred, http.MethodPost, s.cfg.Paths.Alert, r.resend, r.loop); err != nil {
				return fmt.Errorf("resend the alert for its delete: %w", err)
			}
			code, err = s.do(ctx, c, cred, http.MethodDelete, path, nil, r.loop)
		}
		if code == http.StatusNotFound {
			s.log.Debug("delete: the remote has no such alert", "event_id", eventID)
			return nil
		}
		return err
	}
	code, err := s.do(ctx, c, cred, method, path, body, r.loop)
	if code == http.StatusNotFound && s.resends(r) {
		s.log.Debug("action: the remote has no such alert; sending the alert first", "event_id", eventID)
		if _, err := s.do(ctx, c, cred, http.MethodPost, s.cfg.Paths.Alert, r.resend, r.loop); err != nil {
			return fmt.Errorf("resend the alert for action %s: %w", r.action, err)
		}
		code, err = s.do(ctx, c, cred, http.MethodPut, path, r.body, r.loop)
	}
	if code == http.StatusConflict {
		s.log.Debug("action: the remote already has that state", "event_id", eventID, "action", r.action)
		return nil
	}
	return err
}

// first returns the request r starts with: an alert's or heartbeat's POST, an
// action's PUT, a delete's DELETE (no body), with its path. Send and Preview both
// take it from here.
func (s *Sink) first(r *request) (method, path string, body []byte) {
	switch r.op {
	case alerta.OpHeartbeat:
		return http.MethodPost, s.cfg.Paths.Heartbeat, r.body
	case alerta.OpDelete:
		return http.MethodDelete, pathFor(s.cfg.Paths.Delete, r.id), nil
	case alerta.OpAction:
		return http.MethodPut, pathFor(s.cfg.Paths.Action, r.id), r.body
	}
	return http.MethodPost, s.cfg.Paths.Alert, r.body
}

func bodyReader(b []byte) io.Reader {
	if len(b) == 0 {
		return http.NoBody
	}
	return bytes.NewReader(b)
}

// resends reports whether a 404 to r's action or delete is answered by posting the
// alert first: resend_on_404, a resend body, and a filter that takes alerts (the
// resend is an alert POST, and §1.3 sends alerts if and only if the list has "*" or
// "alerts": an actions-only destination never receives one, not even this way).
func (s *Sink) resends(r *request) bool {
	return *s.cfg.ResendOn404 && len(r.resend) > 0 && s.filter.Alerts()
}

// do sends one request and returns the answer's status (0 for none) and its
// classified outcome; a loop answer is a success.
func (s *Sink) do(ctx context.Context, c *http.Client, cred *credentials, method, path string, body []byte, loop string) (int, error) {
	rd := bodyReader(body)
	// A trailing '/' on url would give "//alert" (Alerta's forwarder sends that), which
	// a receiver answers with a redirect or a 404, and every event would be
	// dead-lettered; the path is joined without it. The loop skip still compares the
	// url as written (its strict match ignores a trailing '/' anyway).
	req, err := s.newRequest(ctx, method, path, rd, loop)
	if err != nil {
		return 0, err
	}
	if err := s.authorize(req, cred, body); err != nil {
		return 0, err
	}
	resp, answer, err := httpc.Do(c, req, maxAnswer)
	code := 0
	if resp != nil {
		code = resp.StatusCode
	}
	if code == http.StatusInternalServerError && bytes.Contains(answer, loopMarker) {
		return code, nil
	}
	return code, err
}

// newRequest builds one request without its Authorization header.
func (s *Sink) newRequest(ctx context.Context, method, path string, body io.Reader, loop string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(s.cfg.URL, "/")+path, body)
	if err != nil {
		return nil, adapters.Permanent(fmt.Errorf("build request: %w", secret.URLError(err)))
	}
	// Identity transfer coding makes net/http write "Content-Length: 0" on a DELETE,
	// as Alerta sends it (it writes none for an empty body otherwise), and sends every
	// request through http.Request.Write: the header in one stable order.
	req.TransferEncoding = []string{"identity"}
	h := req.Header
	h["User-Agent"] = []string{s.userAgent}
	h[alerta.HeaderLoop] = []string{httpc.HeaderValue(loop)}
	h[alerta.HeaderRequestID] = []string{s.newID()}
	h["Content-Type"] = []string{contentType}
	return req, nil
}

// Preview returns the request Send would send first for e (adapters.Previewer):
// the alert's POST, an action's PUT or a delete's DELETE, the Authorization header
// as "***" (Hawk's too: its MAC depends on the moment). A 404's resend of the alert
// is not shown. An event the filter or the loop header keeps back sends nothing.
func (s *Sink) Preview(e *adapters.Event) ([]byte, string, error) {
	r, err := s.plan(e)
	if err != nil {
		return nil, "", err
	}
	if r == nil {
		return nil, "not forwarded: no Alerta equivalent, the filter does not take it, or the destination already processed it (X-Alerta-Loop)", nil
	}
	method, path, body := s.first(r)
	req, err := s.newRequest(context.Background(), method, path, bodyReader(body), r.loop)
	if err != nil {
		return nil, "", err
	}
	if s.method != authNone {
		req.Header["Authorization"] = []string{"*** (" + s.method + ")"}
	}
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		return nil, "", err
	}
	return b.Bytes(), "", nil
}

// authorize sets req's Authorization header. Hawk signs the host, the port (80 or
// 443 by scheme when the URL names none) and the path and query exactly as they go
// on the wire, and always includes the payload hash, also over a DELETE's empty body
// (with its application/json Content-Type, which a real Alerta accepts, §4.2).
func (s *Sink) authorize(req *http.Request, cred *credentials, body []byte) error {
	switch {
	case cred.hawk != nil:
		r, err := hawk.RequestFor(req.Method, req.URL, req.Header.Get("Content-Type"), body)
		if err != nil {
			return adapters.Permanent(fmt.Errorf("sign request: %w", err))
		}
		v, err := hawk.Header(*cred.hawk, r, s.clk.Now().Unix(), s.nonce())
		if err != nil {
			return adapters.Permanent(fmt.Errorf("sign request: %w", err))
		}
		req.Header["Authorization"] = []string{v}
	case cred.header != "":
		req.Header["Authorization"] = []string{cred.header}
	}
	return nil
}

// scrub removes every form of the credentials from err's text.
func (s *Sink) scrub(err error, cred *credentials) error {
	if err == nil {
		return nil
	}
	var secrets []string
	if cred != nil {
		secrets = cred.secrets // resolve put every secret there, the Hawk key included
	}
	return httpc.Scrub(err, secrets...)
}

// Close releases idle connections. Send after Close returns an error wrapping
// [adapters.ErrNotConnected].
func (s *Sink) Close(context.Context) error {
	s.use(nil, nil)
	return nil
}
