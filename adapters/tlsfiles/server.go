package tlsfiles

import (
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// ServerConfig is the `tls:` block of a listener. The zero value serves plain HTTP.
type ServerConfig struct {
	// CertFile is the PEM certificate chain the listener presents, leaf first; it
	// needs KeyFile. Empty means no TLS.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile. Keep it readable by the daemon only.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile is a PEM bundle of the CAs whose client certificates are accepted:
	// when set, every client must present a certificate that one of them signed
	// (mutual TLS). Empty means clients are not asked for a certificate.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether c asks for TLS.
func (c *ServerConfig) Enabled() bool {
	return c.CertFile != "" || c.KeyFile != "" || c.ClientCAFile != ""
}

// Validate checks c the way a listener will use it, so that a configuration check
// refuses what the daemon would: cert_file and key_file both or neither, client_ca_file
// only with them, and the files readable, the key matching the certificate and the CA
// file holding a certificate. Its errors name the key under tls.
func (c *ServerConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	if err := c.checkKeys(); err != nil {
		return err
	}
	_, _, err := c.load()
	return err
}

// checkKeys checks which keys are set together.
func (c *ServerConfig) checkKeys() error {
	var errs []error
	if c.CertFile == "" {
		errs = append(errs, errors.New("tls.cert_file: required with tls.key_file or tls.client_ca_file"))
	}
	if c.KeyFile == "" {
		errs = append(errs, errors.New("tls.key_file: required with tls.cert_file or tls.client_ca_file"))
	}
	return errors.Join(errs...)
}

// stamp identifies the version of the files a configuration was loaded from: their
// size, modification time and identity (a rename over the file gives a new one).
type stamp [3]os.FileInfo

// same reports whether a and b describe the same versions of the same files.
func (a stamp) same(b stamp) bool {
	for i := range a {
		if (a[i] == nil) != (b[i] == nil) {
			return false
		}
		if a[i] == nil {
			continue
		}
		if !os.SameFile(a[i], b[i]) || a[i].Size() != b[i].Size() || !a[i].ModTime().Equal(b[i].ModTime()) {
			return false
		}
	}
	return true
}

// paths lists the configured files in stamp order; unset ones are "".
func (c *ServerConfig) paths() [3]string { return [3]string{c.CertFile, c.KeyFile, c.ClientCAFile} }

// stat stamps the configured files.
func (c *ServerConfig) stat() (stamp, error) {
	var s stamp
	keys := [3]string{"tls.cert_file", "tls.key_file", "tls.client_ca_file"}
	for i, p := range c.paths() {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return s, fmt.Errorf("%s: %w", keys[i], err)
		}
		s[i] = fi
	}
	return s, nil
}

// load stamps and reads the files and builds the per-connection server configuration:
// TLS 1.2 or later, the certificate, and with a client CA file, client certificates
// required and verified against it alone. The stamp is taken before reading, so a
// file replaced during the read is seen as changed at the next check.
func (c *ServerConfig) load() (*tls.Config, stamp, error) {
	st, err := c.stat()
	if err != nil {
		return nil, st, err
	}
	certPEM, err := Read("tls.cert_file", c.CertFile)
	if err != nil {
		return nil, st, err
	}
	keyPEM, err := Read("tls.key_file", c.KeyFile)
	if err != nil {
		return nil, st, err
	}
	pair, err := KeyPair(c.CertFile, c.KeyFile, certPEM, keyPEM)
	if err != nil {
		return nil, st, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if c.ClientCAFile != "" {
		caPEM, err := Read("tls.client_ca_file", c.ClientCAFile)
		if err != nil {
			return nil, st, err
		}
		if tc.ClientCAs, err = CertPool("tls.client_ca_file", c.ClientCAFile, caPEM, nil); err != nil {
			return nil, st, err
		}
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, st, nil
}

// ServerOptions are the optional parts of a [Server].
type ServerOptions struct {
	// Log receives one line per reload and per unusable change. Nil discards.
	Log *slog.Logger
	// OnChange is called when the files become unusable (with the error, the last good
	// certificate still being served) and when they are usable again (with nil). It is
	// called after the Server's lock is released (it may call Check, and take locks a
	// caller of Check holds), one call at a time, for every state in the order seen.
	// It runs in a handshake, so it should not block for long.
	OnChange func(err error)
	// NextProtos is the ALPN list offered to clients, such as "http/1.1". Empty
	// negotiates none.
	NextProtos []string
}

// Server holds a listener's TLS material loaded from a [ServerConfig]. At every
// handshake it stats the files (no read while they are unchanged); when one changed it
// loads them again and, if they form a usable certificate, key and client CA, serves
// them from then on. Unusable files (half-written, a key that does not match, a
// missing file) leave the last good material in service: the change is logged and
// reported through OnChange once per distinct state, and retried when the files change
// again. Rotating the certificate and the key one after the other can thus report an
// unusable pair for the handshakes in between.
type Server struct {
	cfg ServerConfig
	opt ServerOptions
	log *slog.Logger

	mu     sync.Mutex  // guards the fields below
	cur    *tls.Config // the material in service
	curAt  stamp       // the files cur was loaded from
	seen   stamp       // the files last checked, usable or not
	broken string      // the error reported for seen, "" when usable
	// pending holds the reports for OnChange not yet delivered, oldest first; while
	// draining, one Check caller delivers them (without mu) and the others only queue.
	pending  []error
	draining bool
}

// NewServer loads cfg's files; it fails when they are not usable, as Validate does.
func NewServer(cfg ServerConfig, opt ServerOptions) (*Server, error) {
	if !cfg.Enabled() {
		return nil, errors.New("tls: no tls.cert_file configured")
	}
	if err := cfg.checkKeys(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, opt: opt, log: opt.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	tc, st, err := cfg.load()
	if err != nil {
		return nil, err
	}
	s.install(tc, st)
	s.log.Info("TLS certificate loaded", certAttrs(tc, cfg)...)
	return s, nil
}

// install makes tc the material in service; s.mu is held or s is not shared yet.
func (s *Server) install(tc *tls.Config, st stamp) {
	tc.NextProtos = s.opt.NextProtos
	s.cur, s.curAt, s.seen, s.broken = tc, st, st, ""
}

// Config returns the configuration to serve with (tls.NewListener): TLS 1.2 or later,
// each handshake getting the material current at that moment.
func (s *Server) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: s.opt.NextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.Check(), nil
		},
	}
}

// Check looks at the files and returns the material in service, reloaded first when
// the files changed and are usable. Handshakes call it; it is safe for concurrent use.
func (s *Server) Check() *tls.Config {
	tc, drain := s.check()
	if drain {
		s.drain()
	}
	return tc
}

// drain passes the pending reports to OnChange in order, taking s.mu only to dequeue
// one, until none is left; the caller is the only drainer.
func (s *Server) drain() {
	for {
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.draining = false
			s.mu.Unlock()
			return
		}
		err := s.pending[0]
		s.pending = s.pending[1:]
		s.mu.Unlock()
		s.opt.OnChange(err)
	}
}

// check is Check under s.mu; it returns the material in service and whether the
// caller is to drain the reports for OnChange.
func (s *Server) check() (*tls.Config, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.cfg.stat()
	if err == nil && st.same(s.seen) {
		return s.cur, false
	}
	var tc *tls.Config
	if err == nil {
		tc, st, err = s.cfg.load()
	}
	if err == nil {
		wasBroken := s.broken != ""
		s.install(tc, st)
		s.log.Info("TLS files changed; new certificate in service", certAttrs(tc, s.cfg)...)
		if wasBroken {
			return s.cur, s.queueReport(nil)
		}
		return s.cur, false
	}
	s.seen = st
	if msg := err.Error(); msg != s.broken {
		s.broken = msg
		s.log.Warn("TLS files changed but are not usable; the previous certificate stays in service", "err", err)
		return s.cur, s.queueReport(fmt.Errorf("changed TLS files not usable, previous certificate kept: %w", err))
	}
	return s.cur, false
}

// queueReport queues err for OnChange; it reports whether the caller is to drain the
// queue (no other caller is draining it). s.mu is held.
func (s *Server) queueReport(err error) bool {
	if s.opt.OnChange == nil {
		return false
	}
	s.pending = append(s.pending, err)
	if s.draining {
		return false
	}
	s.draining = true
	return true
}

// certAttrs describes the leaf certificate of tc for a log line: file, subject,
// serial and expiry; never the key.
func certAttrs(tc *tls.Config, cfg ServerConfig) []any {
	attrs := []any{"cert_file", cfg.CertFile, "mtls", cfg.ClientCAFile != ""}
	if leaf := tc.Certificates[0].Leaf; leaf != nil {
		attrs = append(attrs, "subject", leaf.Subject.String(),
			"serial", hex.EncodeToString(leaf.SerialNumber.Bytes()), "not_after", leaf.NotAfter)
	}
	return attrs
}
