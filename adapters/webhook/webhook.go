// Package webhook is the webhook sink: it sends each event's payload, unchanged, in
// one HTTP request (POST or PUT) to a configured URL, with static headers, an auth
// header and forwarded event attributes. See README.md for the configuration and the
// delivery semantics.
package webhook

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
)

//go:embed sample.yaml
var sample string

func init() {
	adapters.RegisterSink("webhook", adapters.SinkSpec[Config]{
		Summary:  "Send each event's payload in an HTTP POST or PUT to a URL.",
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

// Headers the sink sets on every request.
const (
	HeaderEventID = "X-Edgerelay-Event-Id"
	HeaderKey     = "X-Edgerelay-Key" // only when the event has a key
	HeaderSource  = "X-Edgerelay-Source"
	HeaderTopic   = "X-Edgerelay-Topic"
)

// AttrHeaderPrefix marks event attributes forwarded as request headers:
// Attrs["header.X-Alerta-Loop"] becomes the header X-Alerta-Loop.
const AttrHeaderPrefix = "header."

// maxAnswer bounds how much of an answer is read for the error excerpt.
const maxAnswer = 4 << 10

// Sink is the webhook sink. It is safe for concurrent Send.
type Sink struct {
	cfg        Config
	authHeader string // canonical form of cfg.AuthHeader
	where      string // "POST https://host/path", userinfo removed, for errors
	secrets    []string
	userAgent  string
	static     []httpc.Field // cfg.Headers with canonical names
	log        *slog.Logger
	target     *httpc.Target // cfg.Method and cfg.URL, or nil when they do not parse
	targetErr  error

	mu     sync.Mutex // guards client, auth and header
	client *http.Client
	auth   httpc.Secret
	header *httpc.StaticHeader // the fields every request carries (see headers)
}

// New builds a webhook sink from cfg (zero fields take their defaults). It checks
// the configuration but reads no file and opens no connection.
func New(cfg Config, d adapters.Deps) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{
		cfg:        cfg,
		authHeader: http.CanonicalHeaderKey(cfg.AuthHeader),
		where:      cfg.Method + " " + httpc.RedactURL(cfg.URL),
		userAgent:  "edgerelay",
		log:        d.Log,
	}
	if d.Version != "" {
		s.userAgent += "/" + d.Version
	}
	for k, v := range cfg.Headers {
		s.static = append(s.static, httpc.Field{Name: http.CanonicalHeaderKey(k), Value: v})
	}
	s.target, s.targetErr = httpc.NewTarget(cfg.Method, cfg.URL)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if u, err := url.Parse(cfg.URL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			s.secrets = append(s.secrets, p)
		} else {
			s.secrets = append(s.secrets, u.User.Username()) // a token given as the user name
		}
	}
	return s, nil
}

// MaxInFlight returns the configured max_in_flight. It implements the optional
// adapters.InFlightLimiter interface that the daemon checks on a built sink: when present,
// its result replaces the registered Info.MaxInFlight as the bound on concurrent Send
// calls for this instance.
func (s *Sink) MaxInFlight() int { return s.cfg.MaxInFlight }

// Connect resolves the auth value (from auth_value, auth_value_file or
// auth_value_env) and builds the HTTP client from the TLS settings. It opens no
// connection: the endpoint is first contacted by Send. Calling it again re-reads the
// auth file or variable and the TLS files.
func (s *Sink) Connect(context.Context) error {
	auth, err := httpc.ResolveSecret(s.cfg.AuthValue.Reveal(), s.cfg.AuthValueFile, s.cfg.AuthValueEnv)
	if err != nil {
		return fmt.Errorf("resolve auth value: %w", err)
	}
	if strings.ContainsAny(auth.Reveal(), "\r\n") {
		return fmt.Errorf("resolve auth value: it contains a line break")
	}
	client, err := httpc.NewClient(s.cfg.Timeout, s.cfg.TLS)
	if err != nil {
		return fmt.Errorf("build http client: %w", err)
	}
	header := s.staticHeader(auth)
	s.mu.Lock()
	old := s.client
	s.client, s.auth, s.header = client, auth, header
	s.mu.Unlock()
	if old != nil {
		old.CloseIdleConnections()
	}
	return nil
}

// Send delivers e in one request and classifies the answer: 2xx is delivered; 408,
// 429, 5xx and transport errors are retryable (honouring Retry-After); any other
// status is permanent. Before Connect it returns an error wrapping
// [adapters.ErrNotConnected]. Its errors never contain the auth value or URL userinfo.
func (s *Sink) Send(ctx context.Context, e *adapters.Event) error {
	s.mu.Lock()
	client, auth, header := s.client, s.auth, s.header
	s.mu.Unlock()
	if client == nil {
		return fmt.Errorf("%s: %w", s.where, adapters.ErrNotConnected)
	}
	if s.targetErr != nil {
		return s.scrub(adapters.Permanent(fmt.Errorf("%s: build request: %w", s.where, s.targetErr)), auth)
	}
	var fields [8]httpc.Field // on the stack: forwarded attributes are rare
	r := s.request(header, fields[:0], e)
	_, err := httpc.Send(ctx, client, &r, maxAnswer)
	return s.scrub(err, auth)
}

// Preview returns the request Send would send for e (adapters.Previewer), the
// auth value shown as "***".
func (s *Sink) Preview(e *adapters.Event) ([]byte, string, error) {
	if s.targetErr != nil {
		return nil, "", fmt.Errorf("%s: build request: %w", s.where, s.targetErr)
	}
	var auth httpc.Secret
	if s.cfg.AuthValue != "" || s.cfg.AuthValueFile != "" || s.cfg.AuthValueEnv != "" {
		auth = "***"
	}
	r := s.request(s.staticHeader(auth), nil, e)
	b, err := r.Dump()
	return b, "", err
}

// request is e's request with header, its own fields appended to fs: what Send
// sends and Preview shows.
func (s *Sink) request(header *httpc.StaticHeader, fs []httpc.Field, e *adapters.Event) httpc.Request {
	return httpc.Request{Target: s.target, Header: header, Fields: s.eventFields(fs, e), Body: e.Payload}
}

// The request's header, in increasing order of precedence: forwarded event
// attributes, User-Agent, static headers, the sink's own headers, the auth header.
// What does not change between events is built once per Connect (staticHeader); the
// rest per event (eventFields).

// staticHeader returns the fields every request carries: User-Agent (which a static
// User-Agent header replaces), the static headers, Content-Type and the auth header.
func (s *Sink) staticHeader(auth httpc.Secret) *httpc.StaticHeader {
	fs := make([]httpc.Field, 0, 3+len(s.static))
	fs = append(fs, httpc.Field{Name: "User-Agent", Value: s.userAgent})
	fs = append(fs, s.static...)
	fs = append(fs, httpc.Field{Name: "Content-Type", Value: s.cfg.ContentType})
	if auth != "" {
		fs = append(fs, httpc.Field{Name: s.authHeader, Value: auth.Reveal()})
	}
	return httpc.NewStaticHeader(fs...)
}

// eventFields appends e's own fields to fs: the forwarded attributes that no static
// field overrides, and the sink's X-Edgerelay headers.
func (s *Sink) eventFields(fs []httpc.Field, e *adapters.Event) []httpc.Field {
	for k, v := range e.Attrs {
		name, ok := strings.CutPrefix(k, AttrHeaderPrefix)
		if !ok {
			continue
		}
		canon := http.CanonicalHeaderKey(name)
		if !validHeaderName(name) || reservedHeader(canon) || canon == s.authHeader || canon == "User-Agent" {
			s.log.Debug("event attribute not forwarded as a header", "event_id", e.ID, "attr", k)
			continue
		}
		if slices.ContainsFunc(s.static, func(f httpc.Field) bool { return f.Name == canon }) {
			continue // a static header wins
		}
		f := httpc.Field{Name: canon, Value: httpc.HeaderValue(v)}
		if i := slices.IndexFunc(fs, func(g httpc.Field) bool { return g.Name == canon }); i >= 0 {
			fs[i] = f // two attributes for one header: one wins, as one map key would
		} else {
			fs = append(fs, f)
		}
	}
	fs = append(fs, httpc.Field{Name: HeaderEventID, Value: httpc.HeaderValue(e.ID)})
	if e.Key != "" {
		fs = append(fs, httpc.Field{Name: HeaderKey, Value: httpc.HeaderValue(e.Key)})
	}
	return append(fs,
		httpc.Field{Name: HeaderSource, Value: httpc.HeaderValue(e.Source)},
		httpc.Field{Name: HeaderTopic, Value: httpc.HeaderValue(e.Topic)})
}

// scrub removes the auth value (and its token part) and URL userinfo from err's text.
func (s *Sink) scrub(err error, auth httpc.Secret) error {
	if err == nil {
		return nil
	}
	secrets := append([]string{auth.Reveal()}, s.secrets...)
	if f := strings.Fields(auth.Reveal()); len(f) > 1 && len(f[len(f)-1]) >= 8 {
		secrets = append(secrets, f[len(f)-1]) // "Bearer <token>": the token alone
	}
	return httpc.Scrub(err, secrets...)
}

// Close releases idle connections. In-flight requests have returned by contract.
// Send after Close returns an error wrapping [adapters.ErrNotConnected].
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	client := s.client
	s.client, s.auth, s.header = nil, "", nil
	s.mu.Unlock()
	if client != nil {
		client.CloseIdleConnections()
	}
	return nil
}
