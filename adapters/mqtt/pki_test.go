package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/tlsfiles/tlsfilestest"
)

// testCA is a certificate authority made up for a test (tlsfilestest.CA with the
// short names these tests use).
type testCA struct {
	*tlsfilestest.CA
	cert *x509.Certificate
	pem  []byte
}

// newTestCA makes a self-signed CA named cn.
func newTestCA(t *testing.T, cn string) *testCA {
	ca := tlsfilestest.NewCA(t, cn)
	return &testCA{CA: ca, cert: ca.Cert, pem: ca.PEM}
}

// leaf is a certificate signed by a testCA, with its key, in PEM.
type leaf struct {
	certPEM, keyPEM []byte
}

// issue signs a certificate named cn: a server certificate for 127.0.0.1 when server
// is true, else a client certificate.
func (ca *testCA) issue(t *testing.T, cn string, server bool) leaf {
	l := ca.Issue(t, cn, server)
	return leaf{certPEM: l.CertPEM, keyPEM: l.KeyPEM}
}

// serverTLS is the broker side of mutual TLS: it presents srv and requires a client
// certificate signed by ca.
func serverTLS(t *testing.T, ca *testCA, srv leaf) *tls.Config {
	t.Helper()
	cert, err := tls.X509KeyPair(srv.certPEM, srv.keyPEM)
	require.NoError(t, err)
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
}

// tlsPaths are the TLS files of a test source.
type tlsPaths struct{ ca, cert, key string }

// writeTLSFiles writes ca and the client pair into a temporary directory.
func writeTLSFiles(t *testing.T, ca []byte, client leaf) tlsPaths {
	t.Helper()
	dir := t.TempDir()
	p := tlsPaths{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "client.pem"), key: filepath.Join(dir, "client.key")}
	writeAtomic(t, p.ca, ca)
	writeAtomic(t, p.cert, client.certPEM)
	writeAtomic(t, p.key, client.keyPEM)
	return p
}

// writeAtomic replaces path with b by renaming a temporary file over it.
func writeAtomic(t *testing.T, path string, b []byte) { tlsfilestest.WriteAtomic(t, path, b) }
