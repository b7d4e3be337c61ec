// Package mqtt is the MQTT source: it subscribes to topic filters on a broker and
// hands every message to the daemon, acknowledging it (PUBACK, PUBREC) only once the
// daemon has it durably stored or delivered. Acknowledgements leave in the order the
// messages arrived (MQTT 3.1.1 §4.6). A message the daemon could not accept is never
// acknowledged: the source reconnects and the broker redelivers it from the
// persistent session.
package mqtt

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/internal/keypath"
	"github.com/edgerelay/edgerelay/adapters/settle"
	"github.com/edgerelay/edgerelay/adapters/topic"
)

//go:embed sample.yaml
var sample string

func init() {
	adapters.RegisterSource("mqtt", adapters.SourceSpec[Config]{
		Summary:  "Subscribe to MQTT topics; acknowledge each message only once the relay holds it.",
		Sample:   sample,
		Ready:    []string{"connected", "subscriptions_ready"},
		Defaults: DefaultConfig,
		New: func(cfg Config, d adapters.Deps) (adapters.Source, error) {
			return NewSource(cfg, d)
		},
	})
}

var _ adapters.Source = (*Source)(nil)

// Reconnects wait adapters.ReconnectDelay (ilagent's backoff); the failure count
// resets after a connection that delivered something or stayed up at least
// adapters.MaxReconnectDelay.
const (
	// shutdownQuiesce bounds how long Run waits, once its context is done, for the
	// acknowledgements of messages the daemon already accepted.
	shutdownQuiesce = 500 * time.Millisecond
	// disconnectQuiesce bounds the wait for the DISCONNECT packet to be written.
	disconnectQuiesce = 100 // milliseconds, as paho wants it
	// closeWait bounds the wait for the broker to close its side after ours.
	closeWait = time.Second
)

// Source is the MQTT source. Build it with NewSource; Run it once at a time.
type Source struct {
	cfg Config // defaults applied
	d   adapters.Deps
	// link reaches the broker: url (parsed cfg.URL), clk (clock.Or(d.Clock), every
	// timer, ticker and elapsed time), log.
	link
}

// NewSource validates cfg and builds a source. It does not connect.
func NewSource(cfg Config, d adapters.Deps) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults(d.Name)
	u, err := parseBrokerURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	clk := clock.Or(d.Clock)
	if d.Now == nil {
		d.Now = clk.Now
	}
	if d.Health == nil {
		d.Health = adapters.NopHealth{}
	}
	return &Source{cfg: cfg, d: d, link: link{
		url: u, username: cfg.Username, password: cfg.Password, passwordFile: cfg.PasswordFile,
		tls: cfg.TLS, connectTimeout: cfg.ConnectTimeout,
		clk: clk, health: d.Health, log: d.Log.With("url", u.Redacted()),
	}}, nil
}

// Run connects, subscribes and publishes every message to pub until ctx is done,
// reconnecting with backoff whenever the connection is lost or a message could not
// be accepted, and at once when the TLS files changed (see watchTLS). It returns nil
// when ctx is done, and an error only when the first attempt cannot even start
// (unreadable or invalid TLS files, unreadable password file).
func (s *Source) Run(ctx context.Context, pub adapters.Publisher) error {
	s.d.Health.Set("connected", false, "connecting")
	s.d.Health.Set("subscriptions_ready", false, "not connected")
	var (
		failures   int
		subscribed bool   // subscriptions exist in the broker's session
		lastErr    string // last logged connection error, to log each kind once
	)
	for attempt := 0; ; attempt++ {
		opts, err := s.material()
		if err != nil {
			if attempt == 0 {
				s.d.Health.Set("connected", false, err.Error())
				return err
			}
			s.d.Health.Set("connected", false, err.Error())
			if err.Error() != lastErr {
				s.log.Warn("cannot load connection material", "err", err)
				lastErr = err.Error()
			}
		} else {
			r := s.session(ctx, pub, opts, &subscribed)
			if ctx.Err() != nil {
				s.d.Health.Set("connected", false, "stopped")
				s.d.Health.Set("subscriptions_ready", false, "stopped")
				return nil
			}
			if r.reload {
				// New TLS material: reconnect now, as after a fresh start.
				failures, lastErr = 0, ""
				continue
			}
			if r.progress {
				failures = 0
			}
			if r.err != nil && r.err.Error() != lastErr {
				s.log.Warn(r.what, "err", r.err)
				lastErr = r.err.Error()
			} else if r.err != nil {
				s.log.Debug(r.what, "err", r.err)
			}
			if r.connected {
				lastErr = ""
			}
		}
		d := adapters.ReconnectDelay(failures)
		failures++
		s.log.Debug("reconnecting", "retry_in", d.Seconds())
		if !clock.Sleep(ctx, s.clk, d) {
			s.d.Health.Set("connected", false, "stopped")
			s.d.Health.Set("subscriptions_ready", false, "stopped")
			return nil
		}
	}
}

// result tells Run how a session ended.
type result struct {
	connected bool   // CONNACK accepted
	progress  bool   // something was delivered, or the connection was long-lived
	reload    bool   // the TLS files changed: reconnect at once with the new material
	what      string // log message for err
	err       error  // why the session ended; nil when ctx ended
}

// session is one MQTT connection: a fresh paho client, its ack queue and the gate
// that keeps its message handler out of the next connection's way.
type session struct {
	s    *Source
	pub  adapters.Publisher
	ctx  context.Context // handlers publish under it; cancelled first on teardown
	acks *settle.Tracker[paho.Message]
	// acks releases acknowledgements in arrival order (MQTT 3.1.1 §4.6); acked counts
	// those released (only the acker goroutine adds to it).
	acked atomic.Int64

	inbox  chan inMsg // received messages for publish, in arrival order
	failed chan error // capacity 1: the first delivery failure
	lost   chan error // capacity 1: paho lost the connection

	connMu sync.Mutex    // guards conn
	conn   *gracefulConn // the network connection, once dialled

	gate   sync.RWMutex // handlers hold it shared while they run; teardown takes it to set closed
	closed bool         // guarded by gate: handlers drop messages once set

	qos0Progress atomic.Bool // a QoS 0 message was accepted
	qos0Lost     atomic.Bool // a QoS 0 message was refused (logged once)
}

// session runs one connection until ctx ends, the connection is lost or a delivery
// fails. Every goroutine it starts has ended or is ending when it returns, and no
// message of this connection is published after it returns.
func (s *Source) session(ctx context.Context, pub adapters.Publisher, m material, subscribed *bool) (r result) {
	hctx, hcancel := context.WithCancel(ctx) // handlers
	connCtx, connCancel := context.WithCancel(context.WithoutCancel(ctx))
	ss := &session{
		s: s, pub: pub, ctx: hctx,
		inbox:  make(chan inMsg, s.cfg.MaxInflight),
		failed: make(chan error, 1),
		lost:   make(chan error, 1),
	}
	// The first refusal ends the connection: neither that message nor any later one
	// is acknowledged on it, so the broker redelivers them after a reconnect.
	ss.acks = settle.New[paho.Message](settle.Options{Capacity: s.cfg.MaxInflight, OnFail: func(err error) {
		select {
		case ss.failed <- err:
		default:
		}
	}})
	stopAcker := make(chan struct{})
	ackerDone := make(chan struct{})
	// The acker releases acknowledgements in order, one at a time; it exits when
	// stopAcker closes, after a last release.
	go func() {
		defer close(ackerDone)
		for {
			select {
			case <-ss.acks.Ready():
				ss.release()
			case <-stopAcker:
				ss.release()
				return
			}
		}
	}()
	publisherDone := make(chan struct{})
	// The publisher exits when hctx ends (first step of the teardown below).
	go func() {
		defer close(publisherDone)
		ss.publish()
	}()

	client := paho.NewClient(s.clientOptions(ss, m, connCtx))
	var up time.Time
	drain := false
	leave := false // the source stops: leave the shared subscriptions
	defer func() {
		hcancel()
		<-publisherDone
		if drain {
			ss.waitIdle(shutdownQuiesce)
		}
		if leave {
			ss.leaveShared(client)
		}
		if !up.IsZero() {
			client.Disconnect(disconnectQuiesce)
			ss.waitClosed()
		}
		connCancel()
		ss.gate.Lock()
		ss.closed = true
		ss.gate.Unlock()
		close(stopAcker)
		<-ackerDone
		if ss.acked.Load() > 0 || ss.qos0Progress.Load() || (!up.IsZero() && s.clk.Since(up) >= adapters.MaxReconnectDelay) {
			r.progress = true
		}
		if r.connected {
			detail := "disconnected"
			if r.err != nil {
				detail = "disconnected: " + r.err.Error()
			}
			s.d.Health.Set("connected", false, detail)
			s.d.Health.Set("subscriptions_ready", false, "not connected")
		}
	}()

	tok := client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		connCancel() // aborts the dial or the handshake, so Done follows promptly
		<-tok.Done()
		if tok.Error() == nil {
			up = s.clk.Now()
		}
		return r
	}
	if err := tok.Error(); err != nil {
		s.d.Health.Set("connected", false, err.Error())
		return result{what: "connect failed", err: fmt.Errorf("connect to %s: %w", s.url.Redacted(), err)}
	}
	up = s.clk.Now()
	r.connected = true
	ss.connMu.Lock()
	if ss.conn != nil {
		ss.conn.setGraceful()
	}
	ss.connMu.Unlock()
	s.d.Health.Set("connected", true, "")
	s.log.Info("connected", "client_id", s.cfg.ClientID, "session_present", tok.(*paho.ConnectToken).SessionPresent())

	// With a persistent session the broker kept the subscriptions; subscribing again
	// would make it resend every retained message, so skip it after the first time.
	if !*subscribed || s.cfg.CleanSession || !tok.(*paho.ConnectToken).SessionPresent() {
		ok, err := ss.subscribe(ctx, client)
		switch {
		case err != nil:
			r.what, r.err = "subscribe failed", err
			return r
		case ok:
			*subscribed = !s.cfg.CleanSession
		}
	} else {
		s.d.Health.Set("subscriptions_ready", true, "")
	}

	var reload <-chan time.Time // nil (never ready) unless the TLS files are watched
	if m.tls != nil && s.cfg.TLS.watched() {
		tick := s.clk.NewTicker(s.cfg.TLS.ReloadInterval)
		defer tick.Stop()
		reload = tick.C()
	}
	w := tlsWatch{active: m.fp}
	for {
		select {
		case <-ctx.Done():
			drain, leave = true, true
			return r
		case err := <-ss.lost:
			r.what, r.err = "connection lost", err
			return r
		case err := <-ss.failed:
			// Acknowledge what came before the refused message, then reconnect.
			drain = true
			r.what, r.err = "message not accepted; reconnecting so the broker redelivers it", err
			return r
		case <-reload:
			if s.watchTLS(&w) {
				// Acknowledge what the daemon already accepted, then reconnect.
				drain = true
				r.reload = true
				return r
			}
		}
	}
}

// clientOptions builds the paho options of one connection.
func (s *Source) clientOptions(ss *session, m material, connCtx context.Context) *paho.ClientOptions {
	return s.options(s.cfg.URL, s.cfg.ClientID, s.cfg.KeepAlive, s.cfg.ConnectTimeout, m, connCtx, func(c *gracefulConn) {
		ss.connMu.Lock()
		ss.conn = c
		ss.connMu.Unlock()
	}).
		SetCleanSession(s.cfg.CleanSession).
		SetOrderMatters(true).    // handlers run in arrival order, one at a time
		SetAutoAckDisabled(true). // the ack queue acknowledges
		SetResumeSubs(false).     // each client is fresh; Run resubscribes when needed
		SetDefaultPublishHandler(ss.handle).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case ss.lost <- err:
			default:
			}
		})
}

// waitClosed waits until the connection's graceful close has finished.
func (ss *session) waitClosed() {
	ss.connMu.Lock()
	c := ss.conn
	ss.connMu.Unlock()
	if c == nil {
		return
	}
	t := ss.s.clk.NewTimer(2 * closeWait)
	defer t.Stop()
	select {
	case <-c.closed:
	case <-t.C():
	}
}

// subscribe sends one SUBSCRIBE for every topic and waits for the SUBACK. It reports
// whether every filter was granted; a rejected filter is reported to the health
// tracker but does not end the connection.
func (ss *session) subscribe(ctx context.Context, client paho.Client) (bool, error) {
	s := ss.s
	filters := make(map[string]byte, len(s.cfg.Topics))
	for _, f := range s.cfg.Topics {
		filters[f] = s.cfg.QoS
	}
	tok := client.SubscribeMultiple(filters, nil)
	t := s.clk.NewTimer(s.cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return false, nil
	case <-t.C():
		return false, fmt.Errorf("subscribe: no SUBACK within %s", s.cfg.ConnectTimeout)
	}
	if err := tok.Error(); err != nil {
		return false, fmt.Errorf("subscribe: %w", err)
	}
	var rejected []string
	granted := tok.(*paho.SubscribeToken).Result()
	for _, f := range s.cfg.Topics {
		code, ok := granted[f]
		switch {
		case !ok || code == 0x80:
			rejected = append(rejected, f)
		case code < s.cfg.QoS:
			s.log.Warn("broker granted a lower qos", "topic", f, "qos", code, "want", s.cfg.QoS)
		}
	}
	if len(rejected) > 0 {
		detail := "subscription rejected: " + strings.Join(rejected, ", ")
		s.log.Warn(detail)
		s.d.Health.Set("subscriptions_ready", false, detail)
		return false, nil
	}
	s.d.Health.Set("subscriptions_ready", true, "")
	s.log.Info("subscribed", "topics", s.cfg.Topics, "qos", s.cfg.QoS)
	return true, nil
}

// leaveShared unsubscribes from the shared subscriptions when the source stops with a
// persistent session. A broker keeps counting a disconnected persistent session as a
// member of the group (Mosquitto 2.0 queues its share of the messages for its
// return), so without this the other members would not take over the stopped
// relay's share.
func (ss *session) leaveShared(client paho.Client) {
	s := ss.s
	if s.cfg.CleanSession {
		return // the broker drops the session, and its subscriptions, on disconnect
	}
	var shared []string
	for _, f := range s.cfg.Topics {
		if topic.Unshare(f) != f {
			shared = append(shared, f)
		}
	}
	if len(shared) == 0 {
		return
	}
	tok := client.Unsubscribe(shared...)
	t := s.clk.NewTimer(closeWait)
	defer t.Stop()
	answered := false
	select {
	case <-tok.Done():
		answered = true
	case <-t.C():
	}
	switch {
	case !answered:
		s.log.Warn("leaving shared subscriptions: no UNSUBACK", "wait", closeWait.Seconds())
	case tok.Error() != nil:
		s.log.Warn("leaving shared subscriptions failed", "err", tok.Error())
	default:
		s.log.Info("left shared subscriptions", "topics", shared)
	}
}

// inMsg is a received message on its way to the Publisher.
type inMsg struct {
	e   *adapters.Event
	ent *settle.Entry[paho.Message] // nil for QoS 0
}

// handle is paho's message handler. paho calls it in arrival order from one
// goroutine per connection. It queues the message for the publishing goroutine and
// blocks only while max_in_flight messages are held, so paho keeps reading the
// socket (PINGRESP included) while the daemon applies back-pressure.
func (ss *session) handle(_ paho.Client, m paho.Message) {
	ss.gate.RLock()
	defer ss.gate.RUnlock()
	if ss.closed || ss.ctx.Err() != nil {
		return // not acknowledged: the broker redelivers it on the next connection
	}
	it := inMsg{e: ss.s.event(m)}
	if m.Qos() > 0 {
		ent, err := ss.acks.Push(ss.ctx, m, 1)
		if err != nil {
			return
		}
		it.ent = ent
	}
	select {
	case ss.inbox <- it:
	case <-ss.ctx.Done():
		if it.ent != nil {
			it.ent.Done(adapters.Refuse(ss.ctx.Err()))
		}
	}
}

// publish hands queued messages to the Publisher, one at a time in arrival order,
// so events keep their order per key. It runs in its own goroutine and returns when
// ss.ctx ends, refusing what is still queued.
func (ss *session) publish() {
	for {
		select {
		case it := <-ss.inbox:
			done := ss.doneQoS0
			if it.ent != nil {
				done = it.ent.Done
			}
			if err := ss.pub.Publish(ss.ctx, it.e, done); err != nil && it.ent != nil {
				it.ent.Done(adapters.Refuse(err)) // Publish never calls done when it fails
			}
		case <-ss.ctx.Done():
			for {
				select {
				case it := <-ss.inbox:
					if it.ent != nil {
						it.ent.Done(adapters.Refuse(ss.ctx.Err()))
					}
				default:
					return
				}
			}
		}
	}
}

// doneQoS0 is the completion of a QoS 0 message, which has nothing to acknowledge.
func (ss *session) doneQoS0(s adapters.Settlement) {
	if s.OK() {
		ss.qos0Progress.Store(true)
		return
	}
	if ss.qos0Lost.CompareAndSwap(false, true) && ss.ctx.Err() == nil {
		ss.s.log.Warn("qos 0 message not accepted and lost (qos 0 cannot be redelivered)", "err", s.Err)
	}
}

// release acknowledges the settled prefix of the connection's messages, in order.
// Only the acker goroutine calls it.
func (ss *session) release() {
	n, _ := ss.acks.Release(paho.Message.Ack)
	ss.acked.Add(int64(n))
}

// waitIdle waits up to d until nothing more can be acknowledged: every held message
// acknowledged (handed to paho), or the next one refused. It relies on the acker.
func (ss *session) waitIdle(d time.Duration) {
	t := ss.s.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ss.acks.Idle():
	case <-t.C():
	}
}

// event turns a message into an event.
func (s *Source) event(m paho.Message) *adapters.Event {
	payload := bytes.Clone(m.Payload())
	attrs := map[string]string{"mqtt.qos": strconv.Itoa(int(m.Qos()))}
	if m.Retained() {
		attrs["mqtt.retained"] = "true"
	}
	if m.Duplicate() {
		attrs["mqtt.duplicate"] = "true"
	}
	return &adapters.Event{
		ID:       adapters.NewID(),
		Kind:     s.cfg.Kind,
		Key:      keypath.Key(s.cfg.KeyPath, m.Topic(), payload),
		Source:   s.d.Name,
		Topic:    m.Topic(),
		Payload:  payload,
		Attrs:    attrs,
		Received: s.d.Now(),
	}
}
