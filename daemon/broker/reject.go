package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgerelay/edgerelay/adapters/logx"
)

// Reasons the broker refuses a client, the reason label of
// edgerelay_broker_rejects_total. Every topic is open to every authenticated client,
// so there is no ACL refusal to count.
const (
	// RejectAuth: a CONNECT with a wrong user name or password, or an anonymous one
	// the anonymous setting does not allow (MQTT reason 0x86, 0x87, 0x8C).
	RejectAuth = "auth_failed"
	// RejectOversize: a packet over max_message_bytes (0x95); the client is
	// disconnected.
	RejectOversize = "oversize"
	// RejectMalformed: a packet that does not decode (0x81, an unknown packet type).
	RejectMalformed = "malformed"
	// RejectProtocol: a packet that decodes but breaks the protocol: a first packet
	// that is not CONNECT, an unsupported protocol version, a bad client id, an invalid
	// topic, a packet a client may not send (0x80, 0x82, 0x84, 0x85, 0x8F, 0x90 and the
	// quota and feature codes from 0x93).
	RejectProtocol = "protocol_error"
	// RejectBusy: the broker's client limit is reached (0x88, 0x89).
	RejectBusy = "server_busy"
)

// RejectReasons lists every Reject* reason.
var RejectReasons = []string{RejectAuth, RejectOversize, RejectMalformed, RejectProtocol, RejectBusy}

// rejectReason classifies how a client's connection ended: "" for a normal end
// (DISCONNECT, a dropped connection, a keepalive timeout, the relay's own refusal,
// shutdown), else one of the Reject* reasons.
func rejectReason(err error) string {
	if err == nil {
		return ""
	}
	var c packets.Code
	if errors.As(err, &c) {
		switch c.Code {
		case 0x86, 0x87, 0x8C:
			return RejectAuth
		case 0x95:
			return RejectOversize
		case 0x81:
			return RejectMalformed
		case 0x80, 0x82, 0x84, 0x85, 0x8F, 0x90, 0x93, 0x94, 0x96, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2:
			return RejectProtocol
		case 0x88, 0x89:
			return RejectBusy
		}
		return ""
	}
	// Mochi's packet decoder reports these two as plain errors.
	switch msg := err.Error(); {
	case strings.Contains(msg, "invalid packet type"):
		return RejectMalformed
	case strings.Contains(msg, "no valid packet available"):
		return RejectProtocol
	}
	return ""
}

// SetRejects makes the broker count every connection and packet it refuses with
// count(reason), reason one of the Reject* constants, and log it through lim (one
// key per reason: a burst, then one line a minute with the number suppressed). Call it
// before Start. A nil count counts nothing; a nil lim logs every refusal.
func (b *Broker) SetRejects(count func(reason string), lim *logx.Limiter) {
	b.mu.Lock()
	b.countReject, b.lim = count, lim
	b.mu.Unlock()
}

// connEnded counts and logs the end of a client's connection when it was a refusal.
func (b *Broker) connEnded(remote net.Addr, err error) {
	reason := rejectReason(err)
	if reason == "" {
		return
	}
	b.mu.Lock()
	count, lim := b.countReject, b.lim
	b.mu.Unlock()
	if count != nil {
		count(reason)
	}
	host := ""
	if remote != nil {
		host, _, _ = net.SplitHostPort(remote.String())
	}
	lim.Warn(b.log, "broker:"+reason, "embedded broker refused a client",
		"reason", reason, "remote", host, "err", err.Error())
}

// tcpListener is Mochi's TCP listener with the end of every connection handed to the
// broker (connEnded), which counts and logs refusals. Mochi's own listener would log
// every failed connection with an empty message and no limit.
type tcpListener struct {
	*listeners.TCP
	b *Broker
}

// Serve accepts connections until the listener is closed, as listeners.TCP.Serve.
func (l tcpListener) Serve(establish listeners.EstablishFn) {
	l.TCP.Serve(func(id string, c net.Conn) error {
		remote := c.RemoteAddr()
		l.b.connEnded(remote, establish(id, c))
		return nil
	})
}

// quietHandler is the handler of Mochi's logger. It turns Mochi's informational
// records into debug ones (the broker's own lifecycle is logged by Broker), drops the
// packet attributes Mochi adds to some records (a PUBLISH packet carries its payload,
// a CONNECT its password), gives a record without a message one, and sends Mochi's
// warnings and errors through the broker's limiter. "error processing packet" is a
// debug record: the connection then ends with that error, which connEnded counts
// and logs.
type quietHandler struct {
	h slog.Handler
	b *Broker
}

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l < slog.LevelWarn {
		l = slog.LevelDebug
	}
	return q.h.Enabled(ctx, l)
}

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "error processing packet" {
		r.Level = slog.LevelDebug
	}
	if r.Level < slog.LevelWarn {
		r.Level = slog.LevelDebug
		if !q.h.Enabled(ctx, r.Level) {
			return nil
		}
	}
	msg := r.Message
	if msg == "" {
		msg = "client connection failed"
	}
	out := slog.NewRecord(r.Time, r.Level, "mqtt broker: "+msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "pk", "packet":
		default:
			out.AddAttrs(a)
		}
		return true
	})
	if out.Level < slog.LevelWarn {
		return q.h.Handle(ctx, out)
	}
	q.b.mu.Lock()
	lim := q.b.lim
	q.b.mu.Unlock()
	var args []any
	out.Attrs(func(a slog.Attr) bool { args = append(args, a); return true })
	lim.Log(slog.New(q.h), out.Level, "mochi", out.Message, args...)
	return nil
}

func (q quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{q.h.WithAttrs(as), q.b}
}
func (q quietHandler) WithGroup(n string) slog.Handler { return quietHandler{q.h.WithGroup(n), q.b} }
