package mqtt

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles"
)

// material is what a connection attempt loads from disk.
type material struct {
	password string
	tls      *tls.Config       // nil without TLS
	fp       [sha256.Size]byte // fingerprint of the TLS files tls was built from
}

// material reads the password (file or environment variable) and the TLS files. It runs before every
// connection attempt, so rotated certificates are picked up on reconnect. With TLS
// it records the "tls" health condition.
func (s *link) material() (material, error) {
	m := material{password: s.password.Reveal()}
	switch {
	case s.passwordFile != "":
		p, err := secret.ReadFile(s.passwordFile)
		if err != nil {
			return m, fmt.Errorf("read password_file: %w", err)
		}
		m.password = p
	case s.passwordEnv != "":
		p, ok := os.LookupEnv(s.passwordEnv)
		secret.Register(p)
		if !ok {
			return m, fmt.Errorf("password_env: environment variable %s is not set", s.passwordEnv)
		}
		m.password = strings.TrimRight(p, "\r\n")
	}
	secret.RegisterUserPassword(s.username, m.password)
	if !isTLSScheme(s.url.Scheme) {
		return m, nil
	}
	f, err := s.readTLSFiles()
	if err == nil {
		m.tls, err = s.tlsConfig(f)
	}
	if err != nil {
		s.health.Set("tls", false, err.Error())
		return m, err
	}
	m.fp = f.fingerprint()
	s.health.Set("tls", true, "")
	return m, nil
}

// tlsFiles is the content of the configured TLS files (nil when not configured).
// The fingerprint and the tls.Config come from the same read, so a file changing in
// between cannot make them disagree.
type tlsFiles struct{ ca, cert, key []byte }

// readTLSFiles reads every configured TLS file.
func (s *link) readTLSFiles() (tlsFiles, error) {
	var f tlsFiles
	for _, r := range []struct {
		key, path string
		dst       *[]byte
	}{
		{"tls.ca_file", s.tls.CAFile, &f.ca},
		{"tls.cert_file", s.tls.CertFile, &f.cert},
		{"tls.key_file", s.tls.KeyFile, &f.key},
	} {
		if r.path == "" {
			continue
		}
		b, err := tlsfiles.Read(r.key, r.path)
		if err != nil {
			return f, err
		}
		*r.dst = b
	}
	return f, nil
}

func (f tlsFiles) fingerprint() [sha256.Size]byte { return fingerprint(f.ca, f.cert, f.key) }

// fingerprint is one SHA-256 over the CA, certificate and key bytes. Each part is
// preceded by its length, so moving bytes from one file to another changes it.
func fingerprint(ca, cert, key []byte) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, p := range [][]byte{ca, cert, key} {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// tlsConfig builds the client TLS configuration from f: the CA file's certificates
// replace the system roots, and the certificate and key must form a pair.
func (s *link) tlsConfig(f tlsFiles) (*tls.Config, error) {
	t := s.tls
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, documented as for testing
	}
	if c.ServerName == "" {
		c.ServerName = s.url.Hostname()
	}
	if t.CAFile != "" {
		pool, err := tlsfiles.CertPool("tls.ca_file", t.CAFile, f.ca, nil)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tlsfiles.KeyPair(t.CertFile, t.KeyFile, f.cert, f.key)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// tlsWatch is the state of the TLS file check during one connection.
type tlsWatch struct {
	// active is the fingerprint of the material the connection was made with: it
	// becomes the active one only once the broker accepted the connection (CONNACK).
	active [sha256.Size]byte
	warned string // the unusable fingerprint or read error last warned about
}

// watchTLS checks the TLS files once while connected. It reports true when their
// content differs from the active material and loads: the caller then reconnects
// at once. Changed files that do not load are logged once per distinct content or
// error and recorded on the "tls" condition; the connection stays up.
func (s *link) watchTLS(w *tlsWatch) bool {
	f, err := s.readTLSFiles()
	seen := "" // what is on disk: the read error, or the fingerprint
	if err != nil {
		seen = err.Error()
	} else {
		fp := f.fingerprint()
		if fp == w.active {
			if w.warned != "" {
				s.log.Info("TLS files are back to the material in use")
				s.health.Set("tls", true, "")
				w.warned = ""
			}
			return false
		}
		if _, err = s.tlsConfig(f); err == nil {
			s.log.Info("TLS material changed; reconnecting", "fingerprint", hex.EncodeToString(fp[:8]))
			return true
		}
		seen = hex.EncodeToString(fp[:])
	}
	if seen != w.warned {
		w.warned = seen
		s.log.Warn("TLS files changed but cannot be used; keeping the current connection", "err", err)
		// Degraded, not critical: the connection holds and messages keep flowing.
		s.health.SetDegraded("tls", false, "changed TLS files not usable, connection kept: "+err.Error())
	}
	return false
}
