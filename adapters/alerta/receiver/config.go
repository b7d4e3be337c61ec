package receiver

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
)

// SourceType is the registered source type of the Alerta receiver.
const SourceType = "alerta"

// Defaults and bounds of Config.
const (
	// DefaultMaxBodyBytes bounds a request body. Alerta's bodies are typically
	// under 2 KiB; 16 KiB leaves room for large attributes while an alert's event
	// stays far below the store's default max_event_bytes (256 KiB).
	DefaultMaxBodyBytes = 16 << 10
	// MaxMaxBodyBytes is the largest max_body_bytes: a body is buffered whole
	// (the Hawk payload hash covers it), so it must stay small on a gateway.
	MaxMaxBodyBytes = 1 << 20
	// DefaultMaxAlerts bounds the alerts the receiver keeps.
	DefaultMaxAlerts = 10000
	// MaxMaxAlerts is the largest max_alerts, the persisted table's bound
	// (adapters.MaxTableEntries).
	MaxMaxAlerts = 100000
	// DefaultMaxStateBytes bounds the memory of the receiver's alerts and
	// heartbeats (alerta.Book.SetMaxBytes); the table keeps a copy of the alerts'
	// records, so the receiver's state takes about twice it.
	DefaultMaxStateBytes = 16 << 20
	// MaxMaxStateBytes is the largest max_state_bytes: twice it is half of a
	// 512 MB gateway.
	MaxMaxStateBytes = 256 << 20
	// stateBodyFactor is how many largest bodies max_state_bytes must hold at the
	// least: heartbeats get an eighth of it, and the largest heartbeat must fit.
	stateBodyFactor = 8
	// DefaultPublishTimeout bounds how long a request waits for its event to be
	// settled and the alert's record to be durable.
	DefaultPublishTimeout = 10 * time.Second
	// DefaultAlertTimeout is Alerta's ALERT_TIMEOUT: an alert sent without a timeout
	// gets this many seconds.
	DefaultAlertTimeout = 86400
)

// Config configures the alerta source: an Alerta 9.1 API (the part a forwarding
// Alerta server, Alerta's command-line client and other edgerelay gateways use)
// served under the path of base_url.
type Config struct {
	// BaseURL is this node's Alerta identity: the name it appends to X-Alerta-Loop
	// and recognises there (Alerta's BASE_URL), and the public URL of its API. The
	// API is served under its path: base_url http://gw:8977/alerta serves POST
	// /alerta/alert, PUT /alerta/alert/{id}/action and so on. Hawk signatures are
	// verified against its host and port (see HawkHostFromRequest). Required: an
	// absolute http or https URL without user, query, fragment or trailing slash,
	// written exactly as the peers that forward to this node write it.
	BaseURL string `yaml:"base_url"`
	// ListenerConfig is `listen:` and `tls:`: empty means the API is mounted on the
	// daemon's HTTP server (http.listen); an address gives the source a listener of
	// its own, with optional TLS and client certificates.
	adapters.ListenerConfig `yaml:",inline"`
	// HawkHostFromRequest verifies Hawk signatures against the request's Host
	// header (and the port it names, else 80 or 443 by the connection) instead of
	// base_url's host and port, as an Alerta server without BASE_URL does. False
	// (the default) suits a node reached under one public name.
	HawkHostFromRequest bool `yaml:"hawk_host_from_request"`
	// Auth lists the accepted credentials. None means that only clients on a
	// loopback address are served (403 for every other).
	Auth AuthConfig `yaml:"auth"`
	// MaxBodyBytes bounds a request body; a larger one is answered 413 without
	// being read. Zero means 16 KiB; at most 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxAlerts bounds the alerts the receiver keeps (and persists). Beyond it, a
	// new alert evicts the oldest closed one, else the oldest. Zero means 10000; at
	// most 100000.
	MaxAlerts int `yaml:"max_alerts"`
	// MaxStateBytes bounds, in bytes, what the receiver keeps in memory of its
	// alerts (each one's record with its last body, alerta.Stored.Size) and its
	// heartbeats: alerts take up to seven eighths of it, heartbeats one eighth.
	// Beyond it a new or grown alert evicts the oldest closed one, else the oldest,
	// and a heartbeat the least recently received; one larger than its whole part
	// is answered 413. The table holds a copy of the alerts' records, so the state
	// takes about twice it. Zero means 16 MiB; at most 256 MiB, at least eight
	// times max_body_bytes.
	MaxStateBytes int64 `yaml:"max_state_bytes"`
	// Environments, when set, is the allow-list of alert environments (Alerta's
	// reject plugin, ALLOWED_ENVIRONMENTS): each entry is a regular expression
	// that must match an environment whole. Another environment is answered 403.
	// Empty accepts every environment.
	Environments []string `yaml:"environments"`
	// PublishTimeout bounds how long a request waits until its event is settled
	// and the alert's record durable; after it the request is answered 503. Zero
	// means 10s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// OriginDefault is the origin of an alert sent without one. Empty means
	// "edgerelay/<host name>" (Alerta uses "<program>/<host name>").
	OriginDefault string `yaml:"origin_default"`
}

// AuthConfig lists the credentials the receiver accepts (§4.1). Each grants the
// whole API: the receiver has no scopes.
type AuthConfig struct {
	// Hawk lists Hawk (HMAC) credentials, Alerta's HMAC_AUTH_CREDENTIALS.
	Hawk []HawkCredential `yaml:"hawk"`
	// APIKeys are accepted as "Authorization: Key <key>", "X-API-Key: <key>" or
	// "?api-key=<key>". ${ENV} in the file is expanded by the loader.
	APIKeys []httpc.Secret `yaml:"api_keys"`
	// APIKeyFiles name files holding one API key each (surrounding white space
	// trimmed).
	APIKeyFiles []string `yaml:"api_key_files"`
	// Basic lists users accepted with HTTP Basic authentication.
	Basic []BasicUser `yaml:"basic"`
	// Bearer lists tokens accepted as "Authorization: Bearer <token>". They are
	// opaque shared secrets compared in constant time, not JWTs (Alerta's own
	// bearer tokens are not implemented).
	Bearer []httpc.Secret `yaml:"bearer"`
}

// HawkCredential is one Hawk identity: its id and its key, given in exactly one of
// key, key_file and key_env.
type HawkCredential struct {
	// ID is the Hawk id (Alerta's "key"), a UUID by Alerta's advice.
	ID string `yaml:"id"`
	// Key is the shared secret (Alerta's "secret"), used as its bytes.
	Key httpc.Secret `yaml:"key"`
	// KeyFile is a file holding the secret (trimmed).
	KeyFile string `yaml:"key_file"`
	// KeyEnv names an environment variable holding the secret.
	KeyEnv string `yaml:"key_env"`
	// Algorithm is sha256 (empty means sha256), sha384 or sha512. Alerta's
	// forwarder always signs with sha256.
	Algorithm string `yaml:"algorithm"`
}

// BasicUser is one HTTP Basic user: its name and its password, given in exactly one
// of password, password_file and password_env.
type BasicUser struct {
	// Username is the user name.
	Username string `yaml:"username"`
	// Password is the password.
	Password httpc.Secret `yaml:"password"`
	// PasswordFile is a file holding the password (trimmed).
	PasswordFile string `yaml:"password_file"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:   DefaultMaxBodyBytes,
		MaxAlerts:      DefaultMaxAlerts,
		MaxStateBytes:  DefaultMaxStateBytes,
		PublishTimeout: DefaultPublishTimeout,
	}
}

// LoopIdentity returns base_url: the name this node appends to X-Alerta-Loop. It
// implements adapters.LoopIdentifier, so an alerta sink of the same node forwards
// under this identity.
func (c *Config) LoopIdentity() string { return c.BaseURL }

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxAlerts == 0 {
		c.MaxAlerts = DefaultMaxAlerts
	}
	if c.MaxStateBytes == 0 {
		c.MaxStateBytes = DefaultMaxStateBytes
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.OriginDefault == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "localhost"
		}
		c.OriginDefault = "edgerelay/" + host
	}
	return c
}

// Validate reports every problem at once, each naming its YAML key.
func (c *Config) Validate() error {
	var errs []error
	if _, err := parseBaseURL(c.BaseURL); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBodyBytes < 0 || c.MaxBodyBytes > MaxMaxBodyBytes {
		errs = append(errs, fmt.Errorf("max_body_bytes: must be between 1 and %d, got %d", MaxMaxBodyBytes, c.MaxBodyBytes))
	}
	if c.MaxAlerts < 0 || c.MaxAlerts > MaxMaxAlerts {
		errs = append(errs, fmt.Errorf("max_alerts: must be between 1 and %d, got %d", MaxMaxAlerts, c.MaxAlerts))
	}
	body := c.MaxBodyBytes
	if body == 0 {
		body = DefaultMaxBodyBytes
	}
	switch st := c.MaxStateBytes; {
	case st < 0 || st > MaxMaxStateBytes:
		errs = append(errs, fmt.Errorf("max_state_bytes: must be between 1 and %d (256 MiB), got %d", int64(MaxMaxStateBytes), st))
	case st > 0 && body > 0 && body <= MaxMaxBodyBytes && st < stateBodyFactor*body:
		errs = append(errs, fmt.Errorf("max_state_bytes: must be at least %d times max_body_bytes (%d), heartbeats get an eighth of it, got %d", stateBodyFactor, stateBodyFactor*body, st))
	}
	if c.PublishTimeout < 0 {
		errs = append(errs, fmt.Errorf("publish_timeout: must not be negative, got %s", c.PublishTimeout))
	}
	if _, err := alerta.NewEnvPolicy(c.Environments); err != nil {
		errs = append(errs, fmt.Errorf("environments: %w", err))
	}
	errs = append(errs, c.Auth.validate())
	errs = append(errs, c.ListenerConfig.Validate())
	return errors.Join(errs...)
}

// validate checks the credentials' shapes; NewSource reads the files and
// variables.
func (a *AuthConfig) validate() error {
	var errs []error
	ids := map[string]bool{}
	for i, h := range a.Hawk {
		k := fmt.Sprintf("auth.hawk[%d]", i)
		switch {
		case h.ID == "":
			errs = append(errs, fmt.Errorf("%s.id: required", k))
		case ids[h.ID]:
			errs = append(errs, fmt.Errorf("%s.id: %q is listed twice", k, h.ID))
		case !printable(h.ID):
			errs = append(errs, fmt.Errorf("%s.id: must be printable ASCII without spaces or quotes", k))
		}
		ids[h.ID] = true
		errs = append(errs, oneOf(k, "key", h.Key != "", h.KeyFile != "", h.KeyEnv != ""))
		switch h.Algorithm {
		case "", "sha256", "sha384", "sha512":
		default:
			errs = append(errs, fmt.Errorf("%s.algorithm: must be sha256, sha384 or sha512, got %q", k, h.Algorithm))
		}
	}
	for i, s := range a.APIKeys {
		if s == "" {
			errs = append(errs, fmt.Errorf("auth.api_keys[%d]: empty (is its environment variable set?)", i))
		} else if !printable(s.Reveal()) {
			errs = append(errs, fmt.Errorf("auth.api_keys[%d]: must be printable ASCII without spaces", i))
		}
	}
	for i, f := range a.APIKeyFiles {
		if f == "" {
			errs = append(errs, fmt.Errorf("auth.api_key_files[%d]: empty file name", i))
		}
	}
	users := map[string]bool{}
	for i, b := range a.Basic {
		k := fmt.Sprintf("auth.basic[%d]", i)
		switch {
		case b.Username == "":
			errs = append(errs, fmt.Errorf("%s.username: required", k))
		case strings.Contains(b.Username, ":"):
			errs = append(errs, fmt.Errorf("%s.username: must not contain ':'", k))
		case users[b.Username]:
			errs = append(errs, fmt.Errorf("%s.username: %q is listed twice", k, b.Username))
		}
		users[b.Username] = true
		errs = append(errs, oneOf(k, "password", b.Password != "", b.PasswordFile != "", b.PasswordEnv != ""))
	}
	for i, s := range a.Bearer {
		if s == "" {
			errs = append(errs, fmt.Errorf("auth.bearer[%d]: empty (is its environment variable set?)", i))
		} else if !printable(s.Reveal()) {
			errs = append(errs, fmt.Errorf("auth.bearer[%d]: must be printable ASCII without spaces", i))
		}
	}
	return errors.Join(errs...)
}

// empty reports whether no credential is configured.
func (a *AuthConfig) empty() bool {
	return len(a.Hawk) == 0 && len(a.APIKeys) == 0 && len(a.APIKeyFiles) == 0 && len(a.Basic) == 0 && len(a.Bearer) == 0
}

// oneOf requires exactly one of name, name_file and name_env under key k.
func oneOf(k, name string, value, file, env bool) error {
	n := 0
	for _, b := range []bool{value, file, env} {
		if b {
			n++
		}
	}
	switch {
	case n == 0:
		return fmt.Errorf("%s: one of %s, %s_file and %s_env is required", k, name, name, name)
	case n > 1:
		return fmt.Errorf("%s: set only one of %s, %s_file and %s_env", k, name, name, name)
	}
	return nil
}

// printable reports whether s is non-empty printable ASCII without spaces or
// quotes: a credential a header carries as is.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\' {
			return false
		}
	}
	return s != ""
}

// parseBaseURL checks base_url and returns it parsed.
func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("base_url: required (this node's Alerta identity, e.g. http://gw-hall3:8977/alerta)")
	}
	if strings.ContainsRune(raw, ',') || strings.IndexFunc(raw, unicode.IsSpace) >= 0 {
		// base_url is one element of X-Alerta-Loop, a comma-separated list whose
		// elements are trimmed: with a comma or a space in it, the strict loop
		// check would never find this node in the header. The value is not
		// echoed: it may carry a user and password, refused only further down.
		return nil, errors.New("base_url: must not contain ',' or white space (it is one element of the X-Alerta-Loop list)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("base_url: %q is not a URL", raw)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("base_url: must be an absolute http or https URL, got %q", raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("base_url: %q names no host", raw)
	case u.User != nil:
		return nil, errors.New("base_url: must not carry a user or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "?#"):
		return nil, fmt.Errorf("base_url: must have no query or fragment, got %q", raw)
	case strings.HasSuffix(u.Path, "/"):
		// A peer appends "/alert" to the URL verbatim, as Alerta does: with a
		// trailing slash it would request "…//alert".
		return nil, fmt.Errorf("base_url: must not end with '/' (peers append /alert to it), got %q", raw)
	case u.RawPath != "" || strings.ContainsAny(u.Path, "{}*% \t"):
		return nil, fmt.Errorf("base_url: the path %q must be plain (no escapes, spaces or pattern characters)", u.Path)
	}
	if p := u.Port(); p != "" {
		if _, err := portOf(u); err != nil {
			return nil, fmt.Errorf("base_url: port %q is not a number from 1 to 65535", p)
		}
	}
	return u, nil
}

//go:embed sample.yaml
var sample string

func init() {
	adapters.RegisterSource(SourceType, adapters.SourceSpec[Config]{
		Summary:  "an Alerta 9.1 API (POST /alert, actions, deletes, heartbeats) under base_url's path, for forwarding Alerta servers and gateways",
		Sample:   sample,
		Defaults: DefaultConfig,
		New: func(cfg Config, d adapters.Deps) (adapters.Source, error) {
			return NewSource(cfg, d)
		},
		// The sender waits on each answer (Alerta's forwarder does, synchronously):
		// it gets it once the event is stored, never after a slow destination
		// delivered it within store.deliver_window.
		Prompt: true,
	})
}

var _ adapters.LoopIdentifier = (*Config)(nil)
