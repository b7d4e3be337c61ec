package web

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles"
)

// DefaultListen is the default address of the HTTP surface: loopback only, on
// ilagent's port, so that LAN exposure is a deliberate choice.
const DefaultListen = "127.0.0.1:8977"

// Default timeouts, used when the corresponding Config field is zero.
const (
	DefaultReadTimeout     = 10 * time.Second
	DefaultWriteTimeout    = 30 * time.Second
	DefaultIdleTimeout     = 60 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
)

// Config configures the HTTP surface (the `http:` section of the configuration file).
type Config struct {
	// Listen is the host:port to bind. Empty means 127.0.0.1:8977; use 0.0.0.0:8977 to
	// accept connections from the network.
	Listen string `yaml:"listen"`
	// ReadTimeout bounds reading one request, body included. Zero means 10s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one response. Zero means 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle for this long. Zero means 60s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds the wait for in-flight requests at shutdown; connections
	// still open after it are closed. Zero means 5s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TLS serves over HTTPS with the certificate and key files (reloaded when they
	// change) and, with client_ca_file, requires client certificates (mutual TLS) from
	// every client, probes and scrapers included. Zero means plain HTTP.
	TLS tlsfiles.ServerConfig `yaml:"tls"`
	// AdminToken lets the status page (and any client that sends it as
	// "Authorization: Bearer <token>") retry and drop dead letters. Empty, with no
	// AdminTokenFile, leaves the page read-only. It is a secret: never logged or shown.
	AdminToken secret.Value `yaml:"admin_token"`
	// AdminTokenFile reads AdminToken from a file (surrounding white space trimmed),
	// for example ${CREDENTIALS_DIRECTORY}/edgerelay-admin with systemd's
	// LoadCredential=. At most one of the two may be set.
	AdminTokenFile string `yaml:"admin_token_file"`

	// Version is the daemon's version, answered by GET / as "edgerelay/<version>". It is
	// set by the daemon, not by the configuration file.
	Version string `yaml:"-"`
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		Listen:          DefaultListen,
		ReadTimeout:     DefaultReadTimeout,
		WriteTimeout:    DefaultWriteTimeout,
		IdleTimeout:     DefaultIdleTimeout,
		ShutdownTimeout: DefaultShutdownTimeout,
	}
}

// withDefaults returns c with its zero fields replaced by the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	return c
}

// MinAdminToken is the shortest admin token accepted: shorter ones are guessable
// within the bad-token rate limit's budget of a few years.
const MinAdminToken = 16

// AdminSecret returns the admin token from admin_token or admin_token_file (read now
// and registered as a secret), or "" when neither is set: a read-only status page.
func (c Config) AdminSecret() (secret.Value, error) {
	if c.AdminToken != "" && c.AdminTokenFile != "" {
		return "", errors.New("http.admin_token, http.admin_token_file: set only one of them")
	}
	v, err := secret.Resolve(string(c.AdminToken), c.AdminTokenFile, "")
	if err != nil {
		return "", fmt.Errorf("http.admin_token_file: %w", err)
	}
	if v != "" && len(v) < MinAdminToken {
		key := "http.admin_token"
		if c.AdminTokenFile != "" {
			key = "http.admin_token_file"
		}
		return "", fmt.Errorf("%s: the token is %d bytes; use at least %d (e.g. openssl rand -hex 16)", key, len(v), MinAdminToken)
	}
	return v, nil
}

// Validate reports every problem at once, each naming its key under `http.`.
func (c *Config) Validate() error {
	var errs []error
	if _, err := c.AdminSecret(); err != nil {
		errs = append(errs, err)
	}
	if c.Listen != "" {
		errs = append(errs, adapters.ValidateListen("http.listen", c.Listen))
	}
	if err := c.TLS.Validate(); err != nil {
		for _, m := range strings.Split(err.Error(), "\n") {
			errs = append(errs, errors.New("http."+m))
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"read_timeout", c.ReadTimeout},
		{"write_timeout", c.WriteTimeout},
		{"idle_timeout", c.IdleTimeout},
		{"shutdown_timeout", c.ShutdownTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("http.%s: must not be negative, got %s", d.key, d.v))
		}
	}
	return errors.Join(errs...)
}
