package edge

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Defaults and bounds of the configuration.
const (
	// DefaultAPIHost is the ilert API when neither api_host nor ILERT_API_HOST is set.
	DefaultAPIHost = "https://api.ilert.com"
	// DefaultKeyEnv is the environment variable holding the key by default.
	DefaultKeyEnv = "ILERT_EDGE_CONNECTOR_KEY"
	// DefaultInterval is the default poll and standby interval.
	DefaultInterval = 10 * time.Second
	// MinInterval and MaxInterval bound poll_interval and standby_interval, as
	// ilagent's --edge_poll_interval and --edge_standby_interval.
	MinInterval = 5 * time.Second
	MaxInterval = 120 * time.Second
	// DefaultTimeout bounds one poll, answer included (ilagent's client timeout).
	DefaultTimeout = 30 * time.Second
	// maxTimeout bounds timeout.
	maxTimeout = 5 * time.Minute
	// maxID bounds cluster_id and instance_id, in bytes.
	maxID = 128
)

// minInterval is the MinInterval Validate applies; tests of the whole daemon lower it
// (export_test.go) so that a second poll takes no seconds.
var minInterval = MinInterval

// Config configures the ilert_edge source.
type Config struct {
	// APIHost is the ilert API base URL. Default: the environment variable
	// ILERT_API_HOST, else https://api.ilert.com.
	APIHost string `yaml:"api_host"`
	// Key is the edge connector key, literally. Key, KeyFile and KeyEnv are tried in
	// that order; at most one of Key and KeyFile may be set.
	Key secret.Value `yaml:"key"`
	// KeyEnv names the environment variable holding the key (default
	// ILERT_EDGE_CONNECTOR_KEY), used when neither Key nor KeyFile is set.
	KeyEnv string `yaml:"key_env"`
	// KeyFile is a file holding the key (surrounding white space trimmed).
	KeyFile string `yaml:"key_file"`
	// PollInterval is the wait between polls (5s–120s, default 10s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// StandbyInterval is the wait between polls of a standby (5s–120s, default 10s).
	StandbyInterval time.Duration `yaml:"standby_interval"`
	// ClusterID turns the server-managed HA mode on.
	ClusterID string `yaml:"cluster_id"`
	// InstanceID names this node in its cluster. Default: edgerelay-<random>,
	// generated once and kept in the source's state.
	InstanceID string `yaml:"instance_id"`
	// Timeout bounds one poll, answer included (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// TLS configures the verification of api_host (a CA of a site proxy) and a
	// client certificate, as for the ilert sink.
	TLS httpc.TLSConfig `yaml:"tls"`
}

// DefaultConfig returns a Config with every default filled in; api_host reads the
// environment variable ILERT_API_HOST.
func DefaultConfig() Config {
	host := strings.TrimSpace(os.Getenv("ILERT_API_HOST"))
	if host == "" {
		host = DefaultAPIHost
	}
	return Config{
		APIHost: host, KeyEnv: DefaultKeyEnv,
		PollInterval: DefaultInterval, StandbyInterval: DefaultInterval, Timeout: DefaultTimeout,
	}
}

// HA reports whether the server-managed HA mode is on.
func (c *Config) HA() bool { return c.ClusterID != "" }

// RequiredAck is adapters.AckRequirer: in HA mode the source acknowledges (reports
// last-processed-id) only what was delivered, because a standby that takes over
// cannot deliver what this node only stored.
func (c *Config) RequiredAck() adapters.Ack {
	if c.HA() {
		return adapters.AckDelivered
	}
	return ""
}

// Validate reports every problem at once, each naming its YAML key.
func (c *Config) Validate() error {
	var errs []error
	if _, err := parseHost(c.APIHost); err != nil {
		errs = append(errs, fmt.Errorf("api_host: %w", err))
	}
	if c.Key != "" && c.KeyFile != "" {
		errs = append(errs, errors.New("key, key_file: set only one of them"))
	}
	if strings.IndexFunc(string(c.Key), func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		errs = append(errs, errors.New("key: must not contain spaces, line breaks or control characters"))
	}
	if c.Key == "" && c.KeyFile == "" && c.KeyEnv == "" {
		errs = append(errs, errors.New("key_env: empty, and neither key nor key_file is set: the source has no key"))
	}
	for _, iv := range []struct {
		name string
		d    time.Duration
	}{{"poll_interval", c.PollInterval}, {"standby_interval", c.StandbyInterval}} {
		if iv.d < minInterval || iv.d > MaxInterval {
			errs = append(errs, fmt.Errorf("%s: must be between %s and %s, got %s", iv.name, minInterval, MaxInterval, iv.d))
		}
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Timeout <= 0 || c.Timeout > maxTimeout {
		errs = append(errs, fmt.Errorf("timeout: must be between 1ns and %s, got %s", maxTimeout, c.Timeout))
	}
	for _, id := range []struct{ name, v string }{{"cluster_id", c.ClusterID}, {"instance_id", c.InstanceID}} {
		if err := checkID(id.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id.name, err))
		}
	}
	return errors.Join(errs...)
}

// checkID checks a cluster or instance id: printable, no spaces, at most maxID bytes.
func checkID(v string) error {
	if len(v) > maxID {
		return fmt.Errorf("longer than %d bytes", maxID)
	}
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return errors.New("must not contain spaces or control characters")
	}
	return nil
}

// parseHost checks the API base URL and returns it without a trailing slash.
func parseHost(h string) (string, error) {
	u, err := url.Parse(h)
	switch {
	case h == "":
		return "", errors.New("empty")
	case err != nil:
		return "", errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	case u.Host == "":
		return "", errors.New("no host")
	case u.User != nil:
		return "", errors.New("must not carry user information")
	case u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("must not have a query or fragment")
	}
	return strings.TrimRight(h, "/"), nil
}

// resolveKey returns the key the configuration gives: key, else key_file, else the
// environment variable key_env. The errors name the file or variable, never the key.
func (c *Config) resolveKey() (string, error) {
	var v secret.Value
	var err error
	switch {
	case c.Key != "" || c.KeyFile != "":
		v, err = secret.Resolve(string(c.Key), c.KeyFile, "")
	default:
		v, err = secret.Resolve("", "", c.KeyEnv)
		if err != nil {
			err = fmt.Errorf("key_env: %w (the edge connector key is required)", err)
		}
	}
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", errors.New("key: the edge connector key is empty")
	}
	return v.Reveal(), nil
}
