package forward

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Config configures the alerta sink: one forwarding destination (an Alerta server or
// another edgerelay gateway) as one entry of Alerta's FWD_DESTINATIONS. The README
// documents every key.
type Config struct {
	// URL is the remote's BASE_URL, used verbatim as Alerta uses it: the request URL
	// is URL + the path ("http://hq:8080/api" → POST /api/alert), and the loop skip
	// compares it with X-Alerta-Loop. Required; http or https, no user information.
	URL string `yaml:"url"`
	// Forward lists Alerta's filter words (§1.3): "*", "alerts", "actions", an action
	// name, "delete", and edgerelay's "heartbeats". Required, non-empty.
	Forward []string `yaml:"forward"`
	// Hawk signs every request with Hawk (Alerta's HMAC auth).
	Hawk HawkConfig `yaml:"hawk"`
	// APIKey is sent as "Authorization: Key <key>". At most one of api_key,
	// api_key_file and api_key_env.
	APIKey     httpc.Secret `yaml:"api_key"`
	APIKeyFile string       `yaml:"api_key_file"`
	APIKeyEnv  string       `yaml:"api_key_env"`
	// Username and Password are sent as HTTP Basic auth. The password may come from
	// a file or a variable instead.
	Username     string       `yaml:"username"`
	Password     httpc.Secret `yaml:"password"`
	PasswordFile string       `yaml:"password_file"`
	PasswordEnv  string       `yaml:"password_env"`
	// Token is sent as "Authorization: Bearer <token>".
	Token     httpc.Secret `yaml:"token"`
	TokenFile string       `yaml:"token_file"`
	TokenEnv  string       `yaml:"token_env"`
	// Timeout bounds one request, answer included. Zero means 5s, as Alerta's.
	Timeout time.Duration `yaml:"timeout"`
	// TLS configures server verification and the client certificate.
	TLS httpc.TLSConfig `yaml:"tls"`
	// Origin is this node's loop identity (X-Alerta-Loop) when it has no alerta
	// source; empty takes the base_url of the first alerta source.
	Origin string `yaml:"origin"`
	// Paths are the request paths after URL, for receivers that are not Alerta.
	// "{id}" is the alert id, path-escaped. Empty fields take Alerta's paths.
	Paths Paths `yaml:"paths"`
	// ResendOn404 answers a 404 to an action by posting the alert (from the event's
	// alerta.resend body) and then the action again, when Forward takes alerts (the
	// resend is an alert, which an actions-only destination must not get). Nil means
	// true.
	ResendOn404 *bool `yaml:"resend_on_404"`
	// ResendDeleteOn404 answers a 404 to a delete the same way: the alert is posted,
	// then the delete sent again. Off by default: re-creating an alert only to delete
	// it fires the destination's notifications for it (a page for an alert being
	// removed), and a delete delivered twice after a crash would do so every time. Turn
	// it on where the destination is a gateway that may have lost the alert while the
	// nodes behind it still hold it, so that the delete reaches them.
	ResendDeleteOn404 bool `yaml:"resend_delete_on_404"`
	// Circuit is the destination's circuit breaker.
	Circuit CircuitConfig `yaml:"circuit"`
	// MaxInFlight bounds concurrent requests. Zero means 4.
	MaxInFlight int `yaml:"max_in_flight"`
	// Convert sets the defaults of the mapping of events that are not the
	// federation's (no alerta.op) to Alerta (adapters/alerta/convert.md).
	Convert alerta.ConvertOptions `yaml:"convert"`
}

// HawkConfig is the `hawk:` block: Hawk credentials as the remote's
// HMAC_AUTH_CREDENTIALS has them.
type HawkConfig struct {
	// ID is the credentials id (Alerta's "key"), sent in the header.
	ID string `yaml:"id"`
	// Key is the shared secret (Alerta's "secret"), used as its bytes. At most one
	// of key, key_file and key_env.
	Key     httpc.Secret `yaml:"key"`
	KeyFile string       `yaml:"key_file"`
	KeyEnv  string       `yaml:"key_env"`
	// Algorithm is sha256 (the default, and the only one Alerta's forwarder
	// speaks), sha384 or sha512.
	Algorithm string `yaml:"algorithm"`
}

// set reports whether any hawk key is given.
func (h *HawkConfig) set() bool {
	return h.ID != "" || h.Key != "" || h.KeyFile != "" || h.KeyEnv != "" || h.Algorithm != ""
}

// Paths are the request path templates, appended to the URL. Action and Delete
// must hold "{id}"; Alert and Heartbeat may not.
type Paths struct {
	// Alert is where alerts are posted. Empty means "/alert".
	Alert string `yaml:"alert"`
	// Action is where actions are put. Empty means "/alert/{id}/action".
	Action string `yaml:"action"`
	// Delete is what a delete deletes. Empty means "/alert/{id}".
	Delete string `yaml:"delete"`
	// Heartbeat is where heartbeats are posted. Empty means "/heartbeat".
	Heartbeat string `yaml:"heartbeat"`
}

// CircuitConfig is the `circuit:` block.
type CircuitConfig struct {
	// Failures is how many consecutive retryable failures open the circuit. Zero
	// means 5.
	Failures int `yaml:"failures"`
	// OpenFor is how long the circuit stays open before one probe. Zero means 30s.
	OpenFor time.Duration `yaml:"open_for"`
}

// Defaults applied to zero Config fields, and bounds.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxInFlight = 4
	maxMaxInFlight     = 64
	DefaultAlertPath   = "/alert"
	DefaultActionPath  = "/alert/{id}/action"
	DefaultDeletePath  = "/alert/{id}"
	DefaultHeartbeat   = "/heartbeat"
	DefaultFailures    = 5
	DefaultOpenFor     = 30 * time.Second
)

// ErrNoOrigin is UseLoopIdentity's refusal of a forwarding node without a loop
// identity.
var ErrNoOrigin = errors.New("origin: this node forwards to Alerta but has no loop identity: set origin or add an alerta source with base_url")

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	t := true
	return Config{
		Timeout:     DefaultTimeout,
		Paths:       Paths{Alert: DefaultAlertPath, Action: DefaultActionPath, Delete: DefaultDeletePath, Heartbeat: DefaultHeartbeat},
		ResendOn404: &t,
		Circuit:     CircuitConfig{Failures: DefaultFailures, OpenFor: DefaultOpenFor},
		MaxInFlight: DefaultMaxInFlight,
	}
}

// withDefaults fills zero fields, so that a Config built in code behaves like one
// decoded over DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	for _, p := range []struct {
		v *string
		d string
	}{
		{&c.Paths.Alert, d.Paths.Alert}, {&c.Paths.Action, d.Paths.Action},
		{&c.Paths.Delete, d.Paths.Delete}, {&c.Paths.Heartbeat, d.Paths.Heartbeat},
	} {
		if *p.v == "" {
			*p.v = p.d
		}
	}
	if c.ResendOn404 == nil {
		c.ResendOn404 = d.ResendOn404
	}
	if c.Circuit.Failures == 0 {
		c.Circuit.Failures = d.Circuit.Failures
	}
	if c.Circuit.OpenFor == 0 {
		c.Circuit.OpenFor = d.Circuit.OpenFor
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.Hawk.set() && c.Hawk.Algorithm == "" {
		c.Hawk.Algorithm = "sha256"
	}
	return c
}

// UseLoopIdentity implements adapters.LoopIdentityUser: an empty origin takes the
// first alerta source's base_url; with neither, the configuration is refused, since
// every peer would send this node's alerts straight back. An inherited identity
// gets the check a configured origin gets in Validate: a comma or a space in it
// would split it into several elements of X-Alerta-Loop, and no peer's strict
// check would find this node there.
func (c *Config) UseLoopIdentity(ids []string) error {
	if c.Origin != "" {
		return nil
	}
	if len(ids) == 0 {
		return ErrNoOrigin
	}
	if strings.ContainsAny(ids[0], ", \t") {
		return fmt.Errorf("origin: the alerta source's base_url %q must not contain commas or spaces (it is an element of X-Alerta-Loop); set origin", ids[0])
	}
	c.Origin = ids[0]
	return nil
}

// Validate reports every problem at once, each naming its YAML key. It reads no files
// and no environment: Connect resolves the secrets and the TLS files. The origin may
// still be empty here: the config loader fills it (UseLoopIdentity) after Validate.
func (c *Config) Validate() error {
	var errs []error
	if err := checkURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	if c.Origin != "" {
		if err := checkURL(c.Origin); err != nil {
			errs = append(errs, fmt.Errorf("origin: %w", err))
		} else if strings.ContainsAny(c.Origin, ", \t") {
			errs = append(errs, errors.New("origin: must not contain commas or spaces (it is an element of X-Alerta-Loop)"))
		}
	}
	if len(c.Forward) == 0 {
		errs = append(errs, errors.New(`forward: at least one filter word is required (e.g. ["alerts", "actions", "delete"])`))
	}
	// Alerta ignores a word it does not know; here a word that is neither Alerta's
	// nor a plausible custom action name ("Alerts", "alert", "all", "ack,close") is
	// refused, since it is a typo that would silently forward nothing.
	if u := alerta.Filter(c.Forward).Unknown(); len(u) > 0 {
		errs = append(errs, fmt.Errorf("forward: %s: not a filter word (*, alerts, actions, delete, heartbeats or an action name such as ack)",
			quoteAll(u)))
	}
	errs = append(errs, c.checkAuth()...)
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must not be negative, got %s", c.Timeout))
	}
	for _, p := range []struct {
		key, v string
		id     bool
	}{{"paths.alert", c.Paths.Alert, false}, {"paths.action", c.Paths.Action, true},
		{"paths.delete", c.Paths.Delete, true}, {"paths.heartbeat", c.Paths.Heartbeat, false}} {
		switch {
		case p.v == "":
		case !strings.HasPrefix(p.v, "/"):
			errs = append(errs, fmt.Errorf("%s: %q must start with /", p.key, p.v))
		case strings.ContainsAny(p.v, " \t\r\n#"):
			errs = append(errs, fmt.Errorf("%s: %q must not contain white space or #", p.key, p.v))
		case p.id && !strings.Contains(p.v, "{id}"):
			errs = append(errs, fmt.Errorf("%s: %q must contain {id}", p.key, p.v))
		case !p.id && strings.Contains(p.v, "{id}"):
			errs = append(errs, fmt.Errorf("%s: %q has no alert id to put in {id}", p.key, p.v))
		}
	}
	if c.Circuit.Failures < 0 {
		errs = append(errs, fmt.Errorf("circuit.failures: must not be negative, got %d", c.Circuit.Failures))
	}
	if c.Circuit.OpenFor < 0 {
		errs = append(errs, fmt.Errorf("circuit.open_for: must not be negative, got %s", c.Circuit.OpenFor))
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > maxMaxInFlight {
		errs = append(errs, fmt.Errorf("max_in_flight: must be between 1 and %d, got %d", maxMaxInFlight, c.MaxInFlight))
	}
	if err := c.Convert.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkAuth checks the auth keys: each secret given at most one way, the hawk block
// complete. Several methods are accepted, as Alerta accepts them, and the first of
// Basic, Hawk, API key, Bearer wins (authMethod).
func (c *Config) checkAuth() []error {
	var errs []error
	one := func(keys string, vals ...string) {
		n := 0
		for _, v := range vals {
			if v != "" {
				n++
			}
		}
		if n > 1 {
			errs = append(errs, fmt.Errorf("%s: set at most one", keys))
		}
	}
	one("hawk.key, hawk.key_file, hawk.key_env", string(c.Hawk.Key), c.Hawk.KeyFile, c.Hawk.KeyEnv)
	one("api_key, api_key_file, api_key_env", string(c.APIKey), c.APIKeyFile, c.APIKeyEnv)
	one("password, password_file, password_env", string(c.Password), c.PasswordFile, c.PasswordEnv)
	one("token, token_file, token_env", string(c.Token), c.TokenFile, c.TokenEnv)
	if c.Hawk.set() {
		if c.Hawk.ID == "" {
			errs = append(errs, errors.New("hawk.id: required"))
		} else if !hawk.ValidValue(c.Hawk.ID) {
			errs = append(errs, errors.New(`hawk.id: may hold only letters, digits, space and !#$%&'()*+,-./:;<=>?@[]^_`+"`"+`{|}~`))
		}
		if c.Hawk.Key == "" && c.Hawk.KeyFile == "" && c.Hawk.KeyEnv == "" {
			errs = append(errs, errors.New("hawk.key: one of key, key_file, key_env is required"))
		}
		switch c.Hawk.Algorithm {
		case "", "sha256", "sha384", "sha512":
		default:
			errs = append(errs, fmt.Errorf("hawk.algorithm: %q is not sha256, sha384 or sha512", c.Hawk.Algorithm))
		}
	}
	if c.Username == "" && (c.Password != "" || c.PasswordFile != "" || c.PasswordEnv != "") {
		errs = append(errs, errors.New("username: required with password"))
	}
	if strings.Contains(c.Username, ":") {
		errs = append(errs, errors.New("username: must not contain ':' (Basic auth splits on it)"))
	}
	for key, v := range map[string]string{"api_key": string(c.APIKey), "password": string(c.Password),
		"token": string(c.Token), "hawk.key": string(c.Hawk.Key), "username": c.Username} {
		if strings.ContainsAny(v, "\r\n") {
			errs = append(errs, fmt.Errorf("%s: must not contain line breaks", key))
		}
	}
	return errs
}

// Auth methods, in Alerta's precedence (§1.1).
const (
	authNone   = ""
	authBasic  = "basic"
	authHawk   = "hawk"
	authKey    = "api_key"
	authBearer = "token"
)

// authMethods returns the auth methods configured, in Alerta's precedence; the
// first is used.
func (c *Config) authMethods() []string {
	var m []string
	if c.Username != "" {
		m = append(m, authBasic)
	}
	if c.Hawk.set() {
		m = append(m, authHawk)
	}
	if c.APIKey != "" || c.APIKeyFile != "" || c.APIKeyEnv != "" {
		m = append(m, authKey)
	}
	if c.Token != "" || c.TokenFile != "" || c.TokenEnv != "" {
		m = append(m, authBearer)
	}
	return m
}

// checkURL accepts an absolute http or https URL with a host and no user
// information.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("required")
	}
	u, err := secret.ParseURL(raw)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme must be http or https, not %q", u.Scheme)
	case u.Host == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("must not contain user information; use username and password")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not have a query or a fragment (the path is appended to it)")
	}
	return nil
}

// quoteAll returns the words quoted and joined by ", ".
func quoteAll(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	return strings.Join(q, ", ")
}

// pathFor returns the request path of template t for alert id.
func pathFor(t, id string) string {
	return strings.ReplaceAll(t, "{id}", url.PathEscape(id))
}
