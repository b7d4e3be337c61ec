package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/tlsfiles/tlsfilestest"
)

// bound caps every network wait; no test asserts how fast anything is.
const bound = 5 * time.Second

// files writes a server pair (and a client CA when clientCA is not nil) into a
// temporary directory and returns the configuration naming them.
func files(t *testing.T, srv tlsfilestest.Leaf, clientCA *tlsfilestest.CA) ServerConfig {
	t.Helper()
	dir := t.TempDir()
	c := ServerConfig{CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server.key")}
	tlsfilestest.WriteAtomic(t, c.CertFile, srv.CertPEM)
	tlsfilestest.WriteAtomic(t, c.KeyFile, srv.KeyPEM)
	if clientCA != nil {
		c.ClientCAFile = filepath.Join(dir, "clients.pem")
		tlsfilestest.WriteAtomic(t, c.ClientCAFile, clientCA.PEM)
	}
	return c
}

// recorder collects OnChange calls.
type recorder struct {
	mu   sync.Mutex
	errs []error
}

func (r *recorder) onChange(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *recorder) calls() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// listen serves s on a loopback port: each connection is handshaken, its result sent
// on the returned channel, and answered "ok" when the handshake succeeded.
func listen(t *testing.T, s *Server) (addr string, results <-chan error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", s.Config())
	require.NoError(t, err)
	ch := make(chan error, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // exits when the listener is closed at cleanup
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(bound))
			err = c.(*tls.Conn).Handshake()
			ch <- err
			if err == nil {
				_, _ = c.Write([]byte("ok"))
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String(), ch
}

// dial connects as a client trusting roots, presenting cert when it is not nil, and
// returns the serial of the server's certificate and the server's handshake result.
func dial(t *testing.T, addr string, results <-chan error, roots *x509.CertPool, cert *tls.Certificate) (*big.Int, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		// Always present cert, even when the server's list of acceptable CAs does not
		// name its issuer (crypto/tls would otherwise send none).
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	d := &net.Dialer{Timeout: bound}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	var serial *big.Int
	if err == nil {
		serial = c.ConnectionState().PeerCertificates[0].SerialNumber
		_ = c.SetDeadline(time.Now().Add(bound))
		_, _ = io.ReadAll(c) // with TLS 1.3 the server judges the client certificate after the client's handshake ends
		_ = c.Close()
	}
	select {
	case serr := <-results:
		return serial, serr
	case <-time.After(bound):
		t.Fatal("the server saw no handshake")
		return nil, nil
	}
}

// fixture is a Server on its files with its first certificate, serving on addr.
type fixture struct {
	ca      *tlsfilestest.CA
	first   tlsfilestest.Leaf
	cfg     ServerConfig
	rec     recorder
	logs    bytes.Buffer
	addr    string
	results <-chan error
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ca: tlsfilestest.NewCA(t, "ca")}
	f.first = f.ca.Issue(t, "server-1", true)
	f.cfg = files(t, f.first, nil)
	s, err := NewServer(f.cfg, ServerOptions{Log: slog.New(slog.NewTextHandler(&f.logs, nil)), OnChange: f.rec.onChange})
	require.NoError(t, err)
	f.addr, f.results = listen(t, s)
	return f
}

// dial connects without a client certificate; see the package-level dial.
func (f *fixture) dial(t *testing.T) (*big.Int, error) {
	t.Helper()
	return dial(t, f.addr, f.results, f.ca.Pool(), nil)
}

func TestServerReloadsRotatedCertificate(t *testing.T) {
	f := newFixture(t)
	serial, err := f.dial(t)
	require.NoError(t, err)
	require.Equal(t, f.first.Serial, serial)

	second := f.ca.Issue(t, "server-2", true)
	tlsfilestest.WriteAtomic(t, f.cfg.KeyFile, second.KeyPEM)
	tlsfilestest.WriteAtomic(t, f.cfg.CertFile, second.CertPEM)
	serial, err = f.dial(t)
	require.NoError(t, err)
	require.Equal(t, second.Serial, serial, "the rotated certificate is served without a restart")

	// Files are checked at handshakes only, and none came between the two writes.
	require.Empty(t, f.rec.calls(), "no unusable state was seen")
	require.Contains(t, f.logs.String(), "new certificate in service")
	require.NotContains(t, f.logs.String(), "PRIVATE KEY")
}

func TestServerKeepsCertificateWhenRotationIsBroken(t *testing.T) {
	f := newFixture(t)
	tlsfilestest.WriteAtomic(t, f.cfg.CertFile, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"))
	for range 2 { // a second handshake on the same broken files reports nothing new
		serial, err := f.dial(t)
		require.NoError(t, err)
		require.Equal(t, f.first.Serial, serial, "the last good certificate stays in service")
	}
	calls := f.rec.calls()
	require.Len(t, calls, 1)
	require.ErrorContains(t, calls[0], "tls.cert_file")
	require.ErrorContains(t, calls[0], "previous certificate kept")
	require.Contains(t, f.logs.String(), "not usable")

	// A key that does not match is another distinct unusable state.
	other := f.ca.Issue(t, "other", true)
	tlsfilestest.WriteAtomic(t, f.cfg.CertFile, f.first.CertPEM)
	tlsfilestest.WriteAtomic(t, f.cfg.KeyFile, other.KeyPEM)
	serial, err := f.dial(t)
	require.NoError(t, err)
	require.Equal(t, f.first.Serial, serial)
	calls = f.rec.calls()
	require.Len(t, calls, 2)
	require.ErrorContains(t, calls[1], "does not match")

	// A removed file too.
	require.NoError(t, os.Remove(f.cfg.KeyFile))
	serial, err = f.dial(t)
	require.NoError(t, err)
	require.Equal(t, f.first.Serial, serial)
	require.Len(t, f.rec.calls(), 3)

	// Fixed files are served and clear the report.
	second := f.ca.Issue(t, "server-2", true)
	tlsfilestest.WriteAtomic(t, f.cfg.CertFile, second.CertPEM)
	tlsfilestest.WriteAtomic(t, f.cfg.KeyFile, second.KeyPEM)
	serial, err = f.dial(t)
	require.NoError(t, err)
	require.Equal(t, second.Serial, serial)
	calls = f.rec.calls()
	require.Len(t, calls, 4)
	require.NoError(t, calls[3])
	require.NotContains(t, f.logs.String(), "PRIVATE KEY")
}

func TestServerMutualTLS(t *testing.T) {
	ca := tlsfilestest.NewCA(t, "ca")
	clients := tlsfilestest.NewCA(t, "clients")
	stranger := tlsfilestest.NewCA(t, "stranger")
	s, err := NewServer(files(t, ca.Issue(t, "server", true), clients), ServerOptions{})
	require.NoError(t, err)
	addr, results := listen(t, s)

	good := clients.Issue(t, "plc-1", false).Certificate(t)
	_, err = dial(t, addr, results, ca.Pool(), &good)
	require.NoError(t, err, "a client certificate from the client CA is accepted")

	_, err = dial(t, addr, results, ca.Pool(), nil)
	require.Error(t, err, "a client without a certificate is refused")
	require.ErrorContains(t, err, "didn't provide a certificate")

	bad := stranger.Issue(t, "intruder", false).Certificate(t)
	_, err = dial(t, addr, results, ca.Pool(), &bad)
	require.Error(t, err, "a client certificate from another CA is refused")
	var unknown x509.UnknownAuthorityError
	require.True(t, errors.As(err, &unknown), "got %v", err)

	// The server's own CA is not a client CA.
	serverSigned := ca.Issue(t, "not-a-client", false).Certificate(t)
	_, err = dial(t, addr, results, ca.Pool(), &serverSigned)
	require.Error(t, err)
}

func TestServerRefusesOldTLS(t *testing.T) {
	ca := tlsfilestest.NewCA(t, "ca")
	s, err := NewServer(files(t, ca.Issue(t, "server", true), nil), ServerOptions{})
	require.NoError(t, err)
	addr, results := listen(t, s)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: bound}, "tcp", addr, &tls.Config{
		RootCAs: ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
	})
	if err == nil {
		_ = c.Close()
	}
	require.Error(t, err)
	require.ErrorContains(t, <-results, "unsupported versions")
}

func TestServerConfigValidate(t *testing.T) {
	ca := tlsfilestest.NewCA(t, "ca")
	good := files(t, ca.Issue(t, "server", true), ca)
	other := files(t, ca.Issue(t, "other", true), nil)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not pem"), 0o600))
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name    string
		cfg     ServerConfig
		wantErr []string // substrings; nil means valid
	}{
		{"zero is plain", ServerConfig{}, nil},
		{"pair", ServerConfig{CertFile: good.CertFile, KeyFile: good.KeyFile}, nil},
		{"pair and client ca", good, nil},
		{"cert without key", ServerConfig{CertFile: good.CertFile}, []string{"tls.key_file: required"}},
		{"key without cert", ServerConfig{KeyFile: good.KeyFile}, []string{"tls.cert_file: required"}},
		{"client ca alone", ServerConfig{ClientCAFile: good.ClientCAFile}, []string{"tls.cert_file: required", "tls.key_file: required"}},
		{"missing cert", ServerConfig{CertFile: missing, KeyFile: good.KeyFile}, []string{"tls.cert_file", missing}},
		{"missing key", ServerConfig{CertFile: good.CertFile, KeyFile: missing}, []string{"tls.key_file", missing}},
		{"cert is a directory", ServerConfig{CertFile: dir, KeyFile: good.KeyFile}, []string{"tls.cert_file"}},
		{"pair mismatch", ServerConfig{CertFile: good.CertFile, KeyFile: other.KeyFile}, []string{"does not match"}},
		{"cert not pem", ServerConfig{CertFile: garbage, KeyFile: good.KeyFile}, []string{"tls.cert_file", garbage}},
		{"missing client ca", ServerConfig{CertFile: good.CertFile, KeyFile: good.KeyFile, ClientCAFile: missing}, []string{"tls.client_ca_file", missing}},
		{"client ca not pem", ServerConfig{CertFile: good.CertFile, KeyFile: good.KeyFile, ClientCAFile: garbage}, []string{"tls.client_ca_file", "no PEM certificate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.wantErr {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), "PRIVATE KEY")
			_, nerr := NewServer(tc.cfg, ServerOptions{})
			require.Error(t, nerr, "NewServer refuses what Validate refuses")
		})
	}
}

func TestServerOneFileRotation(t *testing.T) {
	ca := tlsfilestest.NewCA(t, "ca")
	first := ca.Issue(t, "server-1", true)
	path := filepath.Join(t.TempDir(), "server.pem")
	tlsfilestest.WriteAtomic(t, path, append(append([]byte{}, first.CertPEM...), first.KeyPEM...))
	var rec recorder
	s, err := NewServer(ServerConfig{CertFile: path, KeyFile: path}, ServerOptions{OnChange: rec.onChange})
	require.NoError(t, err)
	addr, results := listen(t, s)
	serial, err := dial(t, addr, results, ca.Pool(), nil)
	require.NoError(t, err)
	require.Equal(t, first.Serial, serial)

	second := ca.Issue(t, "server-2", true)
	tlsfilestest.WriteAtomic(t, path, append(append([]byte{}, second.KeyPEM...), second.CertPEM...))
	serial, err = dial(t, addr, results, ca.Pool(), nil)
	require.NoError(t, err)
	require.Equal(t, second.Serial, serial, "certificate and key renamed into place in one step")
	require.Empty(t, rec.calls())
}

// TestServerOnChangeOutsideLock: OnChange runs after the Server's lock is released, so
// it may call back into the Server (and take locks a Check caller holds) without a
// deadlock.
func TestServerOnChangeOutsideLock(t *testing.T) {
	ca := tlsfilestest.NewCA(t, "ca")
	first := ca.Issue(t, "server-1", true)
	cfg := files(t, first, nil)
	var s *Server
	var rec recorder
	s, err := NewServer(cfg, ServerOptions{OnChange: func(err error) {
		require.NotNil(t, s.Check(), "a call back from OnChange")
		rec.onChange(err)
	}})
	require.NoError(t, err)

	tlsfilestest.WriteAtomic(t, cfg.CertFile, []byte("garbage"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Check()
	}()
	select {
	case <-done:
	case <-time.After(bound):
		t.Fatal("Check deadlocked on OnChange calling back")
	}
	calls := rec.calls()
	require.Len(t, calls, 1)
	require.ErrorContains(t, calls[0], "tls.cert_file")
}

// TestServerOnChangeOrderUnderConcurrentChecks flips the files between usable and
// not while handshakes check them concurrently (for the race detector): OnChange is
// never called twice at once, and its last call describes the final state.
func TestServerOnChangeOrderUnderConcurrentChecks(t *testing.T) {
	ca := tlsfilestest.NewCA(t, "ca")
	first := ca.Issue(t, "server-1", true)
	cfg := files(t, first, nil)
	var (
		inCall  sync.Mutex // held by OnChange; TryLock failing means an overlap
		overlap bool
		rec     recorder
	)
	s, err := NewServer(cfg, ServerOptions{OnChange: func(err error) {
		if !inCall.TryLock() {
			overlap = true // only read after the checkers stopped
			return
		}
		defer inCall.Unlock()
		rec.onChange(err)
	}})
	require.NoError(t, err)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					s.Check()
				}
			}
		}()
	}
	for i := range 50 {
		if i%2 == 0 {
			tlsfilestest.WriteAtomic(t, cfg.CertFile, []byte("garbage"))
		} else {
			tlsfilestest.WriteAtomic(t, cfg.CertFile, first.CertPEM)
		}
		s.Check()
	}
	close(stop)
	wg.Wait()
	s.Check()
	require.False(t, overlap, "OnChange was called concurrently")
	calls := rec.calls()
	require.NotEmpty(t, calls)
	require.NoError(t, calls[len(calls)-1], "the files ended usable, and the last report says so")
	for i := 1; i < len(calls); i++ {
		require.NotEqual(t, calls[i-1] == nil, calls[i] == nil, "reports alternate between broken and fixed")
	}
}
