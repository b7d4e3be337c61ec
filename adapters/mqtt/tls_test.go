package mqtt

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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

	"github.com/edgerelay/edgerelay/adapters"
)

// TestFingerprint is ilagent scenario 44: the same bytes give the same fingerprint,
// changing the CA, the certificate or the key changes it, and moving bytes from one
// file to the next changes it too.
func TestFingerprint(t *testing.T) {
	ca, cert, key := []byte("ca-bytes"), []byte("cert-bytes"), []byte("key-bytes")
	base := fingerprint(ca, cert, key)
	require.Equal(t, base, fingerprint([]byte("ca-bytes"), []byte("cert-bytes"), []byte("key-bytes")))
	for name, fp := range map[string][32]byte{
		"ca changed":       fingerprint([]byte("ca-bytez"), cert, key),
		"cert changed":     fingerprint(ca, []byte("cert-bytez"), key),
		"key changed":      fingerprint(ca, cert, []byte("key-bytez")),
		"bytes moved":      fingerprint([]byte("ca-bytesc"), []byte("ert-bytes"), key),
		"key emptied":      fingerprint(ca, cert, nil),
		"files swapped":    fingerprint(cert, ca, key),
		"all into the key": fingerprint(nil, nil, []byte("ca-bytescert-byteskey-bytes")),
	} {
		require.NotEqual(t, base, fp, name)
	}
}

// TestFingerprintFiles: through the files, a deleted file fails the read, and
// restoring the same bytes gives the original fingerprint again (scenario 44).
func TestFingerprintFiles(t *testing.T) {
	ca := newTestCA(t, "ca")
	p := writeTLSFiles(t, ca.pem, ca.issue(t, "client", false))
	src := tlsSource(t, p, "ssl://127.0.0.1:1")
	f, err := src.readTLSFiles()
	require.NoError(t, err)
	orig := f.fingerprint()

	b, err := os.ReadFile(p.key)
	require.NoError(t, err)
	require.NoError(t, os.Remove(p.key))
	_, err = src.readTLSFiles()
	require.ErrorContains(t, err, "tls.key_file")
	require.NoError(t, os.WriteFile(p.key, b, 0o600))
	f, err = src.readTLSFiles()
	require.NoError(t, err)
	require.Equal(t, orig, f.fingerprint())

	writeAtomic(t, p.cert, append(bytes.Clone(f.cert), '\n'))
	f, err = src.readTLSFiles()
	require.NoError(t, err)
	require.NotEqual(t, orig, f.fingerprint())
}

// tlsSource builds an unstarted source with the TLS files p (empty paths unset).
func tlsSource(t *testing.T, p tlsPaths, url string) *Source {
	t.Helper()
	cfg := DefaultConfig()
	cfg.URL = url
	cfg.Topics = []string{"a"}
	cfg.TLS = TLSConfig{CAFile: p.ca, CertFile: p.cert, KeyFile: p.key}
	src, err := NewSource(cfg, adapters.Deps{Name: "x", Health: newHealthRec()})
	require.NoError(t, err)
	return src
}

// TestTLSMaterial covers ilagent scenarios 43 and 45: what loads and what fails.
func TestTLSMaterial(t *testing.T) {
	ca := newTestCA(t, "ca")
	good := writeTLSFiles(t, ca.pem, ca.issue(t, "client", false))
	other := writeTLSFiles(t, ca.pem, ca.issue(t, "other", false))
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not valid pem data"), 0o600))
	missing := filepath.Join(dir, "missing.pem")

	t.Run("no files: system roots", func(t *testing.T) {
		m, err := tlsSource(t, tlsPaths{}, "mqtts://broker").material()
		require.NoError(t, err)
		require.NotNil(t, m.tls)
		require.Nil(t, m.tls.RootCAs)
		require.Empty(t, m.tls.Certificates)
		require.Equal(t, "broker", m.tls.ServerName)
	})
	t.Run("plain tcp: no TLS", func(t *testing.T) {
		m, err := tlsSource(t, tlsPaths{}, "tcp://broker").material()
		require.NoError(t, err)
		require.Nil(t, m.tls)
	})
	t.Run("valid ca and pair", func(t *testing.T) {
		src := tlsSource(t, good, "ssl://127.0.0.1")
		m, err := src.material()
		require.NoError(t, err)
		require.NotNil(t, m.tls.RootCAs)
		require.Len(t, m.tls.Certificates, 1)
		require.True(t, src.d.Health.(*healthRec).get("tls").ok)
	})
	t.Run("ca only", func(t *testing.T) {
		m, err := tlsSource(t, tlsPaths{ca: good.ca}, "ssl://127.0.0.1").material()
		require.NoError(t, err)
		require.NotNil(t, m.tls.RootCAs)
		require.Empty(t, m.tls.Certificates)
	})
	cases := []struct {
		name string
		p    tlsPaths
		want string
	}{
		{"missing ca", tlsPaths{ca: missing}, "tls.ca_file"},
		{"ca not pem", tlsPaths{ca: garbage}, "no PEM certificate"},
		{"ca is a key", tlsPaths{ca: good.key}, "no PEM certificate"},
		{"missing cert", tlsPaths{ca: good.ca, cert: missing, key: good.key}, "tls.cert_file"},
		{"missing key", tlsPaths{ca: good.ca, cert: good.cert, key: missing}, "tls.key_file"},
		{"cert not pem", tlsPaths{ca: good.ca, cert: garbage, key: good.key}, "tls.cert_file"},
		{"key not pem", tlsPaths{ca: good.ca, cert: good.cert, key: garbage}, "tls.cert_file"},
		{"pair mismatch", tlsPaths{ca: good.ca, cert: good.cert, key: other.key}, "does not match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tlsSource(t, tc.p, "ssl://127.0.0.1")
			_, err := src.material()
			require.ErrorContains(t, err, tc.want)
			st := src.d.Health.(*healthRec).get("tls")
			require.False(t, st.ok)
			require.Contains(t, st.detail, tc.want)
		})
	}
}

// tlsBroker is an in-process Mochi broker with a mutual-TLS listener.
type tlsBroker struct {
	url string
	mu  sync.Mutex
	cns map[string][]string // client id → the client certificate's CN per connection; guarded by mu
}

// startMochiTLS starts Mochi on 127.0.0.1:0 with TLS configured by tc.
func startMochiTLS(t *testing.T, tc *tls.Config) *tlsBroker {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, srv.AddHook(&aclHook{acl: func(string, bool) bool { return true }}, nil))
	b := &tlsBroker{cns: map[string][]string{}}
	require.NoError(t, srv.AddHook(&cnHook{b: b}, nil))
	l := listeners.NewTCP(listeners.Config{ID: "tls", Address: "127.0.0.1:0", TLSConfig: tc})
	require.NoError(t, srv.AddListener(l))
	require.NoError(t, srv.Serve())
	t.Cleanup(func() { stopMochi(t, srv, "tls") })
	b.url = "ssl://" + l.Address()
	return b
}

// connects returns the client certificate CNs of every connection of client id.
func (b *tlsBroker) connects(id string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.cns[id]...)
}

// cnHook records the client certificate of every connection.
type cnHook struct {
	mochi.HookBase
	b *tlsBroker
}

func (h *cnHook) ID() string           { return "test-cn" }
func (h *cnHook) Provides(b byte) bool { return b == mochi.OnConnect }
func (h *cnHook) OnConnect(cl *mochi.Client, _ packets.Packet) error {
	cn := ""
	if c, ok := cl.Net.Conn.(*tls.Conn); ok {
		if pc := c.ConnectionState().PeerCertificates; len(pc) > 0 {
			cn = pc[0].Subject.CommonName
		}
	}
	h.b.mu.Lock()
	h.b.cns[cl.ID] = append(h.b.cns[cl.ID], cn)
	h.b.mu.Unlock()
	return nil
}

// TestSourceTLSHotReload: over mutual TLS with the in-process broker, the source
// delivers; rotating the client certificate on disk makes it reconnect by itself
// with the new one and keep delivering; garbage in the certificate file keeps the
// connection up and shows on the "tls" condition; restoring the file clears it. The
// reload ticker runs on a fake clock that the test advances.
func TestSourceTLSHotReload(t *testing.T) {
	ca := newTestCA(t, "test-ca")
	b := startMochiTLS(t, serverTLS(t, ca, ca.issue(t, "broker", true)))
	p := writeTLSFiles(t, ca.pem, ca.issue(t, "client-1", false))
	const interval = 200 * time.Millisecond
	h := newHarness(t, testBroker{url: b.url}, func(c *Config) {
		c.TLS = TLSConfig{CAFile: p.ca, CertFile: p.cert, KeyFile: p.key, ReloadInterval: interval}
		// Advancing the fake clock must not run out the SUBACK wait of a reconnect.
		c.ConnectTimeout = time.Hour
	})
	clk := newTickClock()
	h.clock = clk
	h.inj = connectTLSInjector(t, b.url, ca, ca.issue(t, "injector", false))
	pub := &recPublisher{}
	runSource(t, h.New(t), pub)
	h.health.waitHealth(t, "subscriptions_ready", true)
	require.True(t, h.health.get("tls").ok)
	require.Equal(t, []string{"client-1"}, b.connects(h.cfg.ClientID))

	h.Inject(t, []byte("before"))
	pub.waitAccepted(t, []string{"before"})

	// Rotate to a new valid pair: the source reconnects with it on its own.
	next := ca.issue(t, "client-2", false)
	writeAtomic(t, p.key, next.keyPEM)
	writeAtomic(t, p.cert, next.certPEM)
	advanceUntil(t, clk.Fake, interval, func() bool {
		cns := b.connects(h.cfg.ClientID)
		return cns[len(cns)-1] == "client-2"
	}, "no reconnect with the new certificate: %v", b.connects(h.cfg.ClientID))
	h.health.waitHealth(t, "subscriptions_ready", true)
	h.Inject(t, []byte("after-rotation"))
	pub.waitAccepted(t, []string{"after-rotation"})
	require.True(t, h.health.get("tls").ok)

	// Garbage: the connection stays up, messages keep flowing, "tls" shows why.
	conns := len(b.connects(h.cfg.ClientID))
	good, err := os.ReadFile(p.cert)
	require.NoError(t, err)
	writeAtomic(t, p.cert, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"))
	advanceUntil(t, clk.Fake, interval, func() bool { return !h.health.get("tls").ok }, "the garbage is never reported")
	st := h.health.get("tls")
	require.Contains(t, st.detail, "tls.cert_file")
	require.True(t, st.degraded, "the connection holds: degraded, not down")
	tick, tickers := clk.lastTicker()
	require.NotNil(t, tick, "the reload ticker is not on the injected clock")
	for i := range 3 {
		// Each round makes one more check of the garbage; none may reconnect. The
		// session loop taking a tick shows that the check of the one before ended
		// without leaving the session (which would stop this ticker for a new one).
		want := "during-garbage-" + string(rune('a'+i))
		h.Inject(t, []byte(want))
		pub.waitAccepted(t, []string{want})
		clk.Advance(interval)
		require.Eventually(t, func() bool { return len(tick.C()) == 0 }, 15*time.Second, 5*time.Millisecond,
			"the reload tick of round %d is not taken", i)
	}
	clk.Advance(interval) // and the third round's check has ended once this tick is taken
	require.Eventually(t, func() bool { return len(tick.C()) == 0 }, 15*time.Second, 5*time.Millisecond)
	_, n := clk.lastTicker()
	require.Equal(t, tickers, n, "a new session (and reload ticker) although the new files are unusable")
	require.True(t, h.health.get("connected").ok)
	require.Len(t, b.connects(h.cfg.ClientID), conns, "reconnected although the new files are unusable")

	// Restored: "tls" is fine again, still on the same connection.
	writeAtomic(t, p.cert, good)
	advanceUntil(t, clk.Fake, interval, func() bool { return h.health.get("tls").ok }, "the restored files are never reported")
	h.Inject(t, []byte("restored"))
	pub.waitAccepted(t, []string{"restored"})
	require.Len(t, b.connects(h.cfg.ClientID), conns)
	events, _ := pub.snapshot()
	require.Equal(t, []string{"before", "after-rotation", "during-garbage-a", "during-garbage-b",
		"during-garbage-c", "restored"}, payloadsOf(events), "each message once, in order")
}

// TestSourceTLSWithoutClientCert: the broker requires a client certificate, so a
// source without one never connects and says why.
func TestSourceTLSWithoutClientCert(t *testing.T) {
	ca := newTestCA(t, "test-ca")
	b := startMochiTLS(t, serverTLS(t, ca, ca.issue(t, "broker", true)))
	p := writeTLSFiles(t, ca.pem, ca.issue(t, "unused", false))
	h := newHarness(t, testBroker{url: b.url}, func(c *Config) { c.TLS = TLSConfig{CAFile: p.ca} })
	runSource(t, h.New(t), &recPublisher{})
	require.Eventually(t, func() bool {
		d := h.health.get("connected").detail
		return d != "" && d != "connecting"
	}, 15*time.Second, 10*time.Millisecond)
	require.False(t, h.health.get("connected").ok)
	require.True(t, h.health.get("tls").ok, "the files are fine; the broker refused")
	require.Empty(t, b.connects(h.cfg.ClientID))
}

// TestSourceTLSFirstAttempt: a CA file that does not exist is accepted by Validate
// but fails the first Run at once, naming the key, and shows on "tls".
func TestSourceTLSFirstAttempt(t *testing.T) {
	cfg := DefaultConfig()
	cfg.URL = "mqtts://127.0.0.1:1"
	cfg.Topics = []string{"a"}
	cfg.TLS.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	require.NoError(t, cfg.Validate())
	hr := newHealthRec()
	src, err := NewSource(cfg, adapters.Deps{Name: "x", Health: hr})
	require.NoError(t, err)
	err = src.Run(context.Background(), &recPublisher{})
	require.ErrorContains(t, err, "tls.ca_file")
	require.ErrorContains(t, err, "missing.pem")
	require.False(t, hr.get("tls").ok)
	require.Contains(t, hr.get("tls").detail, "tls.ca_file")
	require.False(t, hr.get("connected").ok)
}

// connectTLSInjector connects a clean-session publisher over mutual TLS.
func connectTLSInjector(t *testing.T, url string, ca *testCA, client leaf) paho.Client {
	t.Helper()
	cert, err := tls.X509KeyPair(client.certPEM, client.keyPEM)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	o := paho.NewClientOptions().AddBroker(url).SetClientID("edgerelay-inj-" + randHex(6)).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{cert}})
	c := paho.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "injector connect timed out")
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}
