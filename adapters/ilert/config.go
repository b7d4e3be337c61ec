package ilert

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Config configures the ilert sink. The README documents every key.
type Config struct {
	// APIHost is the base URL of the ilert API; events, legacy heartbeats and policy
	// calls go to APIHost + "/api/…". Empty means https://api.ilert.com.
	APIHost string `yaml:"api_host"`
	// HeartbeatHost is the base URL that receives heartbeat pings
	// (HEAD /api/pings/{key}). Empty means https://api.ilert.com.
	HeartbeatHost string `yaml:"heartbeat_host"`
	// IntegrationKey is used for events that carry no integrationKey. At most one of
	// integration_key, integration_key_file and integration_key_env may be set; when
	// none is, the environment variable ILERT_INTEGRATION_KEY is used if it is set.
	IntegrationKey httpc.Secret `yaml:"integration_key"`
	// IntegrationKeyFile is a file whose contents (trimmed) are the integration key.
	IntegrationKeyFile string `yaml:"integration_key_file"`
	// IntegrationKeyEnv names an environment variable holding the integration key.
	IntegrationKeyEnv string `yaml:"integration_key_env"`
	// APIKey is sent as "Authorization: Bearer <key>" on every request. A "Bearer "
	// prefix in the value is stripped with a warning. At most one of api_key,
	// api_key_file and api_key_env may be set; when none is, the environment variable
	// ILERT_API_KEY is used if it is set.
	APIKey httpc.Secret `yaml:"api_key"`
	// APIKeyFile is a file whose contents (trimmed) are the API key.
	APIKeyFile string `yaml:"api_key_file"`
	// APIKeyEnv names an environment variable holding the API key.
	APIKeyEnv string `yaml:"api_key_env"`
	// EventsPath selects the events endpoint: "events" (POST /api/events, the
	// default), "mqtt" or "kafka" (POST /api/v1/events/<mqtt|kafka>/{integrationKey}).
	EventsPath string `yaml:"events_path"`
	// Timeout bounds one request, answer included. Zero means 25s.
	Timeout time.Duration `yaml:"timeout"`
	// TLS configures server verification and the client certificate.
	TLS httpc.TLSConfig `yaml:"tls"`
	// MaxInFlight bounds concurrent requests. Zero means 8.
	MaxInFlight int `yaml:"max_in_flight"`
	// SelfHeartbeatKey, when set, makes the sink ping this heartbeat key once it is
	// connected and then every SelfHeartbeatInterval, straight to ilert and not
	// through the store: the heartbeat says the relay is alive now (ilagent's -b).
	// Empty means no self-heartbeat.
	SelfHeartbeatKey httpc.Secret `yaml:"self_heartbeat_key"`
	// SelfHeartbeatInterval is the time between self-heartbeat pings. Zero means 30s.
	SelfHeartbeatInterval time.Duration `yaml:"self_heartbeat_interval"`
}

// Defaults applied to zero Config fields, and the bound on max_in_flight.
const (
	DefaultHost              = "https://api.ilert.com"
	DefaultEventsPath        = PathEvents
	DefaultTimeout           = 25 * time.Second
	DefaultMaxInFlight       = 8
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultIntegrationKeyEnv = "ILERT_INTEGRATION_KEY"
	DefaultAPIKeyEnv         = "ILERT_API_KEY"
	maxMaxInFlight           = 256
)

// The values of events_path.
const (
	PathEvents = "events"
	PathMQTT   = "mqtt"
	PathKafka  = "kafka"
)

// DefaultConfig returns a Config with every default filled in. The key variables are
// not filled in: they are a fallback used only when no key is configured.
func DefaultConfig() Config {
	return Config{
		APIHost:       DefaultHost,
		HeartbeatHost: DefaultHost,
		EventsPath:    DefaultEventsPath,
		Timeout:       DefaultTimeout,
		MaxInFlight:   DefaultMaxInFlight,
	}
}

// withDefaults fills zero fields, so that a Config built in code behaves like one
// decoded over DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.APIHost == "" {
		c.APIHost = d.APIHost
	}
	if c.HeartbeatHost == "" {
		c.HeartbeatHost = d.HeartbeatHost
	}
	c.APIHost = strings.TrimRight(c.APIHost, "/")
	c.HeartbeatHost = strings.TrimRight(c.HeartbeatHost, "/")
	if c.EventsPath == "" {
		c.EventsPath = d.EventsPath
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.SelfHeartbeatInterval == 0 {
		c.SelfHeartbeatInterval = DefaultHeartbeatInterval
	}
	return c
}

// Validate reports every problem at once, each naming its YAML key. It reads no files
// and no environment: Connect resolves the keys and the TLS files.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, validHost("api_host", c.APIHost), validHost("heartbeat_host", c.HeartbeatHost))
	errs = append(errs,
		atMostOne("integration_key", string(c.IntegrationKey), c.IntegrationKeyFile, c.IntegrationKeyEnv),
		atMostOne("api_key", string(c.APIKey), c.APIKeyFile, c.APIKeyEnv))
	if strings.ContainsAny(string(c.APIKey), "\r\n") {
		errs = append(errs, errors.New("api_key: must not contain line breaks"))
	}
	switch c.EventsPath {
	case "", PathEvents, PathMQTT, PathKafka:
	default:
		errs = append(errs, fmt.Errorf("events_path: must be events, mqtt or kafka, not %q", c.EventsPath))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must not be negative, got %s", c.Timeout))
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > maxMaxInFlight {
		errs = append(errs, fmt.Errorf("max_in_flight: must be between 1 and %d, got %d", maxMaxInFlight, c.MaxInFlight))
	}
	if c.SelfHeartbeatInterval < 0 || c.SelfHeartbeatInterval > 0 && c.SelfHeartbeatInterval < time.Second {
		errs = append(errs, fmt.Errorf("self_heartbeat_interval: must be at least 1s, got %s", c.SelfHeartbeatInterval))
	}
	if strings.ContainsAny(string(c.SelfHeartbeatKey), " /\r\n") {
		errs = append(errs, errors.New("self_heartbeat_key: must not contain spaces, slashes or line breaks"))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validHost checks an optional base URL: http or https, a host, no userinfo, query or
// fragment.
func validHost(key, v string) error {
	if v == "" {
		return nil
	}
	u, err := secret.ParseURL(v)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", key, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%s: scheme must be http or https, not %q", key, u.Scheme)
	case u.Host == "":
		return fmt.Errorf("%s: no host", key)
	case u.User != nil:
		return fmt.Errorf("%s: must not contain user information", key)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%s: must not have a query or fragment", key)
	}
	return nil
}

// atMostOne checks that at most one way of giving the secret key is set.
func atMostOne(key, value, file, env string) error {
	n := 0
	for _, s := range []string{value, file, env} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%s, %s_file, %s_env: set at most one", key, key, key)
	}
	return nil
}
