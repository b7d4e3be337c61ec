package redis

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// The publisher's errors.
var (
	// ErrClosed is returned by Connect and Publish after Close.
	ErrClosed = errors.New("redis publisher is closed")
	// ErrNotConnected is returned by Publish before a Connect succeeded, or after
	// the connection failed.
	ErrNotConnected = errors.New("redis publisher is not connected")
)

// maxServerMsg bounds a server error message kept in an error.
const maxServerMsg = 200

// Publisher publishes lifecycle events with PUBLISH <type> <envelope> on one
// connection.
type Publisher struct {
	t   target
	log *slog.Logger

	mu     sync.Mutex // guards conn, rd and closed (Close may come from another goroutine)
	conn   net.Conn
	rd     *bufio.Reader
	closed bool
	buf    []byte // the command being written; used by the one publishing goroutine
}

var _ lifecycle.Publisher = (*Publisher)(nil)

func newPublisher(t target, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{t: t, log: log}
}

// Connect dials the server, starts TLS, sends AUTH and SELECT when configured and a
// PING, and keeps the connection if every reply is good. It replaces a connection
// it had.
func (p *Publisher) Connect(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.dropLocked()
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, p.t.timeout)
	defer cancel()
	conn, err := p.dial(ctx)
	if err != nil {
		return err
	}
	rd := bufio.NewReaderSize(conn, maxLine)
	if err := p.handshake(ctx, conn, rd); err != nil {
		_ = conn.Close()
		return err
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed { // Close came meanwhile
		_ = conn.Close()
		return ErrClosed
	}
	p.conn, p.rd = conn, rd
	return nil
}

// dial opens the TCP connection and, when configured, TLS over it.
func (p *Publisher) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.t.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", p.t.display, p.ctxErr(ctx, err))
	}
	if p.t.tls == nil {
		return conn, nil
	}
	tc := tls.Client(conn, p.t.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			return nil, fmt.Errorf("tls handshake with %s (the server's certificate is not signed by a trusted CA: set %s): %w", p.t.display, keyCAFile, err)
		}
		return nil, fmt.Errorf("tls handshake with %s: %w", p.t.display, p.ctxErr(ctx, err))
	}
	return tc, nil
}

// handshake sends AUTH, SELECT and PING in one write and reads their replies.
func (p *Publisher) handshake(ctx context.Context, conn net.Conn, rd *bufio.Reader) error {
	var cmds []string
	var b []byte
	if p.t.password != "" {
		if p.t.user != "" {
			b = appendCommand(b, []byte("AUTH"), []byte(p.t.user), []byte(p.t.password))
		} else {
			b = appendCommand(b, []byte("AUTH"), []byte(p.t.password))
		}
		cmds = append(cmds, "AUTH")
	}
	if p.t.db != 0 {
		b = appendCommand(b, []byte("SELECT"), []byte(strconv.Itoa(p.t.db)))
		cmds = append(cmds, "SELECT")
	}
	b = appendCommand(b, []byte("PING"))
	cmds = append(cmds, "PING")

	stop := watch(ctx, conn)
	defer stop()
	if _, err := conn.Write(b); err != nil {
		return fmt.Errorf("redis handshake with %s: %w", p.t.display, p.ctxErr(ctx, err))
	}
	var first error
	for _, cmd := range cmds {
		rep, err := readReply(rd)
		if err != nil {
			return fmt.Errorf("redis %s reply from %s: %w", cmd, p.t.display, p.ctxErr(ctx, err))
		}
		if first != nil {
			continue // read the rest to report the first refusal
		}
		switch {
		case rep.kind == '-':
			first = p.refused(cmd, rep.str)
		case cmd == "PING" && !(rep.kind == '+' && rep.str == "PONG"):
			first = fmt.Errorf("redis PING to %s: %w: %c%q instead of +PONG", p.t.display, ErrProtocol, rep.kind, secret.Excerpt(rep.str, 32))
		case cmd != "PING" && rep.kind != '+':
			first = fmt.Errorf("redis %s on %s: %w: reply type %c instead of a status", cmd, p.t.display, ErrProtocol, rep.kind)
		}
	}
	return first
}

// refused turns an error reply to cmd into a *ServerError, with a word on what to
// fix for the refusals an operator meets.
func (p *Publisher) refused(cmd, msg string) error {
	e := &ServerError{Command: cmd, Msg: secret.Excerpt(msg, maxServerMsg)}
	var hint string
	switch e.Code() {
	case "WRONGPASS":
		hint = "the password in " + p.t.pwFrom + " is wrong"
		if p.t.user != "" {
			hint = "the password of user " + strconv.Quote(p.t.user) + " in " + p.t.pwFrom + " is wrong, or the user is unknown or disabled"
		}
	case "NOAUTH":
		hint = "the server needs a password: redis://:password@host in " + EnvURL
	}
	if cmd == "AUTH" && e.Code() == "ERR" && p.t.user == "" {
		hint = "the server refused the password in " + p.t.pwFrom
	}
	if hint != "" {
		return fmt.Errorf("%s on %s (%s): %w", cmd, p.t.display, hint, e)
	}
	return fmt.Errorf("%s on %s: %w", cmd, p.t.display, e)
}

// Publish sends PUBLISH <type> <body> and waits for the reply, the number of
// subscribers that got it (logged at debug; 0 is success: Redis Pub/Sub keeps
// nothing for absent subscribers). An I/O or protocol error drops the connection.
func (p *Publisher) Publish(ctx context.Context, m lifecycle.Message) error {
	p.mu.Lock()
	conn, rd, closed := p.conn, p.rd, p.closed
	p.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case conn == nil:
		return ErrNotConnected
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish %s: %w", m.Type, err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.t.timeout)
	defer cancel()
	stop := watch(ctx, conn)
	defer stop()

	p.buf = appendCommand(p.buf[:0], []byte("PUBLISH"), []byte(m.Type), m.Body)
	_, err := conn.Write(p.buf)
	if len(p.buf) > 64<<10 {
		p.buf = nil // do not keep an unusually large buffer
	}
	if err != nil {
		p.drop(conn)
		return fmt.Errorf("publish %s to %s: %w", m.Type, p.t.display, p.ctxErr(ctx, err))
	}
	rep, err := readReply(rd)
	if err != nil {
		p.drop(conn)
		return fmt.Errorf("publish %s to %s: reply: %w", m.Type, p.t.display, p.ctxErr(ctx, err))
	}
	switch rep.kind {
	case ':':
		p.log.Debug("lifecycle event published", "channel", m.Type, "event_id", m.ID, "receivers", rep.n)
		return nil
	case '-':
		return fmt.Errorf("publish %s: %w", m.Type, p.refused("PUBLISH", rep.str))
	}
	p.drop(conn)
	return fmt.Errorf("publish %s to %s: %w: reply type %c instead of an integer", m.Type, p.t.display, ErrProtocol, rep.kind)
}

// Close closes the connection; Publish and Connect fail after it. It may be called
// without Connect, and more than once.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.dropLocked()
	return nil
}

// drop closes conn if it is still the publisher's connection.
func (p *Publisher) drop(conn net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == conn {
		p.dropLocked()
	}
}

func (p *Publisher) dropLocked() {
	if p.conn != nil {
		_ = p.conn.Close()
	}
	p.conn, p.rd = nil, nil
}

// ctxErr returns the context's error in place of err when the context ended (the
// deadline watch turns a cancel into an i/o timeout), else err redacted.
func (p *Publisher) ctxErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The connection's deadline is the context's and may pass a moment before
		// the context's own timer marks it done.
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			cerr = context.DeadlineExceeded
		}
	}
	if cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("no answer within the deadline (%s at most): %w", p.t.timeout, cerr)
		}
		return cerr
	}
	return secret.Scrub(err)
}

// watch sets conn's deadline to ctx's and, when ctx ends earlier (cancelled), to
// the past, so that a blocked read or write returns. The returned stop undoes the
// watch; after it the deadline is cleared.
func watch(ctx context.Context, conn net.Conn) (stop func()) {
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	fired := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		_ = conn.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stopAfter() {
			<-fired // it ran or is running: let it finish before the deadline is cleared
		}
		_ = conn.SetDeadline(time.Time{})
	}
}
