package nats

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
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
	// configuration; otherwise TLS verifies against the system's roots. It does not
	// turn TLS on: a tls:// URL or a server that requires TLS does.
	tlsConfig *tls.Config

	mu     sync.Mutex // guards nc, conn, js and closed
	nc     *nats.Conn
	conn   *guardConn // the connection nc reads and writes, to abort
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

// urls returns the URLs to connect to: with a credential variable set, without
// their userinfo (nats.go would prefer it to the variable).
func (p *Publisher) urls() string {
	if p.cfg.Auth() == AuthNone {
		return strings.Join(p.cfg.URLs, ",")
	}
	return p.servers()
}

// secure reports whether nats.go connects with TLS whatever the server says: a
// tls:// URL anywhere in the list (nats.go then secures them all).
func (p *Publisher) secure() bool {
	for _, raw := range p.cfg.URLs {
		if u, err := url.Parse(raw); err == nil && u.Scheme == "tls" {
			return true
		}
	}
	return false
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
	old, oldConn := p.nc, p.conn
	p.nc, p.conn, p.js = nil, nil, nil
	p.mu.Unlock()
	closeConn(old, oldConn)
	if err := ctx.Err(); err != nil {
		return err
	}

	dialer := &ctxDialer{ctx: ctx, secure: p.secure(), tlsConfig: p.tlsConfig}
	opts, err := p.options(ctx, dialer)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(p.urls(), opts...)
	conn := dialer.release()
	if err == nil && conn == nil { // cannot be: nats.go dialled with the dialer
		nc.Close()
		err = errors.New("no connection dialled")
	}
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
			closeConn(nc, conn)
			return p.scrub(err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed { // Close ran meanwhile
		closeConn(nc, conn)
		return ErrClosed
	}
	p.nc, p.conn, p.js = nc, conn, js
	return nil
}

// closeConn closes nc without waiting: its connection is aborted first, so that
// nats.go's last flush and a write blocked on a server that stopped reading fail
// at once.
func closeConn(nc *nats.Conn, conn *guardConn) {
	if conn != nil {
		conn.abort()
	}
	if nc != nil {
		nc.Close()
	}
}

// options returns the nats.go options: no reconnecting and no reconnect buffer,
// a dial bounded by ctx, writes bounded by Timeout, the credentials. The host names
// of the URLs are dialled as they are (the guard's TLS handshake verifies them) and
// servers the cluster announces are not added (nats.go would not reconnect to them).
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
		nats.FlusherTimeout(Timeout),
		nats.SetCustomDialer(dialer),
		nats.SkipHostLookup(),
		nats.IgnoreDiscoveredServers(),
		nats.NoCallbacksAfterClientClose(),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}), // Publish reads LastError
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
	nc, conn, js, err := p.ready(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	err = p.bounded(ctx, nc, conn, func() error { return publish(ctx, nc, js, m) })
	if err != nil {
		return p.publishError(m, nc, err)
	}
	return nil
}

func publish(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, m lifecycle.Message) error {
	msg := natsMsg(m)
	if js != nil {
		_, err := js.PublishMsg(ctx, msg,
			jetstream.WithMsgID(m.ID), jetstream.WithExpectStream(Stream), jetstream.WithRetryAttempts(0))
		return err
	}
	// The server answers a PUB it refuses (a permissions violation) with -ERR before
	// the PONG of the PING that follows; the client keeps it as its LastError.
	before := nc.LastError()
	if err := nc.PublishMsg(msg); err != nil {
		return err
	}
	return flush(ctx, nc, before)
}

// flush makes the PING/PONG round trip after core NATS publishes and reports a
// refusal the server sent meanwhile.
func flush(ctx context.Context, nc *nats.Conn, before error) error {
	if err := nc.FlushWithContext(ctx); err != nil {
		return err
	}
	if err := nc.LastError(); err != nil && err != before && errors.Is(err, nats.ErrPermissionViolation) {
		return err
	}
	return nil
}

// bounded runs f, aborting the connection if ctx ends before f returns: a write
// that waits for a server that stopped reading (nats.go writes under its lock, and
// only its FlusherTimeout bounds it) then fails at once, and the connection, in an
// unknown state, is dropped: the next Publish says not connected and the daemon
// connects again.
func (p *Publisher) bounded(ctx context.Context, nc *nats.Conn, conn *guardConn, f func() error) error {
	stop := context.AfterFunc(ctx, conn.abort)
	err := f()
	if !stop() { // ctx ended: the connection is aborted
		p.mu.Lock()
		if p.nc == nc {
			p.nc, p.conn, p.js = nil, nil, nil
		}
		p.mu.Unlock()
		closeConn(nc, conn)
		switch cerr := ctx.Err(); {
		case err == nil:
			err = cerr
		case !errors.Is(err, cerr):
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
	}
	return err
}

// ready returns the connection to publish on, or why there is none.
func (p *Publisher) ready(ctx context.Context) (*nats.Conn, *guardConn, jetstream.JetStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	p.mu.Lock()
	nc, conn, js, closed := p.nc, p.conn, p.js, p.closed
	p.mu.Unlock()
	switch {
	case closed:
		return nil, nil, nil, ErrClosed
	case nc == nil:
		return nil, nil, nil, ErrNotConnected
	case !nc.IsConnected():
		return nil, nil, nil, fmt.Errorf("%w: connection lost (%s)", ErrNotConnected, nc.Status())
	}
	return nc, conn, js, nil
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
	nc, conn, js, err := p.ready(ctx)
	if err != nil || len(ms) == 0 {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	failed := len(ms) - 1 // the message an error is reported for
	err = p.bounded(ctx, nc, conn, func() error {
		if js != nil {
			futures := make([]jetstream.PubAckFuture, 0, len(ms))
			for i, m := range ms {
				f, err := js.PublishMsgAsync(natsMsg(m), jetstream.WithMsgID(m.ID), jetstream.WithExpectStream(Stream))
				if err != nil {
					failed = i
					return err
				}
				futures = append(futures, f)
			}
			for i, f := range futures {
				failed = i
				select {
				case <-f.Ok():
				case err := <-f.Err():
					return err
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}
		before := nc.LastError()
		for i, m := range ms {
			if err := nc.PublishMsg(natsMsg(m)); err != nil {
				failed = i
				return err
			}
		}
		return flush(ctx, nc, before)
	})
	if err != nil {
		return p.publishError(ms[failed], nc, err)
	}
	return nil
}

func (p *Publisher) publishError(m lifecycle.Message, nc *nats.Conn, err error) error {
	if errors.Is(err, nats.ErrConnectionClosed) || !nc.IsConnected() {
		err = fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	return fmt.Errorf("publish %s to %q: %w", m.ID, m.Type, p.scrub(err))
}

// Close closes the connection without waiting for anything (the connection is
// aborted first, so not even for a server that stopped reading). It may be called
// without Connect and more than once.
func (p *Publisher) Close() error {
	p.mu.Lock()
	nc, conn := p.nc, p.conn
	p.nc, p.conn, p.js, p.closed = nil, nil, nil, true
	p.mu.Unlock()
	closeConn(nc, conn)
	return nil
}

// ctxDialer dials with the Connect call's context, so that ending it ends a dial
// and, until release, the handshake on the connection dialled. It hands nats.go a
// guardConn, which bounds what the server sends and runs the TLS handshake in
// nats.go's place (SkipTLSHandshake), so that it sees the plain-text protocol.
type ctxDialer struct {
	ctx       context.Context
	d         net.Dialer
	secure    bool        // nats.go's Secure: TLS whatever the server says
	tlsConfig *tls.Config // nil: TLS 1.2 or later, the system's roots

	mu    sync.Mutex // guards stops and last
	stops []func() bool
	last  *guardConn
}

// SkipTLSHandshake tells nats.go not to wrap the connection in TLS: guardConn
// does, under its framing.
func (c *ctxDialer) SkipTLSHandshake() bool { return true }

func (c *ctxDialer) Dial(network, address string) (net.Conn, error) {
	raw, err := c.d.DialContext(c.ctx, network, address)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	conn := newGuardConn(raw, c.secure, c.tlsConfig, host)
	stop := context.AfterFunc(c.ctx, conn.abort)
	c.mu.Lock()
	c.stops = append(c.stops, stop)
	c.last = conn
	c.mu.Unlock()
	return conn, nil
}

// release stops watching the context once Connect has returned, and returns the
// connection dialled last: the one a successful Connect uses.
func (c *ctxDialer) release() *guardConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, stop := range c.stops {
		stop()
	}
	c.stops = nil
	return c.last
}
