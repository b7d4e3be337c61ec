package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/tlsfiles/tlsfilestest"
)

// TestConfigCheckTLSFiles checks that `config check` reads the TLS files as `run`
// would: a readable pair passes, a missing key is refused naming its key.
func TestConfigCheckTLSFiles(t *testing.T) {
	dir := t.TempDir()
	l := tlsfilestest.NewCA(t, "ca").Issue(t, "edgerelay", true)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlsfilestest.WriteAtomic(t, cert, l.CertPEM)
	tlsfilestest.WriteAtomic(t, key, l.KeyPEM)
	write := func(name, keyFile string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: 127.0.0.1:0, tls: { cert_file: %s, key_file: %s } }
sources: [ { name: proxy, type: ilert_http, listen: "127.0.0.1:0", tls: { cert_file: %s, key_file: %s } } ]
sinks: [ { name: console, type: stdout } ]
routes: [ { to: [console] } ]
`, dir, cert, keyFile, cert, keyFile)), 0o600))
		return p
	}
	code, out, errs := cli(t, "config", "check", "-c", write("good.yaml", key))
	require.Equal(t, exitOK, code, "stdout=%s stderr=%s", out, errs)

	missing := filepath.Join(dir, "missing.key")
	code, _, errs = cli(t, "config", "check", "-c", write("bad.yaml", missing))
	require.Equal(t, exitConfig, code)
	require.Contains(t, errs, "http.tls.key_file")
	require.Contains(t, errs, `ilert_http "proxy"): tls.key_file`)
	require.Contains(t, errs, missing)
	require.NotContains(t, errs, "PRIVATE KEY")
}
