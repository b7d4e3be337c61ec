// Package kafka publishes edgerelay's lifecycle events to Kafka (EVENT_BROKER_ADAPTER=kafka):
// each CloudEvents document is one record on its domain topic (edge-nodes-events,
// edge-commands-events), keyed by the corename, with the headers type, corename and
// content-type. A sarama SyncProducer produces with acks=all, idempotent where the
// brokers allow it; Publish returns once the partition leader has the record on
// every in-sync replica.
package kafka

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Name is the EVENT_BROKER_ADAPTER value.
const Name = "kafka"

func init() {
	// sarama's metrics registry starts a global ticking goroutine; edgerelay counts
	// on its own.
	metrics.UseNilMetrics = true
	lifecycle.Register(lifecycle.Spec{
		Name:      Name,
		Variables: []string{VarURLs, VarUsername, VarPassword, VarSASLMechanism, VarSSL},
		NewConfig: func() lifecycle.Config { return NewConfig() },
	})
}

// The record headers every message carries.
const (
	HeaderType        = "type"
	HeaderCoreName    = "corename"
	HeaderContentType = "content-type"
)

// ErrClosed is Publish's and Connect's error after Close.
var ErrClosed = errors.New("kafka: the lifecycle publisher is closed")

// ErrNotConnected is Publish's error before a successful Connect, or after a
// cancelled Publish gave its connection up.
var ErrNotConnected = errors.New("kafka: not connected")

// Publisher produces lifecycle events with a sarama SyncProducer.
type Publisher struct {
	cfg     Config // defaults applied, password resolved
	version string
	log     *slog.Logger
	secrets []string

	mu     sync.Mutex // guards cur and closed
	cur    *conn
	closed bool

	wg sync.WaitGroup // goroutines of Connect, Publish and background closes
}

var _ lifecycle.Publisher = (*Publisher)(nil)

func newPublisher(cfg Config, version string, log *slog.Logger) *Publisher {
	p := &Publisher{cfg: cfg, version: version, log: log}
	if pw := cfg.Password.Reveal(); pw != "" {
		p.secrets = []string{pw}
	}
	return p
}

// conn is one sarama client and its producer.
type conn struct {
	client     sarama.Client
	prod       sarama.SyncProducer
	idempotent bool
	cancelDial context.CancelFunc // closes the client's connections and fails later dials
	once       sync.Once
}

// close cuts the connections, so that nothing waits for an answer, then stops
// the producer and the client.
func (c *conn) close() {
	c.once.Do(func() {
		c.cancelDial()
		_ = c.prod.Close()
		_ = c.client.Close()
	})
}

// Connect dials the brokers, logs in, asks for the metadata of both domain topics
// (which creates them where the brokers auto-create topics) and starts an
// idempotent producer, or a plain one when the brokers refuse idempotence. It
// returns when that is done, has failed, or ctx ends; a Connect abandoned by ctx
// closes what it made in the background. A previous connection is closed.
func (p *Publisher) Connect(ctx context.Context) error {
	if p.isClosed() {
		return ErrClosed
	}
	tc, err := p.tlsConfig()
	if err != nil {
		return err
	}
	dialCtx, cancelDial := context.WithCancel(context.Background())
	type result struct {
		c   *conn
		err error
	}
	ch := make(chan result, 1)
	p.wg.Add(1)
	// The dial goroutine exits once sarama answered; every sarama step is bounded
	// by cfg.Timeout and the retry settings, and cancelDial fails new dials.
	go func() {
		defer p.wg.Done()
		c, err := p.dial(dialCtx, cancelDial, tc)
		ch <- result{c, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		cancelDial()
		p.wg.Add(1)
		// Exits once the abandoned dial has answered.
		go func() {
			defer p.wg.Done()
			if r := <-ch; r.c != nil {
				r.c.close()
			}
		}()
		return fmt.Errorf("connect to kafka %v: %w", p.cfg.URLs, ctx.Err())
	}
	if r.err != nil {
		return p.scrub(r.err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		r.c.close()
		return ErrClosed
	}
	old := p.cur
	p.cur = r.c
	p.mu.Unlock()
	if old != nil {
		old.close()
	}
	p.log.Info("kafka producer connected", "brokers", p.cfg.URLs, "idempotent", r.c.idempotent,
		"sasl", p.saslName(), "tls", p.cfg.SSL)
	return nil
}

// dial makes the client and the producer, falling back to a producer without
// idempotence when the brokers refuse it.
func (p *Publisher) dial(dialCtx context.Context, cancelDial context.CancelFunc, tc *tls.Config) (*conn, error) {
	c, err := p.dialOnce(dialCtx, cancelDial, tc, true)
	if err != nil && idempotenceRefused(err) {
		p.log.Warn("the kafka brokers refuse the idempotent producer; producing without it",
			"err", p.scrub(err))
		c, err = p.dialOnce(dialCtx, cancelDial, tc, false)
	}
	if err != nil {
		cancelDial()
		return nil, err
	}
	return c, nil
}

func (p *Publisher) dialOnce(dialCtx context.Context, cancelDial context.CancelFunc, tc *tls.Config, idempotent bool) (*conn, error) {
	sc := p.saramaConfig(dialCtx, tc, idempotent)
	where := fmt.Sprintf("connect to kafka %v", p.cfg.URLs)
	cl, err := sarama.NewClient(p.cfg.URLs, sc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w%s", where, err, p.hint(err))
	}
	for _, t := range []string{lifecycle.TopicNodes, lifecycle.TopicCommands} {
		if err := cl.RefreshMetadata(t); err != nil {
			_ = cl.Close()
			if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				return nil, fmt.Errorf("%s: topic %q does not exist and the brokers do not create topics "+
					"on demand: create %s and %s: %w", where, t, lifecycle.TopicNodes, lifecycle.TopicCommands, err)
			}
			return nil, fmt.Errorf("%s: metadata of topic %q: %w%s", where, t, err, p.hint(err))
		}
	}
	prod, err := sarama.NewSyncProducerFromClient(cl)
	if err != nil {
		_ = cl.Close()
		return nil, fmt.Errorf("%s: start the producer: %w", where, err)
	}
	return &conn{client: cl, prod: prod, idempotent: idempotent, cancelDial: cancelDial}, nil
}

// hint explains the errors sarama reports tersely: a broker closing the
// connection during the login or the first request.
func (p *Publisher) hint(err error) string {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return ""
	}
	switch {
	case p.cfg.Username != "" && !p.cfg.SSL:
		return fmt.Sprintf(" (the broker closed the connection: it refused the SASL %s login of user %q — check %s, %s and %s — or it expects TLS, %s=true)",
			p.cfg.SASLMechanism, p.cfg.Username, VarUsername, VarPassword, VarSASLMechanism, VarSSL)
	case p.cfg.Username != "":
		return fmt.Sprintf(" (the broker closed the connection: it refused the SASL %s login of user %q — check %s, %s and %s)",
			p.cfg.SASLMechanism, p.cfg.Username, VarUsername, VarPassword, VarSASLMechanism)
	case !p.cfg.SSL:
		return fmt.Sprintf(" (the broker closed the connection: it may want a SASL login, %s, or TLS, %s=true)", VarUsername, VarSSL)
	default:
		return fmt.Sprintf(" (the broker closed the connection: it may want a SASL login, %s)", VarUsername)
	}
}

// idempotenceRefused reports whether the brokers refused an idempotent producer
// (an old broker, or a user without the IdempotentWrite permission).
func idempotenceRefused(err error) bool {
	return errors.Is(err, sarama.ErrClusterAuthorizationFailed) || errors.Is(err, sarama.ErrUnsupportedVersion) ||
		errors.Is(err, sarama.ErrTransactionalIDAuthorizationFailed) || errors.Is(err, sarama.ErrUnsupportedForMessageFormat)
}

// dialer is sarama's proxy dialer, the only dialling hook it has: it dials with
// a context and, once that context ends, closes every connection it made, so that
// a connection given up (Close, an abandoned Connect or Publish) fails sarama's
// reads at once instead of after a read timeout.
type dialer struct {
	ctx     context.Context
	d       net.Dialer
	timeout time.Duration
	tls     *tls.Config // nil: plain TCP

	mu    sync.Mutex // guards conns and done
	conns map[*trackedConn]struct{}
	done  bool
}

func newDialer(ctx context.Context, timeout time.Duration, tc *tls.Config) *dialer {
	d := &dialer{ctx: ctx, d: net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second},
		timeout: timeout, tls: tc, conns: map[*trackedConn]struct{}{}}
	context.AfterFunc(ctx, d.closeAll)
	return d
}

// Dial implements golang.org/x/net/proxy.Dialer. It speaks TLS itself (when ssl
// is on; sarama's own TLS is left off), so that the connection it hands sarama
// carries the Kafka framing in clear and every response's declared length is
// checked against MaxResponseBytes before sarama allocates it.
func (d *dialer) Dial(network, addr string) (net.Conn, error) {
	c, err := d.d.DialContext(d.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, d: d}
	d.mu.Lock()
	if d.done {
		d.mu.Unlock()
		_ = c.Close()
		return nil, fmt.Errorf("dial %s: %w", addr, net.ErrClosed)
	}
	d.conns[tc] = struct{}{}
	d.mu.Unlock()
	var nc net.Conn = tc
	if d.tls != nil {
		cfg := d.tls.Clone()
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg.ServerName = host
		}
		tlsConn := tls.Client(tc, cfg)
		hctx, cancel := context.WithTimeout(d.ctx, d.timeout)
		err := tlsConn.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = tc.Close()
			return nil, err
		}
		nc = tlsConn
	}
	return &limitedConn{Conn: nc, limit: MaxResponseBytes}, nil
}

// MaxResponseBytes bounds the declared length of one Kafka response to this
// adapter. sarama allocates a response's declared length before reading it, up to
// the package-wide sarama.MaxResponseSize (100 MiB, shared with the kafka source
// and sink, whose fetch responses need it); this adapter's responses (ApiVersions,
// SASL, metadata of two topics, InitProducerID, produce acks) are a few KiB, so
// anything claiming more than 1 MiB is refused before sarama sees its length.
const MaxResponseBytes = 1 << 20

// ErrResponseTooLarge is the error of a response whose declared length is over
// MaxResponseBytes.
var ErrResponseTooLarge = errors.New("kafka response too large")

// limitedConn follows the framing of the responses it reads (a 4-byte big-endian
// length, then that many bytes) and fails every read from the first length over
// limit on (sarama then closes the connection). sarama reads each connection from one goroutine at a
// time.
type limitedConn struct {
	net.Conn
	limit uint32
	hdr   [4]byte
	pend  []byte // bytes of hdr not yet handed to the reader
	left  uint32 // bytes of the current response after its header
	err   error  // sticky: a length over limit was read
}

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.pend) == 0 && c.left == 0 {
		if _, err := io.ReadFull(c.Conn, c.hdr[:]); err != nil {
			return 0, err
		}
		n := binary.BigEndian.Uint32(c.hdr[:])
		if n > c.limit {
			c.err = fmt.Errorf("%w: the broker at %s declared %d bytes, over this adapter's limit of %d "+
				"(its answers are a few KiB: is something other than a Kafka broker listening there?)",
				ErrResponseTooLarge, c.RemoteAddr(), n, c.limit)
			return 0, c.err
		}
		c.pend, c.left = c.hdr[:], n
	}
	if len(c.pend) > 0 {
		n := copy(p, c.pend)
		c.pend = c.pend[n:]
		return n, nil
	}
	if uint32(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= uint32(n)
	return n, err
}

func (d *dialer) closeAll() {
	d.mu.Lock()
	d.done = true
	conns := d.conns
	d.conns = nil
	d.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

// trackedConn forgets itself in its dialer when closed.
type trackedConn struct {
	net.Conn
	d *dialer
}

func (c *trackedConn) Close() error {
	c.d.mu.Lock()
	delete(c.d.conns, c)
	c.d.mu.Unlock()
	return c.Conn.Close()
}

// saramaConfig keeps every step bounded: a dial, a request and the replicas' wait
// each take at most cfg.Timeout (a request's answer up to twice that), metadata is
// asked for twice more at most, and a produce is retried once (idempotence needs
// one retry; a leader change needs it too). No retrying beyond that: the daemon
// retries.
func (p *Publisher) saramaConfig(dialCtx context.Context, tc *tls.Config, idempotent bool) *sarama.Config {
	t := p.cfg.Timeout
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	sc.ClientID = "edgerelay"
	sc.Net.DialTimeout = t
	sc.Net.ReadTimeout = 2 * t
	sc.Net.WriteTimeout = t
	sc.Net.Proxy.Enable = true
	// TLS is the dialer's (sarama's Net.TLS stays off): see dialer.Dial.
	sc.Net.Proxy.Dialer = newDialer(dialCtx, t, tc)
	if p.cfg.Username != "" {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Handshake = true
		sc.Net.SASL.User = p.cfg.Username
		sc.Net.SASL.Password = p.cfg.Password.Reveal()
		switch p.cfg.SASLMechanism {
		case MechanismSCRAMSHA256:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAM(sha256Hash) }
		case MechanismSCRAMSHA512:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAM(sha512Hash) }
		default:
			sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		}
	}
	sc.Metadata.Retry.Max = 2
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond
	sc.Metadata.Timeout = 3 * t
	sc.Metadata.Full = false
	sc.Metadata.AllowAutoTopicCreation = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Timeout = t
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Retry.Max = 1
	sc.Producer.Retry.Backoff = 250 * time.Millisecond
	sc.Producer.Partitioner = sarama.NewHashPartitioner // one corename, one partition
	sc.Producer.Idempotent = idempotent
	if idempotent {
		sc.Net.MaxOpenRequests = 1
	}
	return sc
}

// tlsConfig reads ca_file (again at every Connect, so a renewed CA is picked up).
func (p *Publisher) tlsConfig() (*tls.Config, error) {
	if !p.cfg.SSL {
		return nil, nil
	}
	return p.cfg.caPool()
}

// Publish produces m to its domain topic, keyed by its corename, and waits for the
// brokers' acknowledgement (acks=all). When ctx ends first it returns at once and
// gives the connection up (closing it in the background): the next Publish fails
// with ErrNotConnected until Connect.
func (p *Publisher) Publish(ctx context.Context, m lifecycle.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	closed, c := p.closed, p.cur
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if c == nil {
		return ErrNotConnected
	}
	rec := Record(m)
	done := make(chan error, 1)
	p.wg.Add(1)
	// Exits when sarama answers: the ack, an error, or the producer closing.
	go func() {
		defer p.wg.Done()
		_, _, err := c.prod.SendMessage(rec)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return p.scrub(fmt.Errorf("produce to kafka topic %q: %w%s", m.Topic, err, p.hint(err)))
		}
		return nil
	case <-ctx.Done():
		p.drop(c)
		return fmt.Errorf("produce to kafka topic %q: %w", m.Topic, ctx.Err())
	}
}

// Record returns the Kafka record of m: its domain topic, the corename as key,
// the body as value, the headers type, corename and content-type.
func Record(m lifecycle.Message) *sarama.ProducerMessage {
	return &sarama.ProducerMessage{
		Topic: m.Topic,
		Key:   sarama.StringEncoder(m.CoreName),
		Value: sarama.ByteEncoder(m.Body),
		Headers: []sarama.RecordHeader{
			{Key: []byte(HeaderType), Value: []byte(m.Type)},
			{Key: []byte(HeaderCoreName), Value: []byte(m.CoreName)},
			{Key: []byte(HeaderContentType), Value: []byte(lifecycle.ContentType)},
		},
	}
}

// drop forgets c, if it is the current connection, and closes it in the
// background.
func (p *Publisher) drop(c *conn) {
	p.mu.Lock()
	if p.cur == c {
		p.cur = nil
	}
	p.mu.Unlock()
	p.wg.Add(1)
	// Exits once the producer has closed (bounded by cfg.Timeout per request).
	go func() {
		defer p.wg.Done()
		c.close()
	}()
}

// Close closes the connection and waits for the goroutines Connect and Publish
// left behind. It may be called without Connect, and more than once.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	c := p.cur
	p.cur = nil
	p.mu.Unlock()
	if c != nil {
		c.close()
	}
	p.wg.Wait()
	return nil
}

func (p *Publisher) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// saslName is the SASL mechanism in use, for the log ("none" without SASL).
func (p *Publisher) saslName() string {
	if p.cfg.Username == "" {
		return "none"
	}
	return p.cfg.SASLMechanism
}

// scrub removes the password from err's text.
func (p *Publisher) scrub(err error) error { return secret.Scrub(err, p.secrets...) }
