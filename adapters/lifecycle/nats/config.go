// Package nats publishes edgerelay's lifecycle events to NATS, on core NATS or
// with JetStream acknowledgements to the stream EDGE_EVENTS. It registers the
// lifecycle adapter "nats"; see README.md for the settings and the wire format.
package nats

import (
	"errors"
	"net/url"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// The environment variables of the adapter, as the seed names them.
const (
	EnvURLs      = "EVENT_BROKER_NATS_URLS"
	EnvJetStream = "EVENT_BROKER_NATS_JETSTREAM"
	EnvToken     = "EVENT_BROKER_NATS_TOKEN"
	EnvUsername  = "EVENT_BROKER_NATS_USERNAME"
	EnvPassword  = "EVENT_BROKER_NATS_PASSWORD"
	EnvNKeySeed  = "EVENT_BROKER_NATS_NKEY_SEED"
	EnvJWT       = "EVENT_BROKER_NATS_JWT"
)

// DefaultURL is the server used when no URL is configured.
const DefaultURL = "nats://127.0.0.1:4222"

func init() {
	lifecycle.Register(lifecycle.Spec{
		Name:      "nats",
		Variables: []string{EnvURLs, EnvJetStream, EnvToken, EnvUsername, EnvPassword, EnvNKeySeed, EnvJWT},
		NewConfig: func() lifecycle.Config { return NewConfig() },
	})
}

// Config configures the nats lifecycle publisher (YAML events.nats).
type Config struct {
	// URLs are the servers, nats:// or tls:// (a cluster's seed list). Empty means
	// DefaultURL.
	URLs []string `yaml:"urls"`
	// JetStream publishes with acknowledgement to the stream EDGE_EVENTS, created
	// when missing. False means core NATS (publish, then a PING round trip).
	JetStream bool `yaml:"jetstream"`
	// Token authenticates with a token. It wins over every other credential.
	Token secret.Value `yaml:"token"`
	// Username and Password authenticate with a user name and password; both or
	// neither when they are used, that is when no token, JWT or nkey seed is set.
	Username string       `yaml:"username"`
	Password secret.Value `yaml:"password"`
	// NKeySeed is a user nkey seed (SU…): alone for nkey authentication, or with JWT
	// for decentralised (JWT) authentication.
	NKeySeed secret.Value `yaml:"nkey_seed"`
	// JWT is a user JWT, signed by the account; it needs NKeySeed unless a token
	// wins.
	JWT secret.Value `yaml:"jwt"`
}

// NewConfig returns the defaults: DefaultURL, core NATS, no credentials.
func NewConfig() *Config { return &Config{URLs: []string{DefaultURL}} }

// ApplyEnv overrides the settings with the EVENT_BROKER_NATS_* variables env has.
func (c *Config) ApplyEnv(env lifecycle.Env) error {
	lifecycle.List(env, EnvURLs, &c.URLs)
	err := lifecycle.Bool(env, EnvJetStream, &c.JetStream)
	for _, s := range []struct {
		name string
		dst  *secret.Value
	}{{EnvToken, &c.Token}, {EnvPassword, &c.Password}, {EnvNKeySeed, &c.NKeySeed}, {EnvJWT, &c.JWT}} {
		if v, ok := env(s.name); ok {
			secret.Register(v)
			*s.dst = secret.Value(v)
		}
	}
	lifecycle.String(env, EnvUsername, &c.Username)
	return err
}

// Auth is the kind of credentials a configuration uses.
type Auth string

// The kinds of credentials, in the order of precedence.
const (
	AuthNone     Auth = "none"
	AuthToken    Auth = "token"
	AuthJWT      Auth = "jwt"
	AuthNKey     Auth = "nkey"
	AuthPassword Auth = "user_password"
)

// Auth returns the credentials that are used when several are set: a token, then
// a JWT with its nkey seed, then an nkey seed alone, then a user name and password.
// URL userinfo (nats://user:pass@host) is used only when none is set (AuthNone);
// otherwise it is removed from the URLs before connecting.
func (c *Config) Auth() Auth {
	switch {
	case c.Token != "":
		return AuthToken
	case c.JWT != "" && c.NKeySeed != "":
		return AuthJWT
	case c.NKeySeed != "":
		return AuthNKey
	case c.Username != "" || c.Password != "":
		return AuthPassword
	}
	return AuthNone
}

// ignored returns the variables of credentials that are set but not used.
func (c *Config) ignored() []string {
	var out []string
	a := c.Auth()
	if a != AuthJWT && a != AuthNKey && c.NKeySeed != "" {
		out = append(out, EnvNKeySeed)
	}
	if a != AuthJWT && c.JWT != "" {
		out = append(out, EnvJWT)
	}
	if a != AuthPassword && (c.Username != "" || c.Password != "") {
		out = append(out, EnvUsername, EnvPassword)
	}
	if a != AuthNone && c.urlUserinfo() {
		out = append(out, EnvURLs+" userinfo")
	}
	return out
}

// urlUserinfo reports whether a URL carries credentials (nats://user:pass@host).
func (c *Config) urlUserinfo() bool {
	for _, raw := range c.URLs {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			return true
		}
	}
	return false
}

// Validate reports every setting that cannot work. It never quotes a credential.
func (c *Config) Validate() error {
	var errs []error
	if len(c.URLs) == 0 {
		errs = append(errs, lifecycle.Problem(EnvURLs, "events.nats.urls", "at least one server URL is required"))
	}
	for _, raw := range c.URLs {
		if err := checkURL(raw); err != nil {
			errs = append(errs, lifecycle.Problem(EnvURLs, "events.nats.urls", "%q: %v", lifecycle.Excerpt(secret.RedactURL(raw)), err))
		}
	}
	// Only the credential that is used must be complete and well-formed; the ones
	// it wins over are ignored, with Build's warning. A JWT without its seed is
	// refused when no token wins: the JWT is what was meant, above the others.
	switch {
	case c.Token != "":
	case c.JWT != "" && c.NKeySeed == "":
		errs = append(errs, lifecycle.Problem(EnvNKeySeed, "events.nats.nkey_seed", "is required with %s (the seed signs the server's challenge)", EnvJWT))
	case c.JWT != "" || c.NKeySeed != "":
		if c.JWT != "" && strings.Count(strings.TrimSpace(c.JWT.Reveal()), ".") != 2 {
			errs = append(errs, lifecycle.Problem(EnvJWT, "events.nats.jwt", "is not a JWT (three dot-separated parts)"))
		}
		if err := checkSeed(c.NKeySeed.Reveal()); err != nil {
			errs = append(errs, lifecycle.Problem(EnvNKeySeed, "events.nats.nkey_seed", "%v", err))
		}
	case c.Username != "" && c.Password == "":
		errs = append(errs, lifecycle.Problem(EnvPassword, "events.nats.password", "is required with %s", EnvUsername))
	case c.Password != "" && c.Username == "":
		errs = append(errs, lifecycle.Problem(EnvUsername, "events.nats.username", "is required with %s", EnvPassword))
	}
	return errors.Join(errs...)
}

func checkURL(raw string) error {
	u, err := secret.ParseURL(raw)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "nats", "tls":
	default:
		return errors.New("the scheme must be nats:// or tls://")
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	return nil
}

// checkSeed checks that seed is a user nkey seed; its error never holds the seed.
func checkSeed(seed string) error {
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(seed)))
	if err != nil {
		return errors.New("is not an nkey seed")
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return errors.New("is not a user nkey seed (it starts with SU)")
	}
	return nil
}

// Secrets returns the credentials and the URLs' userinfo.
func (c *Config) Secrets() []string {
	var out []string
	for _, v := range []secret.Value{c.Token, c.Password, c.NKeySeed, c.JWT} {
		if v != "" {
			out = append(out, v.Reveal())
		}
	}
	for _, raw := range c.URLs {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && p != "" {
				out = append(out, p)
			} else if n := u.User.Username(); n != "" {
				out = append(out, n) // nats://TOKEN@host
			}
		}
	}
	return out
}

// Build makes the publisher; it does not dial.
func (c *Config) Build(d lifecycle.Deps) (lifecycle.Publisher, error) {
	if ig := c.ignored(); len(ig) > 0 && d.Log != nil {
		msg := "nats: several credentials are set; using one, ignoring the others"
		if c.Auth() != AuthNone && c.urlUserinfo() {
			msg += " (the URLs' userinfo is removed before connecting)"
		}
		d.Log.Warn(msg, "auth", string(c.Auth()), "ignored", strings.Join(ig, ","))
	}
	return New(*c, d), nil
}
