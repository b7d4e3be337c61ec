// Package redis publishes edgerelay's lifecycle events to Redis Pub/Sub: PUBLISH on
// the channel named by the event type, the CloudEvents document as the message. It
// speaks the few RESP2 commands it needs itself (AUTH, SELECT, PING, PUBLISH) over
// TCP or TLS, so it adds no client library to the binary. See README.md.
package redis

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles"
)

// Name is the adapter's EVENT_BROKER_ADAPTER value and YAML block.
const Name = "redis"

// The environment variables of the seed.
const (
	EnvURL = "EVENT_BROKER_REDIS_URL"
	EnvSSL = "EVENT_BROKER_REDIS_SSL"
)

// Defaults.
const (
	DefaultURL     = "redis://127.0.0.1:6379"
	DefaultPort    = "6379"
	DefaultTimeout = 10 * time.Second
)

// The YAML keys, for the errors.
const (
	keyURL          = "events.redis.url"
	keySSL          = "events.redis.ssl"
	keyPassword     = "events.redis.password"
	keyCAFile       = "events.redis.ca_file"
	keyTimeout      = "events.redis.timeout"
	keyPasswordFile = "events.redis.password_file"
	keyPasswordEnv  = "events.redis.password_env"
)

func init() {
	lifecycle.Register(lifecycle.Spec{
		Name:      Name,
		Variables: []string{EnvURL, EnvSSL},
		NewConfig: func() lifecycle.Config { return NewConfig() },
	})
}

// Config configures the redis lifecycle publisher (YAML events.redis).
type Config struct {
	// URL is the server: redis://[[user]:password@]host[:port][/db], or rediss:// for
	// TLS. The port defaults to 6379, db to 0. With a password, the publisher sends
	// AUTH password (AUTH user password with a user name) on connecting; with a db
	// other than 0, SELECT db. EVENT_BROKER_REDIS_URL. Default redis://127.0.0.1:6379.
	URL string `yaml:"url"`
	// SSL turns TLS on for a redis:// URL too. EVENT_BROKER_REDIS_SSL. Default false.
	SSL bool `yaml:"ssl"`
	// Password is the AUTH password when the URL carries none (keep it out of the
	// URL in a YAML file). Empty means the URL's, or no AUTH.
	Password secret.Value `yaml:"password"`
	// PasswordFile names a file holding the password (surrounding white space
	// trimmed), read at start. Empty means none.
	PasswordFile string `yaml:"password_file"`
	// PasswordEnv names an environment variable holding the password. Empty means none.
	PasswordEnv string `yaml:"password_env"`
	// CAFile is a PEM file of the certificate authorities trusted for the server's
	// certificate, in place of the system roots. Only with TLS. Empty means the
	// system roots (SSL_CERT_FILE and SSL_CERT_DIR are honoured).
	CAFile string `yaml:"ca_file"`
	// Timeout bounds connecting (dial, TLS handshake, AUTH, SELECT, PING) and the
	// wait for one PUBLISH reply, when the caller's context has no earlier deadline.
	// Zero means 10s.
	Timeout time.Duration `yaml:"timeout"`

	// urlFromEnv is set when EVENT_BROKER_REDIS_URL gave URL: a password in it wins
	// over the YAML password keys.
	urlFromEnv bool
}

// NewConfig returns a Config with the defaults set.
func NewConfig() *Config { return &Config{URL: DefaultURL, Timeout: DefaultTimeout} }

// ApplyEnv overrides the settings with EVENT_BROKER_REDIS_URL and
// EVENT_BROKER_REDIS_SSL.
func (c *Config) ApplyEnv(env lifecycle.Env) error {
	if v, ok := env(EnvURL); ok {
		c.URL, c.urlFromEnv = strings.TrimSpace(v), true
		secret.RegisterURL(c.URL)
	}
	return lifecycle.Bool(env, EnvSSL, &c.SSL)
}

// target is a Config resolved for connecting.
type target struct {
	addr     string      // host:port
	tls      *tls.Config // nil for plain TCP
	user     string      // AUTH user; empty for AUTH password alone
	password string      // empty: no AUTH
	pwFrom   string      // where the password was set, for the errors
	db       int
	timeout  time.Duration
	display  string // the URL without userinfo, for errors and logs
}

// Validate reports every setting that cannot work.
func (c *Config) Validate() error {
	_, err := c.resolve()
	return err
}

// Secrets returns the password (from the URL or the password keys).
func (c *Config) Secrets() []string {
	var out []string
	if u, err := url.Parse(c.URL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p)
		}
	}
	if c.Password != "" {
		out = append(out, c.Password.Reveal())
	}
	if c.PasswordFile != "" || c.PasswordEnv != "" {
		if p, err := secret.Resolve("", c.PasswordFile, c.PasswordEnv); err == nil && p != "" {
			out = append(out, p.Reveal())
		}
	}
	return out
}

// Build makes the publisher; it does not dial.
func (c *Config) Build(d lifecycle.Deps) (lifecycle.Publisher, error) {
	t, err := c.resolve()
	if err != nil {
		return nil, err
	}
	return newPublisher(t, d.Log), nil
}

// resolve checks the settings and turns them into a target; the errors name the
// variable and YAML key and never hold the password.
func (c *Config) resolve() (target, error) {
	var errs []error
	t := target{timeout: c.Timeout}
	if t.timeout == 0 {
		t.timeout = DefaultTimeout
	}
	if t.timeout < 0 {
		errs = append(errs, lifecycle.Problem(keyTimeout, "", "%s is negative", t.timeout))
	}

	useTLS := c.SSL
	urlPassword := false
	u, err := parseURL(c.URL)
	if err != nil {
		errs = append(errs, lifecycle.Problem(EnvURL, keyURL, "%v", err))
	} else {
		useTLS = useTLS || u.Scheme == "rediss"
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = DefaultPort
		}
		t.addr = net.JoinHostPort(host, port)
		t.db, _ = strconv.Atoi(strings.TrimPrefix(u.Path, "/"))
		if u.User != nil {
			t.user = u.User.Username()
			t.password, urlPassword = u.User.Password()
			urlPassword = urlPassword && t.password != ""
			t.pwFrom = EnvURL + " (" + keyURL + ")"
		}
		red := *u
		red.User = nil
		t.display = red.String()
		if useTLS {
			t.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
	}

	// The YAML password keys: at most one, and not with a password in a YAML URL.
	nkeys := 0
	for _, set := range []bool{c.Password != "", c.PasswordFile != "", c.PasswordEnv != ""} {
		if set {
			nkeys++
		}
	}
	switch {
	case nkeys > 1:
		errs = append(errs, lifecycle.Problem(keyPassword, "", "set only one of password, password_file and password_env"))
	case nkeys == 1 && urlPassword && !c.urlFromEnv:
		errs = append(errs, lifecycle.Problem(EnvURL, keyURL, "the URL has a password and %s is set too: give it in one place", passwordKey(c)))
	case nkeys == 1 && !urlPassword:
		p, err := secret.Resolve(c.Password.Reveal(), c.PasswordFile, c.PasswordEnv)
		if err != nil {
			errs = append(errs, lifecycle.Problem(passwordKey(c), "", "%v", err))
		}
		t.password, t.pwFrom = p.Reveal(), passwordKey(c)
	}
	if err == nil && t.user != "" && t.password == "" {
		errs = append(errs, lifecycle.Problem(EnvURL, keyURL, "user %q has no password (redis://user:password@host)", t.user))
	}

	if c.CAFile != "" {
		if !useTLS {
			errs = append(errs, lifecycle.Problem(keyCAFile, "", "a CA file needs TLS: a rediss:// URL or %s=true (%s)", EnvSSL, keySSL))
		}
		pem, err := tlsfiles.Read("ca_file", c.CAFile)
		var pool *x509.CertPool
		if err == nil {
			pool, err = tlsfiles.CertPool("ca_file", c.CAFile, pem, nil)
		}
		if err != nil {
			errs = append(errs, lifecycle.Problem(keyCAFile, "", "%v", err))
		} else if t.tls != nil {
			t.tls.RootCAs = pool
		}
	}
	if err := errors.Join(errs...); err != nil {
		return target{}, err
	}
	return t, nil
}

// passwordKey names the YAML password key that is set.
func passwordKey(c *Config) string {
	switch {
	case c.PasswordFile != "":
		return keyPasswordFile
	case c.PasswordEnv != "":
		return keyPasswordEnv
	}
	return keyPassword
}

// parseURL parses and checks a redis URL; its errors never quote the password.
func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("is empty: a redis:// or rediss:// URL is required")
	}
	u, err := secret.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	shown := secret.Excerpt(secret.RedactURL(raw), 96)
	switch {
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return nil, errors.New("scheme " + strconv.Quote(secret.Excerpt(u.Scheme, 16)) + " is not redis:// or rediss:// (redis://[:password@]host:6379[/db])")
	case u.Opaque != "" || u.Hostname() == "":
		return nil, errors.New(strconv.Quote(shown) + " has no host (redis://[:password@]host:6379[/db])")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New(strconv.Quote(shown) + ": query parameters and fragments are not supported")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("port " + strconv.Quote(secret.Excerpt(p, 16)) + " is not 1-65535")
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 || strings.Contains(db, "/") {
			return nil, errors.New("database " + strconv.Quote(secret.Excerpt(db, 16)) + " is not a number 0 or more (redis://host:6379/0)")
		}
	}
	return u, nil
}
