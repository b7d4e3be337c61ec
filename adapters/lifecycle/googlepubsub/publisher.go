package googlepubsub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// ErrClosed is returned by Connect and Publish after Close.
var ErrClosed = errors.New("publisher closed")

// ErrCredentialsRefused is wrapped by errors from Pub/Sub (401, 403) and from a
// token endpoint that refuses the credentials.
var ErrCredentialsRefused = errors.New("credentials refused")

// APIError is an error answer of the Pub/Sub API.
type APIError struct {
	Topic   string // the topic id published to
	Code    int    // the HTTP status
	Status  string // Google's status ("NOT_FOUND", "PERMISSION_DENIED")
	Message string // Google's message, redacted and bounded
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "publish to topic %q: %d", e.Topic, e.Code)
	if e.Status != "" {
		b.WriteString(" " + e.Status)
	}
	if e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden {
		b.WriteString(": " + ErrCredentialsRefused.Error())
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrCredentialsRefused) true for 401 and 403.
func (e *APIError) Unwrap() error {
	if e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden {
		return ErrCredentialsRefused
	}
	return nil
}

// Publisher publishes to Pub/Sub with topics.publish. The daemon calls it from
// one goroutine; Close may come from another.
type Publisher struct {
	cfg       Config
	d         lifecycle.Deps
	client    *http.Client
	ownClient bool
	base      string // scheme://host of the REST endpoint
	emulator  bool

	closed atomic.Bool
	// src and tok are used by the publishing goroutine only.
	src source
	tok token
}

var _ lifecycle.Publisher = (*Publisher)(nil)

func newPublisher(c Config, d lifecycle.Deps) *Publisher {
	p := &Publisher{cfg: c, d: d, client: noRedirects(d.HTTP)}
	if d.HTTP == nil {
		p.client.Transport = http.DefaultTransport.(*http.Transport).Clone()
		p.ownClient = true
	}
	if c.EmulatorHost != "" {
		p.base, p.emulator = "http://"+c.EmulatorHost, true
	} else {
		p.base = strings.TrimSuffix(c.Endpoint, "/")
	}
	return p
}

// noRedirects returns a copy of c (a new client when c is nil) that follows no
// redirect: a 3xx is the answer, and an error. Go strips only Authorization and
// cookies on a redirect to another host and resends a 307/308's POST body, which
// for a token request holds the refresh token and client secret or the signed
// assertion. The copy shares c's transport.
func noRedirects(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}

// redirectHint is added to the error of a 3xx answer.
const redirectHint = "a redirect, not followed: a request's token or credentials are never sent on to another address; set the endpoint to the final one"

func (p *Publisher) userAgent() string {
	v := p.d.Version
	if v == "" {
		v = "dev"
	}
	return "edgerelay/" + v
}

// Connect gets an access token (unless a cached one is still good, or in emulator
// mode) and checks that the endpoint answers HTTP.
func (p *Publisher) Connect(ctx context.Context) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if !p.emulator && !p.tok.valid(p.d.Clock.Now()) {
		if err := p.refresh(ctx); err != nil {
			return err
		}
	}
	return p.probe(ctx)
}

// refresh resolves the credentials chain again and gets a new token.
func (p *Publisher) refresh(ctx context.Context) error {
	p.tok = token{}
	src, err := p.resolve()
	if err != nil {
		return secret.Scrub(err)
	}
	t, err := src.fetch(ctx, p)
	if err != nil {
		if _, ok := src.(metadata); ok && !errors.Is(err, ErrCredentialsRefused) {
			err = fmt.Errorf("no Google credentials (%s not set, no $HOME/.config/gcloud/application_default_credentials.json, no token from the metadata server): %w", EnvCredentials, err)
		} else {
			err = fmt.Errorf("%s: %w", src, err)
		}
		return secret.Scrub(err)
	}
	p.src, p.tok = src, t
	return nil
}

// probe sends GET / to the endpoint: any HTTP answer means it is reachable (the
// publisher role may not read topics, so nothing more is asked).
func (p *Publisher) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/", nil)
	if err != nil {
		return fmt.Errorf("pubsub endpoint: %w", secret.URLError(err))
	}
	req.Header.Set("User-Agent", p.userAgent())
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("pubsub endpoint %s: %w", p.where(), transportError(ctx, err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	_ = resp.Body.Close()
	return nil
}

func (p *Publisher) where() string {
	if p.emulator {
		return p.base + " (emulator)"
	}
	return p.base
}

// TopicID returns the topic id a message of type typ goes to.
func (c *Config) TopicID(typ string) string { return c.TopicIDPrefix + lifecycle.DomainTopic(typ) }

type publishRequest struct {
	Messages []pubsubMessage `json:"messages"`
}

type pubsubMessage struct {
	Data       string            `json:"data"`
	Attributes map[string]string `json:"attributes"`
}

// Publish posts m to its topic and waits for the message id.
func (p *Publisher) Publish(ctx context.Context, m lifecycle.Message) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !p.emulator && !p.tok.valid(p.d.Clock.Now()) {
		if err := p.refresh(ctx); err != nil {
			return err
		}
	}
	topic := m.Topic
	if topic == "" {
		topic = lifecycle.DomainTopic(m.Type)
	}
	topic = p.cfg.TopicIDPrefix + topic
	body, _ := json.Marshal(publishRequest{Messages: []pubsubMessage{{
		Data:       base64.StdEncoding.EncodeToString(m.Body),
		Attributes: map[string]string{"type": m.Type, "corename": m.CoreName},
	}}})
	u := p.base + "/v1/projects/" + url.PathEscape(p.cfg.Project) + "/topics/" + url.PathEscape(topic) + ":publish"

	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("publish to topic %q: %w", topic, secret.URLError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", p.userAgent())
	if !p.emulator {
		req.Header.Set("Authorization", "Bearer "+p.tok.value)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return secret.Scrub(fmt.Errorf("publish to topic %q at %s: %w", topic, p.where(), transportError(ctx, err)), p.tok.value)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return secret.Scrub(fmt.Errorf("publish to topic %q: read the answer: %w", topic, transportError(ctx, err)), p.tok.value)
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusUnauthorized {
			p.tok = token{} // expired or revoked: Connect gets a new one
		}
		return p.apiError(topic, resp, answer)
	}
	var ok struct {
		MessageIDs []string `json:"messageIds"`
	}
	if err := json.Unmarshal(answer, &ok); err != nil || len(ok.MessageIDs) != 1 {
		return fmt.Errorf("publish to topic %q: an answer without one message id: %s", topic, secret.Excerpt(string(answer), 200))
	}
	return nil
}

func (p *Publisher) apiError(topic string, resp *http.Response, answer []byte) error {
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	ae := &APIError{Topic: topic, Code: resp.StatusCode}
	if json.Unmarshal(answer, &e) == nil && (e.Error.Message != "" || e.Error.Status != "") {
		ae.Status, ae.Message = e.Error.Status, e.Error.Message
	} else {
		ae.Message = string(answer)
	}
	if p.tok.value != "" {
		ae.Message = strings.ReplaceAll(ae.Message, p.tok.value, secret.Redacted)
	}
	ae.Message = secret.Excerpt(strings.TrimSpace(ae.Message), 300)
	if ae.Status == "" && ae.Message == "" {
		ae.Message = resp.Status
	}
	if resp.StatusCode/100 == 3 {
		ae.Message = redirectHint
	}
	return ae
}

// Close marks the publisher closed and drops its idle connections.
func (p *Publisher) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	if p.ownClient {
		p.client.CloseIdleConnections()
	}
	return nil
}

// transportError says what a failed request ran into, shortening the *url.Error
// (which repeats the method and URL) to its cause, and naming a context that ended.
func transportError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w (%v)", ctxErr, err)
	}
	return secret.Scrub(err)
}
