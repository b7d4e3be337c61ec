package daemon_test

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters/tlsfiles/tlsfilestest"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
)

// TestSourceOwnTLSListener runs an ilert_http source on a mutual-TLS listener of its
// own: a client with a certificate from the client CA gets its event delivered; a
// client without one is refused; /metrics is not served there but stays on
// http.listen; a rotated certificate is served without a restart.
func TestSourceOwnTLSListener(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	var delivered atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { delivered.Add(1) }))
	defer hook.Close()

	ca, clients := tlsfilestest.NewCA(t, "server-ca"), tlsfilestest.NewCA(t, "client-ca")
	dir := t.TempDir()
	cert, key, clientCA := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "clients.pem")
	first := ca.Issue(t, "edgerelay", true)
	tlsfilestest.WriteAtomic(t, cert, first.CertPEM)
	tlsfilestest.WriteAtomic(t, key, first.KeyPEM)
	tlsfilestest.WriteAtomic(t, clientCA, clients.PEM)

	listen := freePort(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sources:
  - name: proxy
    type: ilert_http
    listen: %s
    tls: { cert_file: %s, key_file: %s, client_ca_file: %s }
sinks: [ { name: hook, type: webhook, url: %q } ]
routes: [ { from: [proxy], to: [hook] } ]
`, dir, listen, cert, key, clientCA, hook.URL)), "test.yaml")
	require.NoError(t, err)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "test"})
	require.NoError(t, err)
	stop := runDaemon(t, d)

	client := func(withCert bool) *http.Client {
		tc := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		if withCert {
			c := clients.Issue(t, "plc", false).Certificate(t)
			tc.Certificates = []tls.Certificate{c}
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: tc}}
	}
	base := "https://" + listen
	post := func(c *http.Client) (*http.Response, error) {
		return c.Post(base+"/api/events", "application/json",
			strings.NewReader(`{"integrationKey":"k","eventType":"ALERT","summary":"s","alertKey":"a"}`))
	}
	var resp *http.Response
	require.Eventually(t, func() bool { // the source starts serving once Run has started it
		resp, err = post(client(true))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 5*time.Second, 10*time.Millisecond, "last error %v", err)
	require.Equal(t, first.Serial, resp.TLS.PeerCertificates[0].SerialNumber)
	require.Eventually(t, func() bool { return delivered.Load() == 1 }, 10*time.Second, 10*time.Millisecond)

	_, err = post(client(false))
	require.Error(t, err, "a client without a certificate is refused")

	resp, err = client(true).Get(base + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "/metrics is not on the source's listener")
	resp, err = http.Get("http://" + d.Addr() + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	second := ca.Issue(t, "edgerelay", true)
	tlsfilestest.WriteAtomic(t, key, second.KeyPEM)
	tlsfilestest.WriteAtomic(t, cert, second.CertPEM)
	resp, err = post(client(true))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, second.Serial, resp.TLS.PeerCertificates[0].SerialNumber, "rotated without a restart")

	stop()
	hook.CloseClientConnections()
}

// TestSourceListenerTakenFailsStart checks that a source listener on an address
// another program holds fails daemon.New, naming the address, and that New releases
// the ports it had bound. (Two listeners of the configuration on one address are
// refused before anything is bound: TestCheckParity.)
func TestSourceListenerTakenFailsStart(t *testing.T) {
	httpAddr, free := freePort(t), freePort(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	listen := taken.Addr().String()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: %s }
broker: { enabled: "false" }
sources:
  - { name: a, type: ilert_http, listen: %s }
  - { name: b, type: ilert_http, listen: %s }
sinks: [ { name: console, type: stdout } ]
routes: [ { to: [console] } ]
`, t.TempDir(), httpAddr, free, listen)), "test.yaml")
	require.NoError(t, err)
	_, err = daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler)})
	require.ErrorContains(t, err, "source b")
	require.ErrorContains(t, err, listen)
	require.ErrorContains(t, err, "already in use")
	for _, addr := range []string{httpAddr, free} {
		ln, err := net.Listen("tcp", addr)
		require.NoError(t, err, "%s is released", addr)
		require.NoError(t, ln.Close())
	}
}
