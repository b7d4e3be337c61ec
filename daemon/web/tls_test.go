package web

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/logx"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles/tlsfilestest"
	"github.com/edgerelay/edgerelay/daemon/health"
)

// pki is a server CA, a client CA and the files of a listener's TLS block.
type pki struct {
	ca, clients *tlsfilestest.CA
	files       tlsfiles.ServerConfig
	serial      *big.Int // of the server certificate in the files
}

// newPKI writes a server certificate for 127.0.0.1; with mtls, also the client CA file.
func newPKI(t *testing.T, mtls bool) *pki {
	t.Helper()
	p := &pki{ca: tlsfilestest.NewCA(t, "server-ca"), clients: tlsfilestest.NewCA(t, "client-ca")}
	dir := t.TempDir()
	p.files = tlsfiles.ServerConfig{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	if mtls {
		p.files.ClientCAFile = filepath.Join(dir, "clients.pem")
		tlsfilestest.WriteAtomic(t, p.files.ClientCAFile, p.clients.PEM)
	}
	p.rotate(t)
	return p
}

// rotate writes a new server certificate and key.
func (p *pki) rotate(t *testing.T) {
	t.Helper()
	l := p.ca.Issue(t, "edgerelay", true)
	tlsfilestest.WriteAtomic(t, p.files.KeyFile, l.KeyPEM)
	tlsfilestest.WriteAtomic(t, p.files.CertFile, l.CertPEM)
	p.serial = l.Serial
}

// client is an HTTPS client trusting p's server CA, presenting cert when not nil,
// without keep-alives so that every request makes a new handshake.
func (p *pki) client(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: p.ca.Pool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{Timeout: bound, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: cfg}}
}

// get fetches url and returns the response, its body and the server's serial.
func get(t *testing.T, c *http.Client, url string) (*http.Response, string, *big.Int) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b), resp.TLS.PeerCertificates[0].SerialNumber
}

func condition(h *health.Tracker, component, name string) (health.Condition, bool) {
	for _, c := range h.Snapshot() {
		if c.Component == component && c.Name == name {
			return c, true
		}
	}
	return health.Condition{}, false
}

func TestServeTLSReloadsCertificate(t *testing.T) {
	p := newPKI(t, false)
	h := health.New(nil)
	s := New(Config{Listen: "127.0.0.1:0", TLS: p.files}, h, nil, discard())
	require.NoError(t, s.Listen())
	stop := serve(t, s)
	defer stop()
	url := "https://" + s.Addr() + "/health"
	c := p.client(nil)

	resp, _, serial := get(t, c, url)
	require.Equal(t, 204, resp.StatusCode)
	require.Equal(t, p.serial, serial)
	require.Equal(t, uint16(tls.VersionTLS13), resp.TLS.Version)

	p.rotate(t)
	_, _, serial = get(t, c, url)
	require.Equal(t, p.serial, serial, "the rotated certificate is served without a restart")

	// A broken rotation keeps the last good certificate and raises a warning.
	good := p.serial
	tlsfilestest.WriteAtomic(t, p.files.CertFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"))
	resp, _, serial = get(t, c, url)
	require.Equal(t, 204, resp.StatusCode)
	require.Equal(t, good, serial)
	cond, ok := condition(h, "http", "tls")
	require.True(t, ok)
	require.False(t, cond.OK)
	require.Equal(t, health.Degraded, cond.Severity, "the daemon stays ready on the previous certificate")
	require.Contains(t, cond.Detail, "tls.cert_file")
	ready, _ := h.Ready()
	require.True(t, ready)

	p.rotate(t)
	_, _, serial = get(t, c, url)
	require.Equal(t, p.serial, serial)
	cond, _ = condition(h, "http", "tls")
	require.True(t, cond.OK)

	// Plain HTTP on the TLS port is not served.
	r, err := client.Get("http://" + s.Addr() + "/health")
	require.NoError(t, err, "the TLS port answers plain HTTP with an error page")
	r.Body.Close()
	require.Equal(t, http.StatusBadRequest, r.StatusCode)
}

func TestServeMutualTLS(t *testing.T) {
	p := newPKI(t, true)
	s := New(Config{Listen: "127.0.0.1:0", TLS: p.files}, health.New(nil), nil, discard())
	require.NoError(t, s.Listen())
	stop := serve(t, s)
	defer stop()
	url := "https://" + s.Addr() + "/health"

	cert := p.clients.Issue(t, "probe", false).Certificate(t)
	resp, _, _ := get(t, p.client(&cert), url)
	require.Equal(t, 204, resp.StatusCode)

	_, err := p.client(nil).Get(url)
	require.Error(t, err, "a client without a certificate is refused")

	stranger := tlsfilestest.NewCA(t, "stranger").Issue(t, "probe", false).Certificate(t)
	_, err = p.client(&stranger).Get(url)
	require.Error(t, err, "a client certificate from another CA is refused")
}

func TestSourceListenerServesOnlyItsRoutes(t *testing.T) {
	p := newPKI(t, true)
	h := health.New(nil)
	s := New(Config{Listen: "127.0.0.1:0"}, h, nil, discard())
	require.NoError(t, s.Listen())
	m, err := s.Listener("source:proxy", adapters.ListenerConfig{Listen: "127.0.0.1:0", TLS: p.files})
	require.NoError(t, err)
	require.NoError(t, m.Mount("POST /api/events", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	})))
	require.ErrorContains(t, m.Mount("POST /api/events", http.NotFoundHandler()), "/api/events")
	stop := serve(t, s)
	defer stop()
	addrs := s.ListenerAddrs()
	require.Len(t, addrs, 1)
	base := "https://" + addrs[0]

	cert := p.clients.Issue(t, "plc", false).Certificate(t)
	c := p.client(&cert)
	resp, err := c.Post(base+"/api/events", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, p.serial, resp.TLS.PeerCertificates[0].SerialNumber)
	for _, path := range []string{"/metrics", "/health", "/ready", "/"} {
		resp, _, _ := get(t, c, base+path)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s is not served on the source's listener", path)
	}

	// Without a client certificate nothing is served there.
	_, err = p.client(nil).Post(base+"/api/events", "application/json", strings.NewReader("{}"))
	require.Error(t, err)

	// The daemon's own server still has /metrics, on loopback, and not the source's route.
	r, body := do(t, "GET", "http://"+s.Addr()+"/metrics")
	require.Equal(t, 200, r.StatusCode)
	require.Contains(t, body, "go_goroutines")
	r, _ = do(t, "POST", "http://"+s.Addr()+"/api/events")
	require.Equal(t, http.StatusNotFound, r.StatusCode)

	// Rotation on the source's listener reports on the source's component.
	// A real key of another certificate: it does not match, and none of it may show.
	other := p.ca.Issue(t, "other", true)
	tlsfilestest.WriteAtomic(t, p.files.KeyFile, other.KeyPEM)
	_, _, serial := get(t, c, base+"/")
	require.NotNil(t, serial)
	cond, ok := condition(h, "source:proxy", "tls")
	require.True(t, ok)
	require.False(t, cond.OK)
	require.Contains(t, cond.Detail, "tls.")
	for _, line := range strings.Split(string(other.KeyPEM), "\n")[1:3] {
		require.NotContains(t, cond.Detail, line, "no key material in the detail")
	}
}

func TestListenerErrors(t *testing.T) {
	p := newPKI(t, false)
	s := New(Config{Listen: "127.0.0.1:0"}, health.New(nil), nil, discard())
	require.NoError(t, s.Listen())
	defer s.Close()

	_, err := s.Listener("source:a", adapters.ListenerConfig{})
	require.ErrorContains(t, err, "listen")
	_, err = s.Listener("source:a", adapters.ListenerConfig{Listen: "nope"})
	require.ErrorContains(t, err, "not host:port")
	_, err = s.Listener("source:a", adapters.ListenerConfig{Listen: s.Addr()})
	require.ErrorContains(t, err, "already in use")
	bad := p.files
	bad.KeyFile = filepath.Join(t.TempDir(), "missing.pem")
	_, err = s.Listener("source:a", adapters.ListenerConfig{Listen: "127.0.0.1:0", TLS: bad})
	require.ErrorContains(t, err, "tls.key_file")
}

func TestServeTLSRefusesBadFilesAtStart(t *testing.T) {
	p := newPKI(t, false)
	bad := p.files
	bad.CertFile = filepath.Join(t.TempDir(), "missing.pem")
	s := New(Config{Listen: "127.0.0.1:0", TLS: bad}, health.New(nil), nil, discard())
	err := s.Listen()
	require.ErrorContains(t, err, "http.tls.cert_file")
	require.ErrorContains(t, (&Config{TLS: bad}).Validate(), "http.tls.cert_file")
	require.ErrorContains(t, (&Config{TLS: tlsfiles.ServerConfig{CertFile: p.files.CertFile}}).Validate(), "http.tls.key_file: required")
	require.NoError(t, (&Config{TLS: p.files}).Validate())
}

// TestHandshakeFailuresAreRateLimited: a host without a client certificate that
// connects a few hundred times gets a burst of "TLS handshake error" lines and a
// count, not a line per attempt; every attempt is counted in
// edgerelay_http_errors_total{listener="http",reason="tls_handshake"}.
func TestHandshakeFailuresAreRateLimited(t *testing.T) {
	p := newPKI(t, true)
	var logs adaptertest.Buffer
	set := metrics.NewSet()
	s := New(Config{Listen: "127.0.0.1:0", TLS: p.files}, health.New(nil), set, slog.New(slog.NewTextHandler(&logs, nil)))
	fake := clocktest.NewFake(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	lim := logx.New(logx.Options{Now: fake.Now})
	s.SetLimiter(lim)
	require.NoError(t, s.Listen())
	stop := serve(t, s)
	defer stop()
	url := "https://" + s.Addr() + "/health"
	const n = 200
	for range n {
		_, err := p.client(nil).Get(url)
		require.Error(t, err)
	}
	// The server logs a handshake error after the client saw it fail: wait for the
	// count to account for every attempt.
	require.Eventually(t, func() bool {
		return strings.Count(logs.String(), "http server: TLS handshake error")+lim.Pending() == n
	}, 10*time.Second, time.Millisecond)
	require.Equal(t, logx.DefaultBurst, strings.Count(logs.String(), "http server: TLS handshake error"), logs.String())
	fake.Advance(time.Minute)
	lim.Flush()
	require.Contains(t, logs.String(), fmt.Sprintf("http server: TLS handshake error (suppressed %d similar in the last 60s)", n-logx.DefaultBurst))
	var raw bytes.Buffer
	set.WritePrometheus(&raw)
	require.Contains(t, raw.String(), fmt.Sprintf(`edgerelay_http_errors_total{listener="http",reason="tls_handshake"} %d`, n))
}
