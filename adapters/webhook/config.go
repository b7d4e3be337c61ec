package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Config configures the webhook sink. The README documents every key.
type Config struct {
	// URL receives every event. Required; http or https. Userinfo in it is sent as
	// Basic auth and never shown in errors or logs.
	URL string `yaml:"url"`
	// Method is POST (the default) or PUT.
	Method string `yaml:"method"`
	// Headers are added to every request. They may not set Content-Type (use
	// content_type), Host, Content-Length, X-Edgerelay-* or the auth header.
	Headers map[string]string `yaml:"headers"`
	// AuthHeader names the header that carries the auth value. Empty means
	// "Authorization".
	AuthHeader string `yaml:"auth_header"`
	// AuthValue is the auth header's value, given literally ("Bearer abc…"). At most
	// one of auth_value, auth_value_file and auth_value_env may be set.
	AuthValue httpc.Secret `yaml:"auth_value"`
	// AuthValueFile is a file whose contents (trimmed) are the auth value.
	AuthValueFile string `yaml:"auth_value_file"`
	// AuthValueEnv names an environment variable holding the auth value.
	AuthValueEnv string `yaml:"auth_value_env"`
	// Timeout bounds one request, answer included. Zero means 10s.
	Timeout time.Duration `yaml:"timeout"`
	// TLS configures server verification and the client certificate.
	TLS httpc.TLSConfig `yaml:"tls"`
	// ContentType is the Content-Type of every request. Empty means
	// "application/json".
	ContentType string `yaml:"content_type"`
	// MaxInFlight bounds concurrent requests. Zero means 8.
	MaxInFlight int `yaml:"max_in_flight"`
}

// Defaults applied to zero Config fields, and the bound on max_in_flight.
const (
	DefaultMethod      = http.MethodPost
	DefaultAuthHeader  = "Authorization"
	DefaultTimeout     = 10 * time.Second
	DefaultContentType = "application/json"
	DefaultMaxInFlight = 8
	maxMaxInFlight     = 256
)

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		Method:      DefaultMethod,
		AuthHeader:  DefaultAuthHeader,
		Timeout:     DefaultTimeout,
		ContentType: DefaultContentType,
		MaxInFlight: DefaultMaxInFlight,
	}
}

// withDefaults fills zero fields, so that a Config built in code behaves like one
// decoded over DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Method == "" {
		c.Method = d.Method
	}
	c.Method = strings.ToUpper(c.Method)
	if c.AuthHeader == "" {
		c.AuthHeader = d.AuthHeader
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.ContentType == "" {
		c.ContentType = d.ContentType
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	return c
}

// Validate reports every problem at once, each naming its YAML key. It reads no files
// and no environment: Connect resolves the auth value and the TLS files, so a
// secret mounted after start-up is picked up on the next Connect.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url: required"))
	} else if u, err := secret.ParseURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	} else if u.Scheme != "http" && u.Scheme != "https" {
		errs = append(errs, fmt.Errorf("url: scheme must be http or https, not %q", u.Scheme))
	} else if u.Host == "" {
		errs = append(errs, errors.New("url: no host"))
	}
	if m := strings.ToUpper(c.Method); m != "" && m != http.MethodPost && m != http.MethodPut {
		errs = append(errs, fmt.Errorf("method: must be POST or PUT, not %q", c.Method))
	}
	authHeader := c.AuthHeader
	if authHeader == "" {
		authHeader = DefaultAuthHeader
	}
	if !validHeaderName(authHeader) {
		errs = append(errs, fmt.Errorf("auth_header: %q is not a valid header name", c.AuthHeader))
	}
	ways := 0
	for _, s := range []string{string(c.AuthValue), c.AuthValueFile, c.AuthValueEnv} {
		if s != "" {
			ways++
		}
	}
	if ways > 1 {
		errs = append(errs, errors.New("auth_value, auth_value_file, auth_value_env: set at most one"))
	}
	if strings.ContainsAny(string(c.AuthValue), "\r\n") {
		errs = append(errs, errors.New("auth_value: must not contain line breaks"))
	}
	for name, v := range c.Headers {
		canon := http.CanonicalHeaderKey(name)
		if !plainHeader(canon) {
			secret.Register(v) // a header may carry an API key: its value is redacted
		}
		switch {
		case !validHeaderName(name):
			errs = append(errs, fmt.Errorf("headers: %q is not a valid header name", name))
		case reservedHeader(canon):
			errs = append(errs, fmt.Errorf("headers: %s is set by the sink and may not be configured", canon))
		case canon == http.CanonicalHeaderKey(authHeader):
			errs = append(errs, fmt.Errorf("headers: %s is the auth header; use auth_value, auth_value_file or auth_value_env", canon))
		case !httpc.ValidHeaderValue(v):
			errs = append(errs, fmt.Errorf("headers: value of %s contains control characters", canon))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must not be negative, got %s", c.Timeout))
	}
	if strings.ContainsAny(c.ContentType, "\r\n") {
		errs = append(errs, errors.New("content_type: must not contain line breaks"))
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > maxMaxInFlight {
		errs = append(errs, fmt.Errorf("max_in_flight: must be between 1 and %d, got %d", maxMaxInFlight, c.MaxInFlight))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// reservedHeader reports whether a (canonical) header is set by the sink or the
// transport and so may come from neither headers nor event attributes.
func reservedHeader(canon string) bool {
	switch canon {
	case "Host", "Content-Type", "Content-Length", "Transfer-Encoding", "Connection",
		"Keep-Alive", "Proxy-Connection", "Upgrade", "Te", "Trailer", "Expect":
		return true
	}
	return strings.HasPrefix(canon, "X-Edgerelay-")
}

// plainHeader reports whether canon is a standard header that never carries a
// credential (content negotiation, caching, the client's name); every other static
// header's value is registered as a secret, since a custom header (X-Api-Key,
// X-Auth-Token) is a common place for one.
func plainHeader(canon string) bool {
	switch canon {
	case "Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language",
		"Cache-Control", "Pragma", "User-Agent":
		return true
	}
	return false
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
