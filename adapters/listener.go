package adapters

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/edgerelay/edgerelay/adapters/tlsfiles"
)

// ListenerConfig is the `listen:` and `tls:` keys of a source that can serve HTTP on a
// listener of its own instead of on the daemon's server (http.listen). A source embeds
// it in its Config (`yaml:",inline"`), calls Validate from its own, and, when Own
// reports true, asks Deps.Listen for the listener.
type ListenerConfig struct {
	// Listen is the host:port of the source's own listener, such as 0.0.0.0:8443.
	// Empty means the source's routes are mounted on the daemon's server (http.listen),
	// next to /metrics.
	Listen string `yaml:"listen"`
	// TLS serves the listener over TLS, with optional client certificates (mutual TLS).
	// The files are checked at every handshake and reloaded when they change. It needs
	// Listen; the daemon's server has its own (http.tls).
	TLS tlsfiles.ServerConfig `yaml:"tls"`
}

// Own reports whether the source asks for a listener of its own.
func (c *ListenerConfig) Own() bool { return c.Listen != "" }

// Validate checks the address and the TLS files (which must be readable now), each
// error naming its key (listen, tls.cert_file, …).
func (c *ListenerConfig) Validate() error {
	var errs []error
	if c.Listen != "" {
		errs = append(errs, ValidateListen("listen", c.Listen))
	} else if c.TLS.Enabled() {
		errs = append(errs, errors.New("tls: needs listen (routes on the daemon's server take their TLS from http.tls)"))
	}
	if c.Listen != "" {
		errs = append(errs, c.TLS.Validate())
	}
	return errors.Join(errs...)
}

// ValidateListen checks that addr is host:port with a numeric port and a host that is
// empty (every address), an IP address or a host name; errors name key.
func ValidateListen(key, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port: %w", key, addr, err)
	}
	var errs []error
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		errs = append(errs, fmt.Errorf("%s: port %q is not a number from 0 to 65535", key, port))
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		errs = append(errs, fmt.Errorf("%s: %q is neither an IP address nor a host name", key, host))
	}
	return errors.Join(errs...)
}

// validHostname accepts letters, digits, dots and hyphens, the characters of a DNS name
// such as "localhost".
func validHostname(h string) bool {
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
		default:
			return false
		}
	}
	return h != ""
}
