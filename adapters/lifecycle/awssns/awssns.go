// Package awssns publishes edgerelay's lifecycle events to AWS SNS (adapter
// aws_sns): one SigV4-signed Query API Publish per event, to the topic
// <TOPIC_ARN_PREFIX><domain topic>, with type and corename as String message
// attributes. It uses no AWS SDK: the signer, the Publish call and the standard
// credential chain (environment, web identity, shared credentials file, container
// endpoint, IMDSv2) are written here on the standard library, so that the adapter
// costs little in a router's binary. See README.md.
package awssns

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

const (
	snsVersion = "2010-03-31"
	formType   = "application/x-www-form-urlencoded; charset=utf-8"
	// refreshBefore is how long before Expiration temporary credentials are
	// fetched again.
	refreshBefore = 5 * time.Minute
	maxAnswer     = 1 << 20
)

// Publisher publishes to SNS. The daemon calls it from one goroutine; Close may
// come from another.
type Publisher struct {
	cfg      Config
	endpoint string
	http     *http.Client
	ownHTTP  bool
	chain    *chain
	clock    clock.Clock
	log      interface{ Warn(string, ...any) }
	version  string

	mu     sync.Mutex // guards creds, have and closed
	creds  Credentials
	have   bool
	closed bool
}

var _ lifecycle.Publisher = (*Publisher)(nil)

func newPublisher(c Config, d lifecycle.Deps) *Publisher {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	clk := clock.Or(d.Clock)
	p := &Publisher{cfg: c, endpoint: c.endpoint(), http: noRedirects(d.HTTP), clock: clk, version: d.Version}
	if d.HTTP == nil {
		p.http.Transport, p.ownHTTP = http.DefaultTransport.(*http.Transport).Clone(), true
	}
	if d.Log != nil {
		p.log = d.Log
	} else {
		p.log = nopLog{}
	}
	env := d.Env
	if env == nil {
		env = lifecycle.OSEnv
	}
	p.chain = &chain{cfg: c, env: env, http: p.http, timeout: c.Timeout, now: clk.Now, version: d.Version}
	return p
}

// noRedirects returns a copy of c (a new client when c is nil) that follows no
// redirect: a 3xx is the answer, and an error. Go strips only Authorization and
// cookies on a redirect to another host, so following one would resend
// X-Amz-Security-Token, X-aws-ec2-metadata-token, the container authorization
// header and, on 307/308, the POST body (the STS web identity token) to it. The
// copy shares c's transport.
func noRedirects(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}

// redirectHint is appended to the error of a 3xx answer.
const redirectHint = "a redirect, not followed: the credentials and tokens of a request are never sent on to another address; set the endpoint to the final one"

type nopLog struct{}

func (nopLog) Warn(string, ...any) {}

func userAgent(version string) string {
	if version == "" {
		version = "dev"
	}
	return "edgerelay/" + version
}

// Connect resolves the credentials (again: a Connect after a failed Publish may
// pick up rotated ones) and, with verify_on_connect, checks the endpoint, the
// credentials and the nodes topic with a GetTopicAttributes.
func (p *Publisher) Connect(ctx context.Context) error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	c, err := p.chain.retrieve(ctx)
	if err != nil {
		return fmt.Errorf("AWS credentials: %w", err)
	}
	p.mu.Lock()
	p.creds, p.have = c, true
	p.mu.Unlock()
	if !p.cfg.VerifyOnConnect {
		return nil
	}
	arn := p.cfg.TopicARNPrefix + lifecycle.TopicNodes
	_, err = p.call(ctx, c, "GetTopicAttributes on "+arn, url.Values{
		"Action": {"GetTopicAttributes"}, "Version": {snsVersion}, "TopicArn": {arn},
	})
	var ae *APIError
	if errors.As(err, &ae) && deniedCodes[ae.Code] {
		return nil // authenticated; a Publish-only policy does not allow the check
	}
	return err
}

// Publish sends m with one SNS Publish and returns once SNS answered.
func (p *Publisher) Publish(ctx context.Context, m lifecycle.Message) error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := p.credentials(ctx)
	if err != nil {
		return err
	}
	topic := m.Topic
	if topic == "" {
		topic = lifecycle.DomainTopic(m.Type)
	}
	arn := p.cfg.TopicARNPrefix + topic
	form := url.Values{
		"Action": {"Publish"}, "Version": {snsVersion}, "TopicArn": {arn}, "Message": {string(m.Body)},
	}
	n := 0
	for _, a := range [][2]string{{"type", m.Type}, {"corename", m.CoreName}} {
		if a[1] == "" {
			continue // SNS refuses an empty String attribute
		}
		n++
		k := "MessageAttributes.entry." + strconv.Itoa(n)
		form.Set(k+".Name", a[0])
		form.Set(k+".Value.DataType", "String")
		form.Set(k+".Value.StringValue", a[1])
	}
	body, err := p.call(ctx, c, "Publish to "+arn, form)
	if err != nil {
		return err
	}
	var out struct {
		MessageID string `xml:"PublishResult>MessageId"`
	}
	if err := xml.Unmarshal(body, &out); err != nil || out.MessageID == "" {
		return fmt.Errorf("Publish to %s: the answer has no MessageId", arn)
	}
	return nil
}

// credentials returns the current credentials, fetching new ones before temporary
// ones expire. A refresh that fails while the old ones still work is logged and
// the old ones are used.
func (p *Publisher) credentials(ctx context.Context) (Credentials, error) {
	p.mu.Lock()
	c, have := p.creds, p.have
	p.mu.Unlock()
	now := p.clock.Now()
	if have && (c.Expires.IsZero() || now.Before(c.Expires.Add(-refreshBefore))) {
		return c, nil
	}
	nc, err := p.chain.retrieve(ctx)
	if err != nil {
		if have && now.Before(c.Expires) && ctx.Err() == nil {
			p.log.Warn("refreshing AWS credentials failed; using the current ones until they expire",
				"expires", c.Expires, "err", err)
			return c, nil
		}
		return Credentials{}, fmt.Errorf("AWS credentials: %w", err)
	}
	p.mu.Lock()
	p.creds, p.have = nc, true
	p.mu.Unlock()
	return nc, nil
}

// call POSTs a signed Query API request and returns the body of a 200 answer.
func (p *Publisher) call(ctx context.Context, c Credentials, op string, form url.Values) ([]byte, error) {
	payload := []byte(form.Encode())
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, strings.NewReader(string(payload)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, secret.URLError(err))
	}
	req.Header.Set("Content-Type", formType)
	req.Header.Set("User-Agent", userAgent(p.version))
	signV4(req, payload, c, "sns", p.cfg.Region, p.clock.Now())
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, secret.Scrub(transportError(err), c.SecretAccessKey, c.SessionToken))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("%s: read the answer: %w", op, transportError(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(op, resp.StatusCode, body, c)
	}
	return body, nil
}

// transportError drops the request URL a *url.Error repeats (the operation names
// the topic already) and keeps the cause, redacted.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return secret.Scrub(ue.Err)
	}
	return secret.Scrub(err)
}

func (p *Publisher) checkOpen() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	return nil
}

// Close forgets the credentials and, for the publisher's own client, closes idle
// connections. It may be called without Connect, and twice.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.creds, p.have = Credentials{}, false
	if p.ownHTTP {
		p.http.CloseIdleConnections()
	}
	return nil
}
