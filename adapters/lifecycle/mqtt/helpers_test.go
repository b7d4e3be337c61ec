package mqtt

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
	"github.com/edgerelay/edgerelay/daemon/broker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const mosquittoAddr = "127.0.0.1:1883"

// login is what a client sent in CONNECT, as the broker decoded it.
type login struct {
	userFlag, passFlag bool
	user, pass         string
}

// testBroker is an in-process Mochi broker.
type testBroker struct {
	addr string
	mu   sync.Mutex
	seen []login     // every CONNECT; guarded by mu
	pubs []published // every PUBLISH from a client; guarded by mu
	cons []connected // every CONNECT's protocol fields; guarded by mu
}

// published is a PUBLISH as the broker read it.
type published struct {
	topic  string
	qos    byte
	retain bool
}

// connected is what a CONNECT said beyond the login.
type connected struct {
	clientID  string
	version   byte
	clean     bool
	keepalive uint16
}

func (b *testBroker) published() []published {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]published(nil), b.pubs...)
}

func (b *testBroker) connects() []connected {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]connected(nil), b.cons...)
}

func (b *testBroker) logins() []login {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]login(nil), b.seen...)
}

// startMochi starts Mochi on 127.0.0.1:0 (with TLS when tc is set). auth decides
// who may connect; nil lets everyone in.
func startMochi(t *testing.T, tc *tls.Config, auth func(user, pass string) bool) *testBroker {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	b := &testBroker{}
	require.NoError(t, srv.AddHook(&authHook{b: b, auth: auth}, nil))
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0", TLSConfig: tc})
	require.NoError(t, srv.AddListener(l))
	require.NoError(t, srv.Serve())
	// Mochi's own Close can deadlock while a client (re)connects.
	t.Cleanup(func() {
		if err := broker.StopMochi(srv, []string{"t"}, 30*time.Second); err != nil {
			t.Error(err)
		}
	})
	b.addr = l.Address()
	return b
}

type authHook struct {
	mochi.HookBase
	b    *testBroker
	auth func(user, pass string) bool
}

func (h *authHook) ID() string { return "test-auth" }
func (h *authHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck || b == mochi.OnPublish
}
func (h *authHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	h.b.mu.Lock()
	h.b.pubs = append(h.b.pubs, published{pk.TopicName, pk.FixedHeader.Qos, pk.FixedHeader.Retain})
	h.b.mu.Unlock()
	return pk, nil
}
func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	l := login{pk.Connect.UsernameFlag, pk.Connect.PasswordFlag, string(pk.Connect.Username), string(pk.Connect.Password)}
	h.b.mu.Lock()
	h.b.seen = append(h.b.seen, l)
	h.b.cons = append(h.b.cons, connected{cl.ID, pk.ProtocolVersion, pk.Connect.Clean, pk.Connect.Keepalive})
	h.b.mu.Unlock()
	return h.auth == nil || cl.Net.Inline || h.auth(l.user, l.pass)
}
func (h *authHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// subscribe connects a paho subscriber to edge/# at QoS 2 on addr and returns what
// it receives. o adds to its options (credentials, TLS).
func subscribe(t *testing.T, addr string, o func(*paho.ClientOptions)) <-chan lifecycletest.Received {
	t.Helper()
	scheme := "tcp://"
	opts := paho.NewClientOptions().SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
	if o != nil {
		o(opts)
		if opts.TLSConfig != nil {
			scheme = "ssl://"
		}
	}
	opts.AddBroker(scheme + addr)
	opts.SetClientID(randomID())
	ch := make(chan lifecycletest.Received, 64)
	c := paho.NewClient(opts)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(15*time.Second), "subscriber connect timed out")
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(100) })
	tok = c.Subscribe("edge/#", 2, func(_ paho.Client, m paho.Message) {
		ch <- lifecycletest.Received{Where: m.Topic(), Body: bytes.Clone(m.Payload()),
			Attrs: map[string]string{"retained": map[bool]string{true: "true", false: "false"}[m.Retained()]}}
	})
	require.True(t, tok.WaitTimeout(15*time.Second), "subscribe timed out")
	require.NoError(t, tok.Error())
	return ch
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "edgerelay-sub-" + hex.EncodeToString(b)
}

// deps are the Deps a test builds with.
func deps(t *testing.T) lifecycle.Deps {
	return lifecycle.Deps{Log: slog.New(slog.DiscardHandler), Clock: clock.Real, Version: "test",
		Env: lifecycle.MapEnv(nil)}
}

// build builds a publisher from env (over the defaults), failing the test on a
// configuration error.
func build(t *testing.T, env map[string]string, yaml func(*Config)) *Publisher {
	t.Helper()
	c := NewConfig()
	if yaml != nil {
		yaml(c)
	}
	require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(env)))
	require.NoError(t, c.Validate())
	p, err := c.Build(deps(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p.(*Publisher)
}

// writeFile writes b to name in a test directory and returns its path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}
