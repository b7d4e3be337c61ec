package mqtt

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
)

//go:embed sink_sample.yaml
var sinkSample string

func init() {
	adapters.RegisterSink("mqtt", adapters.SinkSpec[SinkConfig]{
		Summary:  "Publish each event's payload to an MQTT topic; delivered once the broker acknowledged that publish.",
		Sample:   sinkSample,
		Defaults: DefaultSinkConfig,
		New:      func(cfg SinkConfig, d adapters.Deps) (adapters.Sink, error) { return NewSink(cfg, d) },
		// The static bound; MaxInFlight reports the configured one.
		Info: adapters.Info{MaxInFlight: DefaultSinkMaxInFlight},
	})
}

var (
	_ adapters.Sink            = (*Sink)(nil)
	_ adapters.InFlightLimiter = (*Sink)(nil)
)

// Sink is the MQTT sink: it publishes each event's payload, unchanged, to the topic
// its template gives, with the configured QoS and retain flag. It is safe for
// concurrent Send.
//
// Each Connect makes a fresh paho client with a clean session, no automatic
// reconnect and paho's in-memory store only for packets in flight on that one
// connection: nothing is resent by paho after a reconnect, so a Send returns nil
// only for a publish the broker acknowledged on the connection it was sent on, and
// the daemon's outbox is the store for everything else.
type Sink struct {
	cfg  SinkConfig // defaults applied
	tmpl topicTemplate
	d    adapters.Deps
	link

	mu     sync.Mutex // guards conn and closed
	conn   *sinkConn  // the current connection; nil before Connect and once it failed
	closed bool
}

// sinkConn is one connection of the sink.
type sinkConn struct {
	client paho.Client
	down   atomic.Bool   // set once the connection is lost or dropped (markDown)
	lost   chan struct{} // closed with down set: wakes the Sends waiting on c
	stop   chan struct{} // closed on teardown: ends the TLS watch
	once   sync.Once     // guards close(stop)

	connMu sync.Mutex    // guards gc
	gc     *gracefulConn // the network connection, once dialled
}

// NewSink validates cfg and builds a sink. It reads no file and does not connect.
func NewSink(cfg SinkConfig, d adapters.Deps) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults(d.Name)
	tmpl, err := parseTopicTemplate(cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("topic: %w", err)
	}
	u, err := parseBrokerURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	clk := clock.Or(d.Clock)
	if d.Health == nil {
		d.Health = adapters.NopHealth{}
	}
	return &Sink{cfg: cfg, tmpl: tmpl, d: d, link: link{
		url: u, username: cfg.Username, password: cfg.Password,
		passwordFile: cfg.PasswordFile, passwordEnv: cfg.PasswordEnv,
		tls: cfg.TLS, connectTimeout: cfg.ConnectTimeout,
		clk: clk, health: d.Health, log: d.Log.With("url", u.Redacted()),
	}}, nil
}

// MaxInFlight returns max_in_flight (adapters.InFlightLimiter).
func (s *Sink) MaxInFlight() int { return s.cfg.MaxInFlight }

// Connect reads the password and the TLS files, then opens a new connection with a
// clean session, replacing the current one if any. It returns once the broker
// accepted the connection (CONNACK), or with the error.
func (s *Sink) Connect(ctx context.Context) error {
	m, err := s.material()
	if err != nil {
		return err
	}
	s.mu.Lock()
	old, closed := s.conn, s.closed
	s.conn = nil
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("mqtt sink: closed: %w", adapters.ErrNotConnected)
	}
	if old != nil {
		s.teardown(old, true)
	}

	c := &sinkConn{lost: make(chan struct{}), stop: make(chan struct{})}
	connCtx, connCancel := context.WithCancel(context.WithoutCancel(ctx))
	c.client = paho.NewClient(s.clientOptions(c, m, connCtx))
	tok := c.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		connCancel() // aborts the dial or the handshake, so Done follows promptly
		<-tok.Done()
		c.client.Disconnect(0)
		return fmt.Errorf("connect to %s: %w", s.url.Redacted(), ctx.Err())
	}
	if err := tok.Error(); err != nil {
		connCancel()
		return fmt.Errorf("connect to %s: %w", s.url.Redacted(), err)
	}
	c.connMu.Lock()
	if c.gc != nil {
		c.gc.setGraceful()
	}
	c.connMu.Unlock()
	// connCtx ends with the connection: teardown closes c.stop.
	go func() { <-c.stop; connCancel() }()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.teardown(c, true)
		return fmt.Errorf("mqtt sink: closed: %w", adapters.ErrNotConnected)
	}
	s.conn = c
	s.mu.Unlock()
	s.log.Info("connected", "client_id", s.cfg.ClientID, "qos", s.cfg.QoS, "topic", s.cfg.Topic)
	if m.tls != nil && s.cfg.TLS.watched() {
		go s.watch(c, m) // exits when c is torn down
	}
	return nil
}

// clientOptions builds the paho options of one connection.
func (s *Sink) clientOptions(c *sinkConn, m material, connCtx context.Context) *paho.ClientOptions {
	return s.options(s.cfg.URL, s.cfg.ClientID, s.cfg.KeepAlive, s.cfg.AckTimeout, m, connCtx, func(gc *gracefulConn) {
		c.connMu.Lock()
		c.gc = gc
		c.connMu.Unlock()
	}).
		// A clean session: paho never resends a publish on a later connection; the
		// daemon's outbox retries what was not acknowledged.
		SetCleanSession(true).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			if c.markDown() {
				s.log.Warn("connection lost", "err", err)
			}
		})
}

// Send publishes e's payload to its topic. With QoS 1 or 2 it returns nil only once
// the broker's PUBACK (QoS 1) or PUBCOMP (QoS 2) for this very publish arrived; with
// QoS 0 once the publish was written to the connection. A topic the template cannot
// build for e is a permanent error. A lost connection, or no acknowledgement within
// ack_timeout (the connection is then dropped), gives an error wrapping
// [adapters.ErrNotConnected]: the daemon reconnects and retries.
func (s *Sink) Send(ctx context.Context, e *adapters.Event) error {
	topic, err := s.tmpl.render(e)
	if err != nil {
		return adapters.Permanent(fmt.Errorf("topic: %w", err))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish to %q: %w", topic, err)
	}
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil || c.down.Load() {
		return fmt.Errorf("publish to %q on %s: %w", topic, s.url.Redacted(), adapters.ErrNotConnected)
	}
	// paho's Publish hands the packet to its writer and may block there, with no
	// context, until its write timeout (ack_timeout): while the writer is stuck on a
	// socket the broker does not read, or when the connection was lost just before
	// (nobody takes the packet then). So it runs in a goroutine of its own, and Send
	// returns as soon as the connection is known lost or ctx ends.
	pub := make(chan paho.Token, 1)
	go func() { pub <- c.client.Publish(topic, s.cfg.QoS, s.cfg.Retain, e.Payload) }() // exits within the write timeout
	var tok paho.Token
	select {
	case tok = <-pub:
	case <-c.lost:
		return fmt.Errorf("publish to %q: %w", topic, adapters.ErrNotConnected)
	case <-ctx.Done():
		return fmt.Errorf("publish to %q: %w", topic, ctx.Err())
	}
	t := s.clk.NewTimer(s.cfg.AckTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
	case <-c.lost:
		// A QoS 0 packet the writer never wrote is in no list paho cleans up; a
		// QoS 1 or 2 token is completed with an error by paho's clean-up. An
		// acknowledgement that made it first still counts.
		select {
		case <-tok.Done():
		default:
			return fmt.Errorf("publish to %q: connection lost: %w", topic, adapters.ErrNotConnected)
		}
	case <-ctx.Done():
		return fmt.Errorf("publish to %q: %w", topic, ctx.Err())
	case <-t.C():
		// A broker that leaves a publish unacknowledged this long is not to be
		// trusted with the next: drop the connection, so that paho's state for it
		// goes too, and retry on a new one.
		what := "PUBACK"
		if s.cfg.QoS == 2 {
			what = "PUBCOMP"
		}
		s.drop(c, fmt.Sprintf("no %s within ack_timeout %s", what, s.cfg.AckTimeout))
		return fmt.Errorf("publish to %q: no %s within %s: %w", topic, what, s.cfg.AckTimeout, adapters.ErrNotConnected)
	}
	if err := tok.Error(); err != nil {
		s.drop(c, err.Error())
		if errors.Is(err, paho.ErrNotConnected) {
			return fmt.Errorf("publish to %q: %w", topic, adapters.ErrNotConnected)
		}
		return fmt.Errorf("publish to %q: %v: %w", topic, err, adapters.ErrNotConnected)
	}
	return nil
}

// drop marks c as down and closes its socket at once; Sends waiting on it get
// their tokens completed with an error (paho's clean-session clean-up). The next
// Connect replaces it.
func (s *Sink) drop(c *sinkConn, why string) {
	if c.markDown() {
		s.log.Warn("dropping the connection", "reason", why)
	}
	c.connMu.Lock()
	gc := c.gc
	c.connMu.Unlock()
	if gc != nil {
		gc.abort()
	}
}

// teardown ends c: a DISCONNECT and a graceful close when it is still up and
// graceful is true, else an abort.
func (s *Sink) teardown(c *sinkConn, graceful bool) {
	c.once.Do(func() { close(c.stop) })
	if graceful && c.markDown() {
		c.client.Disconnect(disconnectQuiesce)
	} else {
		c.markDown()
		s.drop(c, "closing")
		c.client.Disconnect(0)
	}
	c.connMu.Lock()
	gc := c.gc
	c.connMu.Unlock()
	if gc == nil {
		return
	}
	t := s.clk.NewTimer(2 * closeWait)
	defer t.Stop()
	select {
	case <-gc.closed:
	case <-t.C():
		gc.abort()
	}
}

// watch checks the TLS files every reload_interval while c is the connection.
// When they changed and load, it drops c: the next Send reports ErrNotConnected and
// the daemon's Connect picks the new files up.
func (s *Sink) watch(c *sinkConn, m material) {
	tick := s.clk.NewTicker(s.cfg.TLS.ReloadInterval)
	defer tick.Stop()
	w := tlsWatch{active: m.fp}
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C():
			if c.down.Load() {
				return
			}
			if s.watchTLS(&w) {
				s.drop(c, "TLS files changed")
				return
			}
		}
	}
}

// Close disconnects. Send after Close returns an error wrapping
// [adapters.ErrNotConnected]; so does Connect.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	c := s.conn
	s.conn, s.closed = nil, true
	s.mu.Unlock()
	if c != nil {
		s.teardown(c, true)
	}
	return nil
}

// markDown marks c down and wakes the Sends waiting on it. It reports whether this
// call did it.
func (c *sinkConn) markDown() bool {
	if !c.down.CompareAndSwap(false, true) {
		return false
	}
	close(c.lost)
	return true
}
