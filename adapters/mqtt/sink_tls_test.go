package mqtt

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// credHook lets in the test's own helpers (client ids "edgerelay-inj-…") and any
// other client only with user and pass; ACLs allow everything.
type credHook struct {
	mochi.HookBase
	user, pass string
	mu         sync.Mutex
	refused    int // guarded by mu
}

func (h *credHook) ID() string { return "test-cred" }
func (h *credHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *credHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	if strings.HasPrefix(cl.ID, "edgerelay-inj-") {
		return true
	}
	if string(pk.Connect.Username) == h.user && string(pk.Connect.Password) == h.pass {
		return true
	}
	h.mu.Lock()
	h.refused++
	h.mu.Unlock()
	return false
}

func (h *credHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// startMochiTLSAuth starts Mochi with a mutual-TLS listener whose clients must log
// in as user/pass.
func startMochiTLSAuth(t *testing.T, ca *testCA, user, pass string) (*tlsBroker, *credHook) {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	auth := &credHook{user: user, pass: pass}
	require.NoError(t, srv.AddHook(auth, nil))
	b := &tlsBroker{cns: map[string][]string{}}
	require.NoError(t, srv.AddHook(&cnHook{b: b}, nil))
	l := listeners.NewTCP(listeners.Config{ID: "tls", Address: "127.0.0.1:0", TLSConfig: serverTLS(t, ca, ca.issue(t, "broker", true))})
	require.NoError(t, srv.AddListener(l))
	require.NoError(t, srv.Serve())
	t.Cleanup(func() { stopMochi(t, srv, "tls") })
	b.url = "ssl://" + l.Address()
	return b, auth
}

// subscribeTLS subscribes a mutual-TLS helper client to filter.
func subscribeTLS(t *testing.T, url, filter string, ca *testCA) *subscriber {
	t.Helper()
	c := connectTLSInjector(t, url, ca, ca.issue(t, "subscriber", false))
	sub := &subscriber{}
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		sub.mu.Lock()
		sub.msgs = append(sub.msgs, received{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()})
		sub.mu.Unlock()
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	return sub
}

// TestSinkTLSCredentials: over mutual TLS, with the password from password_file
// and from password_env, the sink logs in and publishes; a wrong password is
// refused at Connect. The password appears in no error and no log line, even at
// debug level and without the daemon's redacting log handler.
func TestSinkTLSCredentials(t *testing.T) {
	ca := newTestCA(t, "test-ca")
	pass := "tls-sink-password-" + randHex(8)
	b, auth := startMochiTLSAuth(t, ca, "edgerelay", pass)
	p := writeTLSFiles(t, ca.pem, ca.issue(t, "sink-client", false))
	pwFile := filepath.Join(t.TempDir(), "mqtt.password")
	require.NoError(t, os.WriteFile(pwFile, []byte(pass+"\n"), 0o600))
	const envName = "EDGERELAY_TEST_MQTT_SINK_PASSWORD"
	t.Setenv(envName, pass)

	for name, setPassword := range map[string]func(*SinkConfig){
		"password":      func(c *SinkConfig) { c.Password = secret.Value(pass) },
		"password_file": func(c *SinkConfig) { c.PasswordFile = pwFile },
		"password_env":  func(c *SinkConfig) { c.PasswordEnv = envName },
	} {
		t.Run(name, func(t *testing.T) {
			logs := &testLogBuf{}
			s, filter := newTestSink(t, testBroker{url: b.url}, nil, logs, func(c *SinkConfig) {
				c.Username = "edgerelay"
				setPassword(c)
				c.TLS = TLSConfig{CAFile: p.ca, CertFile: p.cert, KeyFile: p.key}
			})
			sub := subscribeTLS(t, b.url, filter, ca)
			connectSink(t, s)
			require.NoError(t, s.Send(t.Context(), &adapters.Event{Key: "k", Payload: []byte("over-tls-" + name)}))
			sub.waitFor(t, "over-tls-"+name)
			require.Equal(t, []string{"sink-client"}, b.connects(s.cfg.ClientID), "the client certificate was presented")
			require.NoError(t, s.Close(t.Context()))
			require.NotContains(t, logs.String(), pass)
			require.Contains(t, logs.String(), "connected")
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		logs := &testLogBuf{}
		wrong := "wrong-password-" + randHex(8)
		s, _ := newTestSink(t, testBroker{url: b.url}, nil, logs, func(c *SinkConfig) {
			c.Username = "edgerelay"
			c.Password = secret.Value(wrong)
			c.TLS = TLSConfig{CAFile: p.ca, CertFile: p.cert, KeyFile: p.key}
		})
		err := s.Connect(t.Context())
		require.Error(t, err)
		require.NotContains(t, err.Error(), wrong)
		require.NotContains(t, logs.String(), wrong)
		auth.mu.Lock()
		require.Positive(t, auth.refused)
		auth.mu.Unlock()
		require.NoError(t, s.Close(t.Context()))
	})

	t.Run("unreadable files", func(t *testing.T) {
		s, _ := newTestSink(t, testBroker{url: b.url}, nil, nil, func(c *SinkConfig) {
			c.Username = "edgerelay"
			c.PasswordFile = filepath.Join(t.TempDir(), "missing.password")
			c.TLS = TLSConfig{CAFile: p.ca}
		})
		require.ErrorContains(t, s.Connect(t.Context()), "password_file")
		s, _ = newTestSink(t, testBroker{url: b.url}, nil, nil, func(c *SinkConfig) {
			c.TLS = TLSConfig{CAFile: filepath.Join(t.TempDir(), "missing-ca.pem")}
		})
		require.ErrorContains(t, s.Connect(t.Context()), "tls.ca_file")
		s, _ = newTestSink(t, testBroker{url: b.url}, nil, nil, func(c *SinkConfig) {
			c.Username = "edgerelay"
			c.PasswordEnv = "EDGERELAY_TEST_UNSET_VARIABLE"
		})
		require.ErrorContains(t, s.Connect(t.Context()), "EDGERELAY_TEST_UNSET_VARIABLE")
	})
}

// TestSinkTLSHotReload: when the client certificate on disk is renewed, the sink
// drops its connection on its own (checked every reload_interval on the test's
// clock); the next Send reports ErrNotConnected and the daemon's Connect uses the
// new certificate.
func TestSinkTLSHotReload(t *testing.T) {
	ca := newTestCA(t, "test-ca")
	b := startMochiTLS(t, serverTLS(t, ca, ca.issue(t, "broker", true)))
	p := writeTLSFiles(t, ca.pem, ca.issue(t, "client-1", false))
	const interval = 200 * time.Millisecond
	clk := newTickClock()
	s, filter := newTestSink(t, testBroker{url: b.url}, clk, nil, func(c *SinkConfig) {
		c.TLS = TLSConfig{CAFile: p.ca, CertFile: p.cert, KeyFile: p.key, ReloadInterval: interval}
	})
	sub := subscribeTLS(t, b.url, filter, ca)
	connectSink(t, s)
	require.NoError(t, s.Send(t.Context(), &adapters.Event{Key: "k", Payload: []byte("before")}))
	sub.waitFor(t, "before")

	next := ca.issue(t, "client-2", false)
	writeAtomic(t, p.key, next.keyPEM)
	writeAtomic(t, p.cert, next.certPEM)
	var err error
	advanceUntil(t, clk.Fake, interval, func() bool {
		err = s.Send(t.Context(), &adapters.Event{Key: "k", Payload: []byte("probe")})
		return err != nil
	}, "the sink never dropped the connection for the renewed certificate")
	require.ErrorIs(t, err, adapters.ErrNotConnected)
	require.NoError(t, s.Connect(t.Context()))
	require.NoError(t, s.Send(t.Context(), &adapters.Event{Key: "k", Payload: []byte("after")}))
	sub.waitFor(t, "after")
	require.Equal(t, []string{"client-1", "client-2"}, b.connects(s.cfg.ClientID))
}
