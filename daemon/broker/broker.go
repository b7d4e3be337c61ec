// Package broker runs the optional embedded MQTT broker (Mochi) and bridges it to
// the relay in-process: a Source made by Broker.Source sees every matching PUBLISH
// inside the broker, and the publishing client gets its PUBACK only once the relay
// holds the event. It is the only package that imports Mochi. README.md explains the
// bridge.
package broker

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/logx"
)

// Broker is the embedded MQTT broker. Build it with New, then Start it; Close it
// once. Sources made by Source may run before Start.
type Broker struct {
	cfg    Config // defaults applied
	log    *slog.Logger
	srv    *mochi.Server
	inline *mochi.Client // publishes on the relay's behalf
	bridge *bridge

	// packetHooks are the hooks added with addHook that watch packets written
	// (OnPacketEncode, OnPacketSent): the bridge's coalesced PUBACKs bypass
	// Client.WritePacket, so it calls them itself. The daemon adds none.
	packetHooks []mochi.Hook

	// ctx ends when Close starts: it unblocks hook calls waiting for the relay.
	ctx    context.Context
	cancel context.CancelFunc

	mu          sync.Mutex          // guards tcp, health, started, closed, closeErr, countReject, lim
	tcp         *listeners.TCP      // set by Start
	health      adapters.Health     // never nil
	started     bool                // Start succeeded
	closed      bool                // Close was called
	closeErr    error               // result of the first Close
	countReject func(reason string) // see SetRejects; nil counts nothing
	lim         *logx.Limiter       // see SetRejects; nil limits nothing
}

// listenerID is the id of the broker's one listener; stopWait bounds Close.
const (
	listenerID = "edgerelay"
	stopWait   = 5 * time.Second
)

// New builds a broker from a validated cfg. It does not listen yet.
func New(cfg Config, log *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(cfg.MaxMessageBytes)
	// Keep a disconnected persistent session (and its queued messages) for a day at
	// most: the broker runs on small devices for years.
	caps.MaximumSessionExpiryInterval = 24 * 60 * 60
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		cfg:    cfg,
		log:    log,
		ctx:    ctx,
		cancel: cancel,
		health: nopHealth{},
	}
	srv := mochi.New(&mochi.Options{
		Capabilities:           caps,
		Logger:                 slog.New(quietHandler{log.Handler(), b}),
		SysTopicResendInterval: 60,
	})
	b.srv = srv
	b.inline = srv.NewClient(nil, mochi.LocalListener, "edgerelay-inline", true)
	b.bridge = newBridge(b)
	users := make(map[string]string, len(cfg.Users))
	for _, u := range cfg.Users {
		users[u.Username] = u.Password.Reveal()
	}
	if err := b.addHook(&authHook{anonymous: cfg.Anonymous, users: users}); err != nil {
		cancel()
		return nil, fmt.Errorf("add auth hook: %w", err)
	}
	if err := b.addHook(b.bridge); err != nil {
		cancel()
		return nil, fmt.Errorf("add bridge hook: %w", err)
	}
	return b, nil
}

// addHook adds h to the server. Every hook goes through it, before Start: see
// packetHooks.
func (b *Broker) addHook(h mochi.Hook) error {
	if err := b.srv.AddHook(h, nil); err != nil {
		return err
	}
	if h.Provides(mochi.OnPacketEncode) || h.Provides(mochi.OnPacketSent) {
		b.packetHooks = append(b.packetHooks, h)
	}
	return nil
}

type nopHealth struct{}

func (nopHealth) Set(string, bool, string)         {}
func (nopHealth) SetDegraded(string, bool, string) {}

// SetHealth makes the broker report its "listening" condition to h. Call it before
// Start.
func (b *Broker) SetHealth(h adapters.Health) {
	if h == nil {
		h = nopHealth{}
	}
	b.mu.Lock()
	b.health = h
	b.mu.Unlock()
}

// Start binds Listen and starts serving. A taken address gives an error that names
// it and says how to resolve the conflict.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("start embedded broker: already closed")
	}
	if b.started {
		return errors.New("start embedded broker: already started")
	}
	tcp := listeners.NewTCP(listeners.Config{ID: listenerID, Address: b.cfg.Listen})
	if err := b.srv.AddListener(tcpListener{tcp, b}); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			err = fmt.Errorf("listen on %s: address already in use (another MQTT broker?): set broker.listen "+
				"to a free address, or broker.enabled: false to use the broker already there: %w", b.cfg.Listen, err)
		} else {
			err = fmt.Errorf("listen on %s: %w", b.cfg.Listen, err)
		}
		b.health.Set("listening", false, err.Error())
		return err
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("serve mqtt on %s: %w", b.cfg.Listen, err)
	}
	b.tcp, b.started = tcp, true
	b.health.Set("listening", true, "")
	b.log.Info("embedded mqtt broker listening", "addr", tcp.Address())
	return nil
}

// Addr returns the address the broker listens on: the real one after Start (Listen
// may end in :0), else Listen.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tcp != nil {
		return b.tcp.Address()
	}
	return b.cfg.Listen
}

// Close stops the broker: waiting hook calls give up, every client is disconnected
// and the port is released. Messages the relay has not accepted stay unacknowledged,
// so clients resend them. Close may be called before Start and more than once.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return b.closeErr
	}
	b.closed = true
	b.mu.Unlock()

	b.cancel()
	b.bridge.close()
	err := StopMochi(b.srv, []string{listenerID}, stopWait)
	b.mu.Lock()
	b.closeErr = err
	h := b.health
	b.mu.Unlock()
	h.Set("listening", false, "stopped")
	return err
}

// Publish publishes a message from the relay itself (for an MQTT sink) to the
// broker's subscribers; retain keeps it as the topic's retained message.
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if qos > 2 {
		return fmt.Errorf("publish to %q: qos %d is not 0, 1 or 2", topic, qos)
	}
	if !mochi.IsValidFilter(topic, true) {
		return fmt.Errorf("publish to %q: not a valid topic name", topic)
	}
	err := b.srv.InjectPacket(b.inline, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName:   topic,
		Payload:     payload,
		PacketID:    uint16(qos), // never acknowledged, but QoS > 0 needs a non-zero id
	})
	if err != nil {
		return fmt.Errorf("publish to %q: %w", topic, err)
	}
	return nil
}

// AddrInUse reports whether something already accepts TCP connections on addr. An
// unspecified host (":1883", "0.0.0.0:1883") is probed on loopback.
func AddrInUse(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// authHook authenticates clients: accounts from the configuration, and anonymous
// clients according to Config.Anonymous. Every topic is open to every client.
type authHook struct {
	mochi.HookBase
	anonymous string
	users     map[string]string
}

func (h *authHook) ID() string { return "edgerelay-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	if user == "" && !pk.Connect.PasswordFlag {
		switch h.anonymous {
		case AnonymousAlways:
			return true
		case AnonymousLoopback:
			return isLoopback(cl.Net.Remote)
		default:
			return false
		}
	}
	want, ok := h.users[user]
	return ok && subtle.ConstantTimeCompare([]byte(want), pk.Connect.Password) == 1
}

func (h *authHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// isLoopback reports whether a remote "host:port" is on this machine.
func isLoopback(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}
