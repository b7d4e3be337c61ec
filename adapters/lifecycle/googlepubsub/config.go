// Package googlepubsub is the google_pubsub lifecycle-event adapter: it publishes
// each CloudEvents envelope to a Google Cloud Pub/Sub topic with the REST call
// topics.publish, authenticated by the Application Default Credentials chain (a
// service-account or authorized-user JSON file, or the metadata server), or to the
// Pub/Sub emulator without credentials. It uses the standard library only. See
// README.md.
package googlepubsub

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Name is the adapter's EVENT_BROKER_ADAPTER value and YAML block name.
const Name = "google_pubsub"

// The variables the adapter reads: the first four when the configuration loads
// (ApplyEnv), the last two through Deps.Env when it looks for credentials.
const (
	EnvProject       = "EVENT_BROKER_GOOGLE_PUBSUB_PROJECT"
	EnvTopicIDPrefix = "EVENT_BROKER_GOOGLE_PUBSUB_TOPIC_ID_PREFIX"
	EnvCredentials   = "GOOGLE_APPLICATION_CREDENTIALS"
	EnvEmulatorHost  = "PUBSUB_EMULATOR_HOST"
	EnvMetadataHost  = "GCE_METADATA_HOST"
	EnvHome          = "HOME"
)

// Defaults.
const (
	DefaultEndpoint     = "https://pubsub.googleapis.com"
	DefaultTimeout      = 10 * time.Second
	DefaultMetadataHost = "169.254.169.254"
)

// The YAML keys, as Validate names them.
const (
	keyProject     = "events." + Name + ".project"
	keyPrefix      = "events." + Name + ".topic_id_prefix"
	keyCredentials = "events." + Name + ".credentials_file"
	keyEmulator    = "events." + Name + ".emulator_host"
	keyEndpoint    = "events." + Name + ".endpoint"
	keyTimeout     = "events." + Name + ".timeout"
)

func init() {
	lifecycle.Register(lifecycle.Spec{
		Name: Name,
		Variables: []string{EnvProject, EnvTopicIDPrefix, EnvCredentials, EnvEmulatorHost,
			EnvMetadataHost, EnvHome},
		NewConfig: func() lifecycle.Config { return NewConfig() },
	})
}

// Config is the events.google_pubsub block.
type Config struct {
	// Project is the Google Cloud project id the topics live in. Required.
	Project string `yaml:"project"`
	// TopicIDPrefix goes before each domain topic ("edge-prod-" gives
	// edge-prod-edge-nodes-events). Empty by default.
	TopicIDPrefix string `yaml:"topic_id_prefix"`
	// CredentialsFile is a service_account or authorized_user JSON key file. Empty
	// means the rest of the credentials chain: the gcloud well-known file, then the
	// metadata server.
	CredentialsFile string `yaml:"credentials_file"`
	// EmulatorHost (host:port) sends every request to the Pub/Sub emulator over
	// plain HTTP, without credentials.
	EmulatorHost string `yaml:"emulator_host"`
	// Endpoint is the Pub/Sub REST endpoint (a regional or private one). https, or
	// http on a loopback address only.
	Endpoint string `yaml:"endpoint"`
	// Timeout bounds each HTTP request (a publish, a token exchange).
	Timeout time.Duration `yaml:"timeout"`

	metadataHost string // GCE_METADATA_HOST as ApplyEnv saw it, for Validate
}

// NewConfig returns a Config with the defaults set.
func NewConfig() *Config {
	return &Config{Endpoint: DefaultEndpoint, Timeout: DefaultTimeout}
}

// ApplyEnv overrides the settings with the variables env has.
func (c *Config) ApplyEnv(env lifecycle.Env) error {
	lifecycle.String(env, EnvProject, &c.Project)
	lifecycle.String(env, EnvTopicIDPrefix, &c.TopicIDPrefix)
	lifecycle.String(env, EnvCredentials, &c.CredentialsFile)
	lifecycle.String(env, EnvEmulatorHost, &c.EmulatorHost)
	if v, ok := env(EnvMetadataHost); ok {
		c.metadataHost = strings.TrimSpace(v)
	}
	c.Project = strings.TrimSpace(c.Project)
	c.CredentialsFile = strings.TrimSpace(c.CredentialsFile)
	c.EmulatorHost = strings.TrimSpace(c.EmulatorHost)
	return nil
}

// Validate reports every setting that cannot work, each naming its variable and
// YAML key. A credentials file is read and parsed here (outside emulator mode); its
// content is never quoted.
func (c *Config) Validate() error {
	var errs []error
	add := func(variable, key, format string, args ...any) {
		errs = append(errs, lifecycle.Problem(variable, key, format, args...))
	}
	switch {
	case c.Project == "":
		add(EnvProject, keyProject, "required: the Google Cloud project id of the topics")
	case !validProject(c.Project):
		add(EnvProject, keyProject, "%q is not a project id (lowercase letters, digits, '-', and '.' or ':' for a domain-scoped one)", lifecycle.Excerpt(c.Project))
	}
	if err := checkPrefix(c.TopicIDPrefix); err != nil {
		add(EnvTopicIDPrefix, keyPrefix, "%q: %v", lifecycle.Excerpt(c.TopicIDPrefix), err)
	}
	if c.EmulatorHost != "" {
		if err := checkHostPort(c.EmulatorHost); err != nil {
			add(EnvEmulatorHost, keyEmulator, "%v", err)
		}
	} else {
		if err := checkEndpoint(c.Endpoint); err != nil {
			errs = append(errs, lifecycle.Problem(keyEndpoint, "", "%v", err))
		}
		if c.metadataHost != "" {
			if err := checkHostPort(c.metadataHost); err != nil && !errors.Is(err, errNoPort) {
				add(EnvMetadataHost, "", "%v", err)
			}
		}
		if c.CredentialsFile != "" {
			if _, err := readCredentials(c.CredentialsFile); err != nil {
				add(EnvCredentials, keyCredentials, "%v", err)
			}
		}
	}
	switch {
	case c.Timeout <= 0:
		errs = append(errs, lifecycle.Problem(keyTimeout, "", "%s is not a positive duration: give one up to 5m (the default is %s)", c.Timeout, DefaultTimeout))
	case c.Timeout > 5*time.Minute:
		errs = append(errs, lifecycle.Problem(keyTimeout, "", "%s is over 5m", c.Timeout))
	}
	return errors.Join(errs...)
}

// Secrets returns the secrets of the credentials file, when one is configured and
// parses (outside emulator mode, where it is not used).
func (c *Config) Secrets() []string {
	if c.EmulatorHost != "" || c.CredentialsFile == "" {
		return nil
	}
	f, err := readCredentials(c.CredentialsFile)
	if err != nil {
		return nil
	}
	return f.secrets()
}

// Build makes the publisher; it reads no file and dials nothing.
func (c *Config) Build(d lifecycle.Deps) (lifecycle.Publisher, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return newPublisher(*c, d), nil
}

// validProject checks a project id loosely: what the API accepts is up to Google,
// but a '/', a space or an upper-case letter can only be a mistake.
func validProject(p string) bool {
	if len(p) > 100 {
		return false
	}
	for _, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == ':':
		default:
			return false
		}
	}
	return true
}

// checkPrefix checks that prefix + every domain topic is a valid topic id: it
// starts with a letter, holds letters, digits and -_.~+% only, is at most 255
// characters and does not start with "goog".
func checkPrefix(prefix string) error {
	for _, r := range prefix {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("-_.~+%", r):
		default:
			return fmt.Errorf("%q is not allowed in a topic id (letters, digits and -_.~+%% only)", r)
		}
	}
	id := prefix + lifecycle.TopicSelfUpdates // the longest domain topic
	if len(id) > 255 {
		return fmt.Errorf("topic ids would be longer than 255 characters")
	}
	if c := id[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return fmt.Errorf("a topic id must start with a letter")
	}
	if strings.HasPrefix(strings.ToLower(id), "goog") {
		return fmt.Errorf("a topic id must not start with \"goog\"")
	}
	return nil
}

// errNoPort is checkHostPort's error for an address without a port (which
// GCE_METADATA_HOST may be).
var errNoPort = errors.New("not host:port")

// checkHostPort checks an emulator or metadata server address: host:port, no
// scheme, no user info, no path. The error quotes s with any user info redacted.
func checkHostPort(s string) error {
	shown := s
	if i := strings.LastIndex(s, "@"); i >= 0 {
		shown = "***@" + s[i+1:]
	}
	shown = lifecycle.Excerpt(shown)
	switch {
	case strings.Contains(s, "://"):
		return fmt.Errorf("%q: give host:port without a scheme", shown)
	case strings.Contains(s, "@"):
		return fmt.Errorf("%q holds user info: give host:port (the address takes no credentials)", shown)
	case strings.Contains(s, "/"):
		return fmt.Errorf("%q: give host:port without a path", shown)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || port == "" {
		if !strings.Contains(s, ":") && s != "" {
			return fmt.Errorf("%q: %w", shown, errNoPort)
		}
		return fmt.Errorf("%q: not host:port", shown)
	}
	return nil
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// checkEndpoint checks the REST endpoint: https, or http to a loopback address (a
// local fake or proxy), since a bearer token must not travel in clear.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a URL", lifecycle.Excerpt(secret.RedactURL(s)))
	}
	if u.User != nil {
		return fmt.Errorf("%q: no user info allowed", secret.RedactURL(s))
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return fmt.Errorf("%q: give scheme://host[:port] only", lifecycle.Excerpt(s))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("%q: http is allowed to a loopback address only (the bearer token would travel in clear)", lifecycle.Excerpt(s))
		}
	default:
		return fmt.Errorf("%q: the scheme must be https", lifecycle.Excerpt(s))
	}
	return nil
}
