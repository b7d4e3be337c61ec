package amqp091

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Name is the adapter's EVENT_BROKER_ADAPTER value; Alias is accepted as well.
const (
	Name  = "amqp091"
	Alias = "rabbitmq"
)

// The environment variables of the seed.
const (
	VarURL = "EVENT_BROKER_RABBITMQ_URL"
	VarSSL = "EVENT_BROKER_RABBITMQ_SSL"
)

// The YAML keys, for error messages.
const (
	keyURL     = "events." + Name + ".url"
	keyURLFile = "events." + Name + ".url_file"
	keyURLEnv  = "events." + Name + ".url_env"
	keySSL     = "events." + Name + ".ssl"
)

func init() {
	lifecycle.Register(lifecycle.Spec{
		Name:      Name,
		Aliases:   []string{Alias},
		Variables: []string{VarURL, VarSSL},
		NewConfig: func() lifecycle.Config { return NewConfig() },
	})
}

// Config configures the AMQP 0-9-1 lifecycle publisher (YAML block events.amqp091).
type Config struct {
	// URL is the broker, amqp://user:password@host:5672/vhost (amqps:// for TLS),
	// with RabbitMQ's URI query parameters (cacertfile, certfile, keyfile,
	// server_name_indication, auth_mechanism, heartbeat, connection_timeout).
	// Required, here or in url_file or url_env. It holds the password: it is
	// registered as a secret and printed only without its userinfo.
	URL string `yaml:"url"`
	// URLFile is a file holding the URL (surrounding white space trimmed).
	URLFile string `yaml:"url_file"`
	// URLEnv names another environment variable holding the URL.
	URLEnv string `yaml:"url_env"`
	// SSL forces TLS: an amqp:// URL is dialled as amqps://, on the port the URL
	// gives or else 5671. False leaves the choice to the URL's scheme (an amqps://
	// URL is TLS either way).
	SSL bool `yaml:"ssl"`

	env      lifecycle.Env // from ApplyEnv, for url_env; nil: the process's
	resolved string        // the URL from url, url_file or url_env, set by resolve
	done     bool          // resolve ran
	err      error         // what resolve found
}

// NewConfig returns a Config with the defaults (no URL, SSL off).
func NewConfig() *Config { return &Config{} }

// ApplyEnv reads EVENT_BROKER_RABBITMQ_URL and EVENT_BROKER_RABBITMQ_SSL. A URL from
// the environment replaces url, url_file and url_env.
func (c *Config) ApplyEnv(env lifecycle.Env) error {
	if v, ok := env(VarURL); ok {
		c.URL, c.URLFile, c.URLEnv = v, "", ""
		secret.RegisterURL(v)
	}
	c.env, c.done = env, false
	return lifecycle.Bool(env, VarSSL, &c.SSL)
}

// resolve finds the URL once: from url, url_file or url_env (one of them). Only
// the URL's userinfo is registered as a secret, not the whole URL, so that messages
// can show the URL without it.
func (c *Config) resolve() (string, error) {
	if c.done {
		return c.resolved, c.err
	}
	c.done = true
	n := 0
	for _, s := range []string{c.URL, c.URLFile, c.URLEnv} {
		if s != "" {
			n++
		}
	}
	v := strings.TrimSpace(c.URL)
	switch {
	case n > 1:
		c.err = errors.New("the URL is given more than one way: set only one of url, url_file and url_env")
	case c.URLFile != "":
		b, err := secret.ReadBounded(c.URLFile, secret.MaxSecretFile)
		if err != nil {
			c.err = fmt.Errorf("read the URL file: %w", err)
		}
		v = strings.TrimSpace(string(b))
		secret.RegisterURL(v)
		if c.err == nil && v == "" {
			c.err = fmt.Errorf("the URL file %s is empty", c.URLFile)
		}
	case c.URLEnv != "":
		lookup := c.env
		if lookup == nil {
			lookup = lifecycle.OSEnv
		}
		raw, ok := lookup(c.URLEnv)
		v = strings.TrimSpace(raw)
		secret.RegisterURL(v)
		if !ok || v == "" {
			c.err = fmt.Errorf("environment variable %s is not set or empty", c.URLEnv)
		}
	}
	if c.err != nil {
		c.err = secret.Scrub(c.err)
		return "", c.err
	}
	secret.RegisterURL(v)
	c.resolved = v
	return v, nil
}

// Validate reports every setting that cannot work, naming its variable and key.
func (c *Config) Validate() error {
	raw, err := c.resolve()
	if err != nil {
		key := keyURL
		switch {
		case c.URLFile != "":
			key = keyURLFile
		case c.URLEnv != "":
			key = keyURLEnv
		}
		return lifecycle.Problem(VarURL, key, "%v", err)
	}
	if raw == "" {
		return lifecycle.Problem(VarURL, keyURL, "required: the broker as amqp://user:password@host:5672/vhost (amqps:// for TLS)")
	}
	uri, err := parse(raw)
	if err != nil {
		return lifecycle.Problem(VarURL, keyURL, "%v", err)
	}
	var errs []error
	tls := uri.Scheme == "amqps" || c.SSL
	if !tls && (uri.CACertFile != "" || uri.CertFile != "" || uri.KeyFile != "") {
		errs = append(errs, lifecycle.Problem(VarSSL, keySSL,
			"the URL names TLS files (cacertfile, certfile, keyfile) but TLS is off: use amqps:// or set %s=true", VarSSL))
	}
	if (uri.CertFile == "") != (uri.KeyFile == "") {
		errs = append(errs, lifecycle.Problem(VarURL, keyURL, "certfile and keyfile go together (mutual TLS needs both)"))
	}
	for _, f := range []struct{ param, path string }{{"cacertfile", uri.CACertFile}, {"certfile", uri.CertFile}, {"keyfile", uri.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, lifecycle.Problem(VarURL, keyURL, "%s %s: %v", f.param, f.path, errors.Unwrap(err)))
		}
	}
	for _, m := range uri.AuthMechanism {
		switch strings.ToLower(m) {
		case "plain", "amqplain":
		case "external":
			if !tls {
				errs = append(errs, lifecycle.Problem(VarURL, keyURL, "auth_mechanism=external needs TLS with a client certificate"))
			} else if uri.CertFile == "" {
				errs = append(errs, lifecycle.Problem(VarURL, keyURL, "auth_mechanism=external needs certfile and keyfile"))
			}
		default:
			errs = append(errs, lifecycle.Problem(VarURL, keyURL, "auth_mechanism %q is not plain, amqplain or external", lifecycle.Excerpt(m)))
		}
	}
	return errors.Join(errs...)
}

// parse checks raw as an AMQP URI; its errors never hold the URL.
func parse(raw string) (amqp.URI, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return amqp.URI{}, secret.URLError(err)
	}
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return amqp.URI{}, fmt.Errorf("scheme %q is not amqp or amqps", lifecycle.Excerpt(u.Scheme))
	}
	uri, err := amqp.ParseURI(raw)
	if err != nil {
		return uri, secret.Scrub(err, uri.Password)
	}
	if uri.Port <= 0 || uri.Port > 65535 {
		return uri, errors.New("the port is not 1-65535")
	}
	return uri, nil
}

// dialURL returns the URL to dial: with SSL, an amqp:// URL becomes amqps:// (the
// port, when the URL has none, then defaults to 5671).
func (c *Config) dialURL(raw string) string {
	if c.SSL && strings.HasPrefix(strings.ToLower(raw), "amqp://") {
		return "amqps://" + raw[len("amqp://"):]
	}
	return raw
}

// Secrets returns the URL's password (and user:password), for redaction.
func (c *Config) Secrets() []string {
	raw, _ := c.resolve()
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if i := strings.LastIndex(raw, "@"); i >= 0 { // unparsable: all that precedes the host
			return []string{raw[:i]}
		}
		return nil
	}
	if p, ok := u.User.Password(); ok && p != "" {
		return []string{p, u.User.Username() + ":" + p}
	}
	return nil
}

// Build makes the publisher; it does not dial.
func (c *Config) Build(d lifecycle.Deps) (lifecycle.Publisher, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	raw, _ := c.resolve()
	return newPublisher(c.dialURL(raw), c.Secrets(), d), nil
}
