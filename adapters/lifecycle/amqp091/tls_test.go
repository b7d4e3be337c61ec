package amqp091

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// The machine's RabbitMQ has no TLS listener, so these tests put a TLS terminator
// in front of it: the publisher speaks amqps to the terminator, which checks the
// client certificate when asked to and forwards the plain AMQP stream to the broker.

// pki is a test CA with a server certificate for 127.0.0.1 and a client certificate,
// written as PEM files.
type pki struct {
	caFile, certFile, keyFile string
	server                    tls.Certificate
	pool                      *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edgerelay test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ip bool) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if ip {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		return der, key
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	k := &pki{pool: x509.NewCertPool()}
	k.pool.AddCert(ca)
	k.caFile = write("ca.pem", "CERTIFICATE", caDER)
	sDER, sKey := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, true)
	k.server = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := leaf(3, "edge-gateway", x509.ExtKeyUsageClientAuth, false)
	k.certFile = write("client.pem", "CERTIFICATE", cDER)
	kDER, err := x509.MarshalPKCS8PrivateKey(cKey)
	require.NoError(t, err)
	k.keyFile = write("client.key", "PRIVATE KEY", kDER)
	return k
}

// tlsFront terminates TLS on a loopback port and forwards to the broker; with
// mutual, it requires a client certificate of the CA. It stops with the test.
func tlsFront(t *testing.T, k *pki, mutual bool) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{k.server}, MinVersion: tls.VersionTLS12}
	if mutual {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, k.pool
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	// Ends when the listener closes; each pipe ends when its connections close.
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if err := c.(*tls.Conn).Handshake(); err != nil {
				_ = c.Close()
				continue
			}
			u, err := net.Dial("tcp", rabbitAddr)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer wg.Done()
				_, _ = io.Copy(dst, src)
				_ = dst.Close()
				_ = src.Close()
			}
			go pipe(u, c)
			go pipe(c, u)
		}
	}()
	return ln.Addr().String()
}

func TestTLS(t *testing.T) {
	needRabbit(t)
	k := newPKI(t)
	front := tlsFront(t, k, false)
	mutual := tlsFront(t, k, true)
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "amqps with cacertfile", env: map[string]string{VarURL: "amqps://guest:guest@" + front + "/?cacertfile=" + k.caFile}},
		{name: "ssl on an amqp URL with a port", env: map[string]string{VarURL: "amqp://guest:guest@" + front + "/?cacertfile=" + k.caFile, VarSSL: "true"}},
		{name: "server_name_indication", env: map[string]string{VarURL: "amqps://guest:guest@" + front + "/?server_name_indication=127.0.0.1&cacertfile=" + k.caFile}},
		{name: "unknown CA", env: map[string]string{VarURL: "amqps://guest:guest@" + front + "/"}, wantErr: "certificate"},
		{name: "plain AMQP to a TLS port", env: map[string]string{VarURL: "amqp://guest:guest@" + front + "/"}, wantErr: "connect to amqp://" + front},
		{name: "mutual TLS", env: map[string]string{VarURL: "amqps://guest:guest@" + mutual + "/?cacertfile=" + k.caFile + "&certfile=" + k.certFile + "&keyfile=" + k.keyFile}},
		{name: "mutual TLS without a certificate", env: map[string]string{VarURL: "amqps://guest:guest@" + mutual + "/?cacertfile=" + k.caFile}, wantErr: "connect to amqps://" + mutual},
		// RabbitMQ without rabbitmq_auth_mechanism_ssl does not offer EXTERNAL: the
		// client asks for it and reports that the broker lacks it.
		{name: "external auth not offered", env: map[string]string{VarURL: "amqps://" + mutual + "/?auth_mechanism=external&cacertfile=" + k.caFile + "&certfile=" + k.certFile + "&keyfile=" + k.keyFile}, wantErr: "auth_mechanism"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := build(t, tc.env)
			ctx := ctx30(t)
			err := p.Connect(ctx)
			if tc.wantErr != "" {
				require.Error(t, err)
				t.Log(err)
				require.Contains(t, err.Error(), tc.wantErr)
				require.NotContains(t, err.Error(), "guest:guest")
				require.NoError(t, ctx.Err(), "Connect failed on its own")
				return
			}
			require.NoError(t, err)
			sub := subscribe(t, "edge.node.started")
			m := lifecycletest.Message("edge.node.started", "tls-"+tc.name, "c")
			require.NoError(t, p.Publish(ctx, m))
			r := receive(t, sub)
			require.Equal(t, m.ID, r.Attrs["message-id"])
			require.JSONEq(t, string(m.Body), string(r.Body))
		})
	}
}

// The conformance suite through TLS as well.
func TestConformanceTLS(t *testing.T) {
	needRabbit(t)
	k := newPKI(t)
	front := tlsFront(t, k, true)
	url := "amqps://guest:guest@" + front + "/?cacertfile=" + k.caFile + "&certfile=" + k.certFile + "&keyfile=" + k.keyFile
	lifecycletest.Run(t, lifecycletest.Harness{
		New:       func(t *testing.T) lifecycle.Publisher { return publisherAt(t, url) },
		Subscribe: func(t *testing.T) <-chan lifecycletest.Received { return subscribe(t, "#") },
		Where:     func(m lifecycle.Message) string { return m.Type },
		Promoted: func(m lifecycle.Message) map[string]string {
			return map[string]string{"type": m.Type, "corename": m.CoreName, "content-type": lifecycle.ContentType}
		},
	})
}
