package mqtt

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles"
)

// Errors of Publish and Connect.
var (
	// ErrClosed is returned by Connect and Publish after Close.
	ErrClosed = errors.New("mqtt lifecycle publisher closed")
	// ErrNotConnected is returned by Publish before Connect or once the connection
	// is gone: the daemon connects again.
	ErrNotConnected = errors.New("not connected")
)

// RefusedError is a broker's refusal of CONNECT (a CONNACK return code other than 0).
type RefusedError struct{ Code byte }

func (e *RefusedError) Error() string {
	why := "unknown return code"
	switch e.Code {
	case 1:
		why = "unacceptable protocol version (the broker does not speak MQTT 3.1.1)"
	case 2:
		why = "client identifier rejected"
	case 3:
		why = "server unavailable"
	case 4:
		why = "bad user name or password"
	case 5:
		why = "not authorized"
	}
	return fmt.Sprintf("broker refused the connection: %s (CONNACK code %d)", why, e.Code)
}

// Publisher publishes lifecycle events to one MQTT broker over MQTT 3.1.1. It is
// used from one goroutine (the daemon's), as the contract says; Close may come from
// another.
type Publisher struct {
	cfg      Config
	host     string // for the TLS server name
	clientID string
	log      *slog.Logger

	mu     sync.Mutex // guards conn and closed
	conn   *conn
	closed bool

	nextID uint16 // the last packet id used; only Publish touches it
}

var _ lifecycle.Publisher = (*Publisher)(nil)

func newPublisher(c Config, d lifecycle.Deps) *Publisher {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	host, _ := splitAddr(c.URL) // Validate passed
	id := c.ClientID
	if id == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		id = "edgerelay-events-" + hex.EncodeToString(b) // 23 bytes: what every 3.1.1 broker must accept
	}
	log := d.Log.With("broker", c.URL, "client_id", id)
	if (c.JWT != "" || c.JWTFile != "") && (c.Password != "" || c.PasswordFile != "") {
		log.Warn("both a JWT and a password are set: the JWT is sent, the password is not")
	}
	return &Publisher{cfg: c, host: host, clientID: id, log: log}
}

// ClientID returns the MQTT client id the publisher connects with.
func (p *Publisher) ClientID() string { return p.clientID }

// login returns the CONNECT user name and password: the JWT as the password when
// one is set (with the configured user name, possibly empty), else the user name
// and password. It reads the JWT or password file.
func (p *Publisher) login() (user, pass string, err error) {
	c := p.cfg
	switch {
	case c.JWTFile != "":
		v, err := secret.ReadFile(c.JWTFile)
		if err != nil {
			return "", "", fmt.Errorf("read events.mqtt.jwt_file: %w", err)
		}
		if v == "" {
			return "", "", fmt.Errorf("events.mqtt.jwt_file %s is empty", c.JWTFile)
		}
		return c.Username, v, nil
	case c.JWT != "":
		return c.Username, c.JWT.Reveal(), nil
	case c.PasswordFile != "":
		v, err := secret.ReadFile(c.PasswordFile)
		if err != nil {
			return "", "", fmt.Errorf("read events.mqtt.password_file: %w", err)
		}
		secret.RegisterUserPassword(c.Username, v)
		return c.Username, v, nil
	}
	return c.Username, c.Password.Reveal(), nil
}

// tlsConfig loads the TLS files, again before every connection (rotated files are
// picked up on reconnect). Nil without SSL.
func (p *Publisher) tlsConfig() (*tls.Config, error) {
	c := p.cfg
	if !c.SSL {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: p.host}
	if c.CACertFile != "" {
		b, err := tlsfiles.Read(EnvCACertFile, c.CACertFile)
		if err != nil {
			return nil, err
		}
		if t.RootCAs, err = tlsfiles.CertPool(EnvCACertFile, c.CACertFile, b, nil); err != nil {
			return nil, err
		}
	}
	if c.ClientCertFile != "" {
		cert, err := tlsfiles.Read(EnvClientCertFile, c.ClientCertFile)
		if err != nil {
			return nil, err
		}
		key, err := tlsfiles.Read(EnvClientKeyFile, c.ClientKeyFile)
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%s %s and %s %s: %w", EnvClientCertFile, c.ClientCertFile, EnvClientKeyFile, c.ClientKeyFile, err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}

// Connect dials the broker (with TLS when SSL is set), sends CONNECT (MQTT 3.1.1,
// clean session) and waits for CONNACK, within ctx and the timeout. It replaces the
// current connection. A refusal is a [*RefusedError].
func (p *Publisher) Connect(ctx context.Context) error {
	p.mu.Lock()
	old, closed := p.conn, p.closed
	p.conn = nil
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if old != nil {
		old.close(true)
	}
	user, pass, err := p.login()
	if err != nil {
		return err
	}
	tc, err := p.tlsConfig()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	c, err := dial(ctx, p.cfg.URL, tc, connectPacket(p.clientID, user, pass, KeepAlive), p.cfg.Timeout)
	if err != nil {
		return secret.Scrub(fmt.Errorf("connect to %s: %w", p.cfg.URL, err), pass)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.close(true)
		return ErrClosed
	}
	p.conn = c
	p.mu.Unlock()
	p.log.Info("connected", "qos", p.cfg.QoS, "tls", tc != nil)
	return nil
}

// Publish sends m to the topic lifecycle.MQTTTopic(m.Type) with the configured QoS,
// retain off. At QoS 1 it returns once the broker's PUBACK arrived, at QoS 2 its
// PUBCOMP, at QoS 0 once the packet was written. When ctx ends or the timeout runs
// out first, the connection is dropped (the daemon connects again) and the error
// says so.
func (p *Publisher) Publish(ctx context.Context, m lifecycle.Message) error {
	p.mu.Lock()
	c, closed := p.conn, p.closed
	p.mu.Unlock()
	topic := lifecycle.MQTTTopic(m.Type)
	if closed {
		return ErrClosed
	}
	if c == nil {
		return fmt.Errorf("publish to %q: %w", topic, ErrNotConnected)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish to %q: %w", topic, err)
	}
	select {
	case <-c.done:
		return fmt.Errorf("publish to %q: connection lost (%v): %w", topic, c.err, ErrNotConnected)
	default:
	}
	qos := byte(p.cfg.QoS)
	var id uint16
	if qos > 0 {
		p.nextID++
		if p.nextID == 0 {
			p.nextID = 1
		}
		id = p.nextID
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	// Ending ctx drops the connection: that unblocks a write and the wait below,
	// and a connection with a publish in an unknown state is not reused.
	stop := context.AfterFunc(ctx, c.abort)
	defer stop()
	if err := c.write(publishPacket(topic, qos, id, m.Body)); err != nil {
		c.abort()
		return p.failed(ctx, topic, "write", err)
	}
	if qos == 0 {
		return nil
	}
	want := ackPUBACK
	if qos == 2 {
		want = ackPUBCOMP
	}
	for {
		select {
		case a := <-c.acks:
			if a == (ack{want, id}) {
				return nil
			}
		case <-c.done:
			// An acknowledgement read just before the end still counts (the reader
			// has ended: nothing is added to acks any more).
			for len(c.acks) > 0 {
				if <-c.acks == (ack{want, id}) {
					return nil
				}
			}
			return p.failed(ctx, topic, "wait for "+want.String(), c.err)
		}
	}
}

// failed builds Publish's error: the context's when it ended, else err.
func (p *Publisher) failed(ctx context.Context, topic, what string, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("publish to %q: %s: no answer within %s (connection dropped): %w", topic, what, p.cfg.Timeout, ctx.Err())
		}
		return fmt.Errorf("publish to %q: %s: %w (connection dropped)", topic, what, ctx.Err())
	}
	return fmt.Errorf("publish to %q: %s: connection lost (%v): %w", topic, what, err, ErrNotConnected)
}

// Close sends DISCONNECT and closes the connection. It may be called without
// Connect and more than once; Publish and Connect after it return ErrClosed.
func (p *Publisher) Close() error {
	p.mu.Lock()
	c := p.conn
	p.conn, p.closed = nil, true
	p.mu.Unlock()
	if c != nil {
		c.close(true)
	}
	return nil
}
