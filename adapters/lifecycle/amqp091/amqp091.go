// Package amqp091 publishes lifecycle events to an AMQP 0-9-1 broker (RabbitMQ,
// LavinMQ, Amazon MQ, CloudAMQP): to the durable topic exchange edge.events with
// the event type as routing key, persistent, with publisher confirms. It registers
// the lifecycle adapter amqp091 (alias rabbitmq); see README.md.
package amqp091

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Exchange is the durable topic exchange every event goes to.
const Exchange = "edge.events"

// Bounds for the steps that have no context of their own.
const (
	handshakeTimeout = 30 * time.Second // TCP, TLS and AMQP handshake, unless ctx ends sooner
	closeTimeout     = 5 * time.Second  // connection.close-ok from a broker that may be gone
)

// Publisher publishes to one broker. Its methods are called from one goroutine; a
// mutex still guards its fields so that Close may come from another.
type Publisher struct {
	url     string   // dialled URL, with the password
	shown   string   // url without userinfo, for messages
	secrets []string // redacted from every error
	log     *slog.Logger
	clock   clock.Clock
	props   amqp.Table
	// handshake bounds the TCP, TLS and AMQP handshake (the URL's
	// connection_timeout, else handshakeTimeout) when ctx allows longer.
	handshake time.Duration

	mu     sync.Mutex // guards the fields below
	closed bool
	conn   *amqp.Connection
	ch     *amqp.Channel
	raw    net.Conn         // conn's socket, for write deadlines
	chErr  chan *amqp.Error // ch's NotifyClose
	cnErr  chan *amqp.Error // conn's NotifyClose
}

var _ lifecycle.Publisher = (*Publisher)(nil)

func newPublisher(url string, secrets []string, d lifecycle.Deps) *Publisher {
	props := amqp.NewConnectionProperties()
	name := "edgerelay lifecycle"
	if d.Version != "" {
		name += " " + d.Version
	}
	props.SetClientConnectionName(name)
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	handshake := handshakeTimeout
	if uri, err := amqp.ParseURI(url); err == nil && uri.ConnectionTimeout > 0 {
		handshake = time.Duration(uri.ConnectionTimeout) * time.Millisecond
	}
	return &Publisher{
		url: url, shown: secret.RedactURL(url), secrets: secrets,
		log: log, clock: clock.Or(d.Clock), props: props, handshake: handshake,
	}
}

// scrub redacts the publisher's secrets from err.
func (p *Publisher) scrub(err error) error { return secret.Scrub(err, p.secrets...) }

// Connect dials the broker, checks the exchange (declaring it only when it does not
// exist) and puts a channel in confirm mode. It replaces an earlier connection.
func (p *Publisher) Connect(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	old := p.conn
	p.conn, p.ch, p.raw = nil, nil, nil
	p.mu.Unlock()
	closeConnBy(ctx, old) // an old connection is likely broken: do not wait past ctx

	conn, raw, err := p.dial(ctx)
	if err != nil {
		return err
	}
	// Until Connect returns, the end of ctx kills the socket, which ends any RPC
	// below with an error.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	ch, err := p.setup(conn)
	if fired := !stop(); fired || err != nil {
		if fired {
			_ = raw.Close() // its deadline passed: nothing more goes through it
		} else {
			closeConn(conn)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connect to %s: %w", p.shown, context.Cause(ctx))
		}
		return p.scrub(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed { // Close came meanwhile
		closeConn(conn)
		return ErrClosed
	}
	p.conn, p.ch, p.raw = conn, ch, raw
	p.chErr = ch.NotifyClose(make(chan *amqp.Error, 1))
	p.cnErr = conn.NotifyClose(make(chan *amqp.Error, 1))
	return nil
}

// dial opens the AMQP connection, its handshake bounded by ctx and handshakeTimeout.
func (p *Publisher) dial(ctx context.Context) (*amqp.Connection, net.Conn, error) {
	var raw net.Conn
	var stop func() bool
	cfg := amqp.Config{
		Properties: p.props,
		Dial: func(network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			deadline := time.Now().Add(p.handshake)
			if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
				deadline = dl
			}
			_ = c.SetDeadline(deadline) // cleared by the library once the handshake is done
			stop = context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
			raw = c
			return c, nil
		},
	}
	conn, err := amqp.DialConfig(p.url, cfg)
	if stop != nil && !stop() && err == nil { // ctx ended after the handshake: the socket is dead
		err = context.Cause(ctx)
	}
	if err != nil {
		if raw != nil { // the library leaves it open after some handshake failures
			_ = raw.Close()
		}
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return nil, nil, p.scrub(fmt.Errorf("connect to %s: %w", p.shown, explain(err)))
	}
	return conn, raw, nil
}

// setup checks or declares the exchange and opens the confirming channel.
func (p *Publisher) setup(conn *amqp.Connection) (*amqp.Channel, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open a channel on %s: %w", p.shown, err)
	}
	if err := ch.ExchangeDeclarePassive(Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		var ae *amqp.Error
		if !errors.As(err, &ae) || ae.Code != amqp.NotFound {
			return nil, fmt.Errorf("check exchange %q on %s: %w", Exchange, p.shown, err)
		}
		// 404 closed the channel: declare it on a new one.
		if ch, err = conn.Channel(); err != nil {
			return nil, fmt.Errorf("open a channel on %s: %w", p.shown, err)
		}
		if err := ch.ExchangeDeclare(Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
			return nil, fmt.Errorf("declare exchange %q (durable, topic) on %s: %w", Exchange, p.shown, err)
		}
		p.log.Info("declared the lifecycle exchange", "exchange", Exchange, "broker", p.shown)
	}
	if err := ch.Confirm(false); err != nil {
		return nil, fmt.Errorf("turn on publisher confirms on %s: %w", p.shown, err)
	}
	return ch, nil
}

// Publish sends m to the exchange with routing key m.Type and waits for the
// broker's confirm of it.
func (p *Publisher) Publish(ctx context.Context, m lifecycle.Message) error {
	p.mu.Lock()
	closed, ch, raw, chErr, cnErr := p.closed, p.ch, p.raw, p.chErr, p.cnErr
	p.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case ch == nil:
		return ErrNotConnected
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	msg := amqp.Publishing{
		Headers:      amqp.Table{"type": m.Type, "corename": m.CoreName},
		ContentType:  lifecycle.ContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    m.ID,
		Timestamp:    p.clock.Now(),
		AppId:        "edgerelay",
		Body:         m.Body,
	}
	// A write blocked by the broker's flow control ends with ctx: the socket's write
	// deadline passes, and the connection is lost (the daemon connects again).
	stop := context.AfterFunc(ctx, func() { _ = raw.SetWriteDeadline(time.Unix(1, 0)) })
	dc, err := ch.PublishWithDeferredConfirm(Exchange, m.Type, false, false, msg)
	stop()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("publish %s: %w", m.Type, context.Cause(ctx))
		}
		return p.scrub(fmt.Errorf("publish %s: %w", m.Type, reason(err, chErr, cnErr)))
	}
	ack, err := dc.WaitContext(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("publish %s: waiting for the broker's confirm: %w", m.Type, err)
	case ack:
		return nil
	case ch.IsClosed():
		return p.scrub(fmt.Errorf("publish %s: no confirm: %w", m.Type, reason(amqp.ErrClosed, chErr, cnErr)))
	default:
		return fmt.Errorf("publish %s: %w", m.Type, ErrNacked)
	}
}

// reason returns why the channel or connection closed, when the library said so,
// else err.
func reason(err error, chErr, cnErr <-chan *amqp.Error) error {
	for _, c := range []<-chan *amqp.Error{chErr, cnErr} {
		select {
		case e, ok := <-c:
			if ok && e != nil {
				return fmt.Errorf("%w (%s)", err, describe(e))
			}
		default:
		}
	}
	return err
}

// describe renders an AMQP close reason.
func describe(e *amqp.Error) string {
	who := "connection lost"
	if e.Server {
		who = "closed by the broker"
	}
	return fmt.Sprintf("%s: %d %s", who, e.Code, e.Reason)
}

// explain adds a hint to the handshake errors that deserve one.
func explain(err error) error {
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case ae == amqp.ErrSASL:
		return fmt.Errorf("the broker offers none of the SASL mechanisms asked for (auth_mechanism in the URL, PLAIN when it has none): %w", err)
	case ae == amqp.ErrCredentials || (ae.Code == amqp.AccessRefused && !ae.Server):
		return fmt.Errorf("login refused: check the user name and password in %s: %w", VarURL, err)
	case ae == amqp.ErrVhost || ae.Code == amqp.NotAllowed:
		return fmt.Errorf("vhost refused (it does not exist or the user has no access to it): %w", err)
	case ae.Code == amqp.AccessRefused:
		return fmt.Errorf("login refused: %w", err)
	}
	return err
}

// Close closes the connection; it is idempotent, and bounded when the broker is gone.
func (p *Publisher) Close() error {
	p.mu.Lock()
	conn := p.conn
	p.closed, p.conn, p.ch, p.raw = true, nil, nil, nil
	p.mu.Unlock()
	closeConn(conn)
	return nil
}

// closeConn closes c (nil or dead is fine) without waiting long for close-ok.
func closeConn(c *amqp.Connection) { closeConnBy(context.Background(), c) }

// closeConnBy is closeConn that also stops waiting at ctx's deadline.
func closeConnBy(ctx context.Context, c *amqp.Connection) {
	if c == nil || c.IsClosed() {
		return
	}
	deadline := time.Now().Add(closeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = c.CloseDeadline(deadline)
}
