package httpc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
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
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate found", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file %s / tls.key_file %s: %w", c.CertFile, c.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
