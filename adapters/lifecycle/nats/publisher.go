package nats

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// The JetStream stream events are published to, and what it is created with when
// it is missing.
const (
	Stream        = "EDGE_EVENTS"
	StreamSubject = "edge.>"
	StreamMaxAge  = 7 * 24 * time.Hour
)

// Timeout bounds a dial and its handshake, a stream look-up and one Publish's
// acknowledgement when the caller's context has no earlier deadline.
const Timeout = 5 * time.Second

var (
	// ErrClosed is returned by Connect and Publish after Close.
	ErrClosed = errors.New("publisher closed")
	// ErrNotConnected is returned by Publish before Connect, or once the connection
	// is lost (the daemon then connects again).
	ErrNotConnected = errors.New("not connected to NATS")
)

// Publisher publishes lifecycle events to NATS. nats.go's own reconnecting is
// off: a lost connection fails Publish and the daemon calls Connect again.
type Publisher struct {
	cfg     Config
	log     *slog.Logger
	version string
	secrets []string

	// afterLookup, when set (by tests), runs between a stream look-up that found
	// nothing and the creation, to play a concurrent creator.
	afterLookup func()
	// tlsConfig, when set (by tests: a private CA's roots), is the TLS client
	// configuration; otherwise tls:// verifies against the system's roots.
	tlsConfig *tls.Config

	mu     sync.Mutex // guards nc, js and closed
	nc     *nats.Conn
	js     jetstream.JetStream
	closed bool
}

var _ lifecycle.Publisher = (*Publisher)(nil)

// New returns a publisher for cfg (validated); it does not dial.
func New(cfg Config, d lifecycle.Deps) *Publisher {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.URLs) == 0 {
		cfg.URLs = []string{DefaultURL}
	}
	return &Publisher{cfg: cfg, log: log, version: d.Version, secrets: cfg.Secrets()}
}

// servers returns the configured URLs without userinfo, for errors.
func (p *Publisher) servers() string {
	out := make([]string, len(p.cfg.URLs))
	for i, u := range p.cfg.URLs {
		out[i] = secret.RedactURL(u)
	}
	return strings.Join(out, ",")
}

func (p *Publisher) scrub(err error) error { return secret.Scrub(err, p.secrets...) }

// Connect dials the servers (each at most once) and, with JetStream, looks the
// stream up and creates it when it is missing. It replaces an earlier connection.
func (p *Publisher) Connect(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	old := p.nc
	p.nc, p.js = nil, nil
	p.mu.Unlock()
	if old != nil {
		old.Close()
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	dialer := &ctxDialer{ctx: ctx}
	opts, err := p.options(ctx, dialer)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(strings.Join(p.cfg.URLs, ","), opts...)
	dialer.release()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		how := ""
		if a := p.cfg.Auth(); a != AuthNone {
			how = " with " + string(a) + " credentials"
		}
		return fmt.Errorf("connect to %s%s: %w", p.servers(), how, p.scrub(err))
	}
	var js jetstream.JetStream
	if p.cfg.JetStream {
		if js, err = p.stream(ctx, nc); err != nil {
			nc.Close()
			return p.scrub(err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed { // Close ran meanwhile
		nc.Close()
		return ErrClosed
	}
	p.nc, p.js = nc, js
	return nil
}

// options returns the nats.go options: no reconnecting and no reconnect buffer,
// a dial bounded by ctx, the credentials.
func (p *Publisher) options(ctx context.Context, dialer *ctxDialer) ([]nats.Option, error) {
	timeout := Timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(dl), time.Millisecond))
	}
	dialer.d.Timeout = timeout
	name := "edgerelay"
	if p.version != "" {
		name += " " + p.version
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.NoReconnect(),
		nats.ReconnectBufSize(-1),
		nats.Timeout(timeout),
		nats.SetCustomDialer(dialer),
		nats.NoCallbacksAfterClientClose(),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}), // Publish reads LastError
	}
	if p.tlsConfig != nil {
		opts = append(opts, nats.Secure(p.tlsConfig.Clone()))
	}
	c := p.cfg
	switch c.Auth() {
	case AuthToken:
		opts = append(opts, nats.Token(strings.TrimSpace(c.Token.Reveal())))
	case AuthJWT:
		opts = append(opts, nats.UserJWTAndSeed(strings.TrimSpace(c.JWT.Reveal()), strings.TrimSpace(c.NKeySeed.Reveal())))
	case AuthNKey:
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(c.NKeySeed.Reveal())))
		if err != nil {
			return nil, errors.New(EnvNKeySeed + ": is not an nkey seed")
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return nil, errors.New(EnvNKeySeed + ": is not an nkey seed")
		}
		opts = append(opts, nats.Nkey(pub, kp.Sign))
	case AuthPassword:
		opts = append(opts, nats.UserInfo(c.Username, c.Password.Reveal()))
	}
	return opts, nil
}

// stream makes sure the stream exists: an existing one is used as it is, a
// missing one is created; "already in use" from a concurrent creator is success.
func (p *Publisher) stream(ctx context.Context, nc *nats.Conn) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(Timeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	_, err = js.Stream(ctx, Stream)
	switch {
	case err == nil:
		return js, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("look up stream %s: %w (is JetStream enabled on the server? %s=false publishes on core NATS)", Stream, err, EnvJetStream)
	default:
		return nil, fmt.Errorf("look up stream %s: %w", Stream, err)
	}
	if p.afterLookup != nil {
		p.afterLookup()
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     Stream,
		Subjects: []string{StreamSubject},
		Storage:  jetstream.FileStorage,
		MaxAge:   StreamMaxAge,
	})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil, fmt.Errorf("create stream %s: %w", Stream, err)
	}
	if err == nil {
		p.log.Info("nats: created JetStream stream", "stream", Stream, "subjects", StreamSubject)
	}
	return js, nil
}

// Publish sends m on the subject m.Type and waits until the server has it: a
// JetStream acknowledgement, or on core NATS a PING/PONG round trip after the
// message. A duplicate that JetStream drops (the same Nats-Msg-Id) is success.
func (p *Publisher) Publish(ctx context.Context, m lifecycle.Message) error {
	nc, js, err := p.ready(ctx)
	if err != nil {
		return err
	}
	msg := natsMsg(m)
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	if js != nil {
		_, err := js.PublishMsg(ctx, msg,
			jetstream.WithMsgID(m.ID), jetstream.WithExpectStream(Stream), jetstream.WithRetryAttempts(0))
		if err != nil {
			return p.publishError(m, nc, err)
		}
		return nil
	}
	// The server answers a PUB it refuses (a permissions violation) with -ERR before
	// the PONG of the PING that follows; the client keeps it as its LastError.
	before := nc.LastError()
	if err := nc.PublishMsg(msg); err != nil {
		return p.publishError(m, nc, err)
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		return p.publishError(m, nc, err)
	}
	if err := nc.LastError(); err != nil && err != before && errors.Is(err, nats.ErrPermissionViolation) {
		return p.publishError(m, nc, err)
	}
	return nil
}

// ready returns the connection to publish on, or why there is none.
func (p *Publisher) ready(ctx context.Context) (*nats.Conn, jetstream.JetStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	nc, js, closed := p.nc, p.js, p.closed
	p.mu.Unlock()
	switch {
	case closed:
		return nil, nil, ErrClosed
	case nc == nil:
		return nil, nil, ErrNotConnected
	case !nc.IsConnected():
		return nil, nil, fmt.Errorf("%w: connection lost (%s)", ErrNotConnected, nc.Status())
	}
	return nc, js, nil
}

// natsMsg is m as a NATS message: subject = type, the promoted headers.
func natsMsg(m lifecycle.Message) *nats.Msg {
	return &nats.Msg{
		Subject: m.Type,
		Data:    m.Body,
		Header: nats.Header{
			"type":         {m.Type},
			"corename":     {m.CoreName},
			"Content-Type": {lifecycle.ContentType},
		},
	}
}

// PublishBatch publishes ms with one wait for the server (lifecycle.BatchPublisher):
// core NATS writes them all, then flushes once; JetStream publishes them
// asynchronously and waits for every acknowledgement. An error means some may not
// have arrived; the same ids make JetStream drop the copies of a retry.
func (p *Publisher) PublishBatch(ctx context.Context, ms []lifecycle.Message) error {
	if len(ms) == 1 {
		return p.Publish(ctx, ms[0])
	}
	nc, js, err := p.ready(ctx)
	if err != nil || len(ms) == 0 {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	if js != nil {
		futures := make([]jetstream.PubAckFuture, 0, len(ms))
		for _, m := range ms {
			f, err := js.PublishMsgAsync(natsMsg(m), jetstream.WithMsgID(m.ID), jetstream.WithExpectStream(Stream))
			if err != nil {
				return p.publishError(m, nc, err)
			}
			futures = append(futures, f)
		}
		for i, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return p.publishError(ms[i], nc, err)
			case <-ctx.Done():
				return p.publishError(ms[i], nc, ctx.Err())
			}
		}
		return nil
	}
	before := nc.LastError()
	for _, m := range ms {
		if err := nc.PublishMsg(natsMsg(m)); err != nil {
			return p.publishError(m, nc, err)
		}
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		return p.publishError(ms[len(ms)-1], nc, err)
	}
	if err := nc.LastError(); err != nil && err != before && errors.Is(err, nats.ErrPermissionViolation) {
		return p.publishError(ms[len(ms)-1], nc, err)
	}
	return nil
}

func (p *Publisher) publishError(m lifecycle.Message, nc *nats.Conn, err error) error {
	if errors.Is(err, nats.ErrConnectionClosed) || !nc.IsConnected() {
		err = fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	return fmt.Errorf("publish %s to %q: %w", m.ID, m.Type, p.scrub(err))
}

// Close closes the connection without waiting for anything. It may be called
// without Connect and more than once.
func (p *Publisher) Close() error {
	p.mu.Lock()
	nc := p.nc
	p.nc, p.js, p.closed = nil, nil, true
	p.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
	return nil
}

// ctxDialer dials with the Connect call's context, so that ending it ends a dial
// and, until release, the handshake on the connection dialled.
type ctxDialer struct {
	ctx context.Context
	d   net.Dialer

	mu    sync.Mutex // guards stops
	stops []func() bool
}

func (c *ctxDialer) Dial(network, address string) (net.Conn, error) {
	conn, err := c.d.DialContext(c.ctx, network, address)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(c.ctx, func() { _ = conn.SetDeadline(time.Now()) })
	c.mu.Lock()
	c.stops = append(c.stops, stop)
	c.mu.Unlock()
	return conn, nil
}

// release stops watching the context once Connect has returned.
func (c *ctxDialer) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, stop := range c.stops {
		stop()
	}
	c.stops = nil
}
