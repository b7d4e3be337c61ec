package mqtt

import (
	"crypto/tls"
	"testing"

	"github.com/edgerelay/edgerelay/adapters/tlsfiles/tlsfilestest"
)

// testPKI is a CA, a broker certificate and a client certificate, the CA and the
// client pair written to files.
type testPKI struct {
	ca                        *tlsfilestest.CA
	broker, client            tlsfilestest.Leaf
	caFile, certFile, keyFile string
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	ca := tlsfilestest.NewCA(t, "test-ca")
	p := &testPKI{ca: ca, broker: ca.Issue(t, "broker", true), client: ca.Issue(t, "client", false)}
	dir := t.TempDir()
	p.caFile = writeFile(t, dir, "ca.pem", ca.PEM)
	p.certFile = writeFile(t, dir, "client.pem", p.client.CertPEM)
	p.keyFile = writeFile(t, dir, "client.key", p.client.KeyPEM)
	return p
}

// server is the broker's TLS configuration; mutual requires a client certificate
// signed by the CA.
func (p *testPKI) server(t *testing.T, mutual bool) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{p.broker.Certificate(t)}}
	if mutual {
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, p.ca.Pool()
	}
	return c
}
