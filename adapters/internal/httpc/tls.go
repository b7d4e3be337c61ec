package httpc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/edgerelay/edgerelay/adapters/tlsfiles"
)

// TLSConfig is the `tls:` block of every HTTP adapter. The zero value verifies the
// server against the system roots.
type TLSConfig struct {
	// CAFile is a PEM bundle of extra roots to trust, added to the system roots.
	// Empty means the system roots only.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key for mutual TLS.
	// Both or neither must be set.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify disables server certificate verification. For tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName overrides the name the server certificate is checked against. Empty
	// means the URL's host.
	ServerName string `yaml:"server_name"`
}

// Validate reports configuration mistakes that need no file access, each naming its
// YAML key under tls.
func (c *TLSConfig) Validate() error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("tls.cert_file and tls.key_file must be set together")
	}
	return nil
}

// Build reads the files c names and returns the client TLS configuration, requiring
// TLS 1.2 or later. Its errors name the YAML key and the file.
func (c *TLSConfig) Build() (*tls.Config, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // operator's explicit choice, documented as test-only
	}
	if c.CAFile != "" {
		pem, err := tlsfiles.Read("tls.ca_file", c.CAFile)
		if err != nil {
			return nil, err
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = nil // CertPool starts an empty one
		}
		if cfg.RootCAs, err = tlsfiles.CertPool("tls.ca_file", c.CAFile, pem, pool); err != nil {
			return nil, err
		}
	}
	if c.CertFile != "" {
		certPEM, err := tlsfiles.Read("tls.cert_file", c.CertFile)
		if err != nil {
			return nil, err
		}
		keyPEM, err := tlsfiles.Read("tls.key_file", c.KeyFile)
		if err != nil {
			return nil, err
		}
		cert, err := tlsfiles.KeyPair(c.CertFile, c.KeyFile, certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
