package httpc

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTLSBuildErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not a certificate\n"), 0o600))
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name    string
		cfg     TLSConfig
		wantErr []string
	}{
		{name: "missing ca file", cfg: TLSConfig{CAFile: missing}, wantErr: []string{"tls.ca_file", missing, "no such file"}},
		{name: "bad ca pem", cfg: TLSConfig{CAFile: bad}, wantErr: []string{"tls.ca_file", bad, "no PEM certificate found"}},
		{name: "cert without key", cfg: TLSConfig{CertFile: bad}, wantErr: []string{"tls.cert_file and tls.key_file must be set together"}},
		{name: "key without cert", cfg: TLSConfig{KeyFile: bad}, wantErr: []string{"must be set together"}},
		{name: "missing client cert", cfg: TLSConfig{CertFile: missing, KeyFile: missing}, wantErr: []string{"tls.cert_file", missing, "no such file"}},
		{name: "bad client cert pem", cfg: TLSConfig{CertFile: bad, KeyFile: bad}, wantErr: []string{"tls.cert_file", bad}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.Build()
			require.Error(t, err)
			for _, w := range tc.wantErr {
				require.Contains(t, err.Error(), w)
			}
			_, err = NewClient(time.Second, tc.cfg)
			require.Error(t, err, "NewClient reports the same problem")
		})
	}
}

func TestTLSBuildDefaults(t *testing.T) {
	cfg, err := (&TLSConfig{ServerName: "alerts.example"}).Build()
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
	require.Equal(t, "alerts.example", cfg.ServerName)
	require.False(t, cfg.InsecureSkipVerify)
	require.Nil(t, cfg.RootCAs, "system roots")
}

func TestTLSCAFileAndClientCert(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	ca := serverCA(t, srv)

	// Without a client certificate the server refuses the handshake.
	c, err := NewClient(5*time.Second, TLSConfig{CAFile: ca})
	require.NoError(t, err)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	_, _, err = Do(c, req, 1024)
	require.Error(t, err)

	// httptest's certificate and key double as a client certificate.
	dir := t.TempDir()
	cert := filepath.Join(dir, "client.pem")
	key := filepath.Join(dir, "client.key")
	writeKeyPair(t, srv.TLS.Certificates[0], cert, key)
	c, err = NewClient(5*time.Second, TLSConfig{CAFile: ca, CertFile: cert, KeyFile: key})
	require.NoError(t, err)
	req, _ = http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, _, err := Do(c, req, 1024)
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}

func writeKeyPair(t *testing.T, c tls.Certificate, certPath, keyPath string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600))
}

// serverCA writes srv's certificate to a file in a test directory and returns its
// path, for a client's CAFile.
func serverCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	return ca
}
