package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/tlsfiles/tlsfilestest"
)

// TestParseTLS checks that the loader, and so `edgerelay config check`, refuses the
// TLS settings the daemon would refuse, naming the key.
func TestParseTLS(t *testing.T) {
	ca := tlsfilestest.NewCA(t, "ca")
	srv := ca.Issue(t, "server", true)
	dir := t.TempDir()
	cert, key, clients := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "clients.pem")
	tlsfilestest.WriteAtomic(t, cert, srv.CertPEM)
	tlsfilestest.WriteAtomic(t, key, srv.KeyPEM)
	tlsfilestest.WriteAtomic(t, clients, ca.PEM)
	missing := filepath.Join(dir, "missing.pem")
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("no"), 0o600))

	doc := func(httpTLS, source string) string {
		return fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: 127.0.0.1:0, tls: {%s} }
broker: { enabled: "false" }
sources:
  - { name: proxy, type: ilert_http%s }
sinks: [ { name: console, type: stdout } ]
routes: [ { to: [console] } ]
`, dir, httpTLS, source)
	}
	tests := []struct {
		name         string
		httpTLS, src string
		wantErr      []string // nil: valid
	}{
		{name: "no tls"},
		{name: "http tls", httpTLS: fmt.Sprintf("cert_file: %s, key_file: %s, client_ca_file: %s", cert, key, clients)},
		{name: "source listener", src: ", listen: 0.0.0.0:8443"},
		{name: "source tls", src: fmt.Sprintf(", listen: 0.0.0.0:8443, tls: { cert_file: %s, key_file: %s, client_ca_file: %s }", cert, key, clients)},
		{name: "http cert unreadable", httpTLS: fmt.Sprintf("cert_file: %s, key_file: %s", missing, key), wantErr: []string{"http.tls.cert_file", missing}},
		{name: "http key alone", httpTLS: "key_file: " + key, wantErr: []string{"http.tls.cert_file: required"}},
		{name: "http client ca not pem", httpTLS: fmt.Sprintf("cert_file: %s, key_file: %s, client_ca_file: %s", cert, key, notPEM), wantErr: []string{"http.tls.client_ca_file", "no PEM certificate"}},
		{name: "http pair mismatch", httpTLS: fmt.Sprintf("cert_file: %s, key_file: %s", clients, key), wantErr: []string{"http.tls.cert_file", "tls.key_file"}},
		{name: "http unknown key", httpTLS: "cert: x", wantErr: []string{"cert"}},
		{name: "source key unreadable", src: fmt.Sprintf(", listen: 0.0.0.0:8443, tls: { cert_file: %s, key_file: %s }", cert, missing), wantErr: []string{`ilert_http "proxy"`, "tls.key_file", missing}},
		{name: "source tls without listen", src: fmt.Sprintf(", tls: { cert_file: %s, key_file: %s }", cert, key), wantErr: []string{"tls: needs listen"}},
		{name: "source bad listen", src: ", listen: 8443", wantErr: []string{`listen: "8443" is not host:port`}},
		{name: "source unknown tls key", src: ", listen: 0.0.0.0:8443, tls: { ca_file: x }", wantErr: []string{"ca_file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(doc(tc.httpTLS, tc.src)), "tls.yaml")
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Nil(t, cfg)
			for _, w := range tc.wantErr {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), "PRIVATE KEY")
		})
	}
}
