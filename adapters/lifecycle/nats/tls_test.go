package nats

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// testPKI returns a server certificate for 127.0.0.1 and the pool of its CA.
func testPKI(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLS(t *testing.T) {
	cert, roots := testPKI(t)
	s := runServer(t, &server.Options{
		TLS: true, TLSTimeout: 5, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Authorization: "tls-token-12345",
	})
	url := strings.Replace(s.ClientURL(), "nats://", "tls://", 1)

	t.Run("Verified", func(t *testing.T) {
		p := newPublisher(t, &Config{URLs: []string{url}, Token: "tls-token-12345"})
		p.tlsConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		require.NoError(t, p.Connect(t.Context()))
		require.NoError(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-1", "c")))
	})
	t.Run("UnknownAuthority", func(t *testing.T) {
		p := newPublisher(t, &Config{URLs: []string{url}, Token: "tls-token-12345"})
		err := p.Connect(t.Context())
		require.Error(t, err)
		require.Contains(t, err.Error(), "certificate")
		require.NotContains(t, err.Error(), "tls-token-12345")
	})
}

// TestClusterList: Connect tries every URL of the list, so one server down does
// not stop it.
func TestClusterList(t *testing.T) {
	s := runServer(t, nil)
	dead := "nats://" + lifecycletest.FreeAddr(t)
	for _, urls := range [][]string{{dead, s.ClientURL()}, {s.ClientURL(), dead}} {
		p := newPublisher(t, &Config{URLs: urls})
		require.NoError(t, p.Connect(t.Context()), "%v", urls)
		require.NoError(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-1", "c")))
		require.NoError(t, p.Close())
	}
}
