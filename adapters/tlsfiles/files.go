// Package tlsfiles loads TLS material from PEM files for edgerelay's clients and
// servers: the certificate pool of a CA file, a certificate with its key, and, for
// listeners, a [Server] that serves the files' current certificate and client CA and
// picks up rotated files at the next handshake without a restart.
//
// It is a leaf package (standard library only) so that both the adapters and the
// daemon's web server can use it. Errors start with the YAML key of the file at fault
// (tls.cert_file, tls.key_file, tls.ca_file, tls.client_ca_file) and name its path; the
// caller adds the section ("http.", a source entry). Nothing here logs or returns key
// material.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Read reads the file at path; its error starts with key, the YAML key of the file.
func Read(key, path string) ([]byte, error) {
	b, err := secret.ReadBounded(path, secret.MaxPEMFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return b, nil
}

// CertPool adds the PEM certificates of pem, read from path, to base and returns it; a
// nil base starts an empty pool. It fails, naming key and path, when pem holds no
// certificate.
func CertPool(key, path string, pem []byte, base *x509.CertPool) (*x509.CertPool, error) {
	if base == nil {
		base = x509.NewCertPool()
	}
	if !base.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate found", key, path)
	}
	return base, nil
}

// KeyPair parses a PEM certificate chain and its private key, read from certPath and
// keyPath (named in the error only). The key must match the certificate.
func KeyPair(certPath, keyPath string, certPEM, keyPEM []byte) (tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return c, fmt.Errorf("tls.cert_file %s and tls.key_file %s: %w", certPath, keyPath, err)
	}
	return c, nil
}
