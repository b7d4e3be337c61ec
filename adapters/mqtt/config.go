package mqtt

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/adapters/topic"
)

// Defaults used when a Config field is zero.
const (
	DefaultURL            = "tcp://127.0.0.1:1883"
	DefaultQoS            = 1
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultMaxInflight    = 1000
	// DefaultTLSReloadInterval is how often the TLS files are checked for changes.
	DefaultTLSReloadInterval = 30 * time.Second
)

// Config configures the MQTT source. The daemon fills it from DefaultConfig, then
// decodes the YAML section over it strictly, then calls Validate.
type Config struct {
	// URL is the broker, as tcp://host:port (or mqtt://) for plain TCP and
	// ssl://, tls:// or mqtts:// for TLS. A missing port means 1883, or 8883 with TLS.
	// Empty means tcp://127.0.0.1:1883.
	URL string `yaml:"url"`
	// ClientID identifies the session at the broker and must stay the same across
	// restarts for a persistent session to work. Empty means
	// "edgerelay-<hostname>-<source name>".
	ClientID string `yaml:"client_id"`
	// Username is sent in CONNECT. Empty means no credentials.
	Username string `yaml:"username"`
	// Password is sent with Username. It is never logged. Empty means none, unless
	// PasswordFile is set.
	Password secret.Value `yaml:"password"`
	// PasswordFile names a file whose content (trailing newline removed) is the
	// password; it is read again before every connection attempt. Empty means none.
	PasswordFile string `yaml:"password_file"`
	// Topics lists the topic filters to subscribe to ('+' and '#' wildcards,
	// "$share/<group>/<filter>" for shared subscriptions). At least one is required.
	Topics []string `yaml:"topics"`
	// QoS is the subscription QoS: 1 (the default) and 2 give at-least-once delivery
	// through the relay; 0 means at most once: a message in flight when the relay
	// stops or its store fails is lost.
	QoS byte `yaml:"qos"`
	// CleanSession asks the broker to forget the session on disconnect. False (the
	// default) keeps a persistent session: messages that arrive while the relay is
	// offline, and messages it has not acknowledged, are delivered on reconnect.
	CleanSession bool `yaml:"clean_session"`
	// KeepAlive is the MQTT keep-alive interval, at least one second. Zero means 30s.
	KeepAlive time.Duration `yaml:"keepalive"`
	// ConnectTimeout bounds dialling, the TLS handshake and the CONNECT/CONNACK
	// exchange, and the wait for SUBACK. Zero means 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// TLS configures TLS for ssl://, tls:// and mqtts:// URLs. Zero means the system
	// roots and no client certificate.
	TLS TLSConfig `yaml:"tls"`
	// KeyPath is a gjson path (for example "alert.id") into a JSON payload whose value
	// is the event's ordering key. Empty means the topic is the key; the topic is also
	// used when the payload is not JSON or has nothing at the path.
	KeyPath string `yaml:"key_path"`
	// Kind is the event kind given to every message ("alert", "heartbeat", "policy"
	// or an adapter-defined kind). Empty means "raw".
	Kind string `yaml:"kind"`
	// MaxInflight bounds the messages received but not yet acknowledged; when it is
	// reached, reading from the broker pauses. Zero means 1000.
	MaxInflight int `yaml:"max_in_flight"`
}

// TLSConfig holds the TLS settings of a connection.
type TLSConfig struct {
	// CAFile is a PEM file of the certificate authorities trusted for the broker's
	// certificate; they replace the system roots. Empty means the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile is the PEM client certificate for mutual TLS; it needs KeyFile.
	// Empty means no client certificate.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile. Empty means none.
	KeyFile string `yaml:"key_file"`
	// InsecureSkipVerify turns off verification of the broker's certificate. False
	// (the default) verifies it; only use true for testing.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName is the name checked against the broker's certificate. Empty means
	// the host of URL.
	ServerName string `yaml:"server_name"`
	// ReloadInterval is how often CAFile, CertFile and KeyFile are checked while
	// connected: when their content changed and still loads, the source reconnects
	// with it at once. It applies only when CAFile or CertFile is set. Zero means 30s.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// setKeys names the TLS settings that differ from their zero value.
func (t TLSConfig) setKeys() []string {
	var set []string
	for _, f := range []struct {
		key string
		set bool
	}{
		{"tls.ca_file", t.CAFile != ""},
		{"tls.cert_file", t.CertFile != ""},
		{"tls.key_file", t.KeyFile != ""},
		{"tls.insecure_skip_verify", t.InsecureSkipVerify},
		{"tls.server_name", t.ServerName != ""},
		{"tls.reload_interval", t.ReloadInterval != 0},
	} {
		if f.set {
			set = append(set, f.key)
		}
	}
	return set
}

// watched reports whether the TLS files are checked for changes while connected.
func (t TLSConfig) watched() bool { return t.CAFile != "" || t.CertFile != "" }

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		URL:            DefaultURL,
		QoS:            DefaultQoS,
		KeepAlive:      DefaultKeepAlive,
		ConnectTimeout: DefaultConnectTimeout,
		Kind:           adapters.KindRaw,
		MaxInflight:    DefaultMaxInflight,
	}
}

// withDefaults returns c with zero fields replaced by their defaults (QoS and the
// booleans excepted: their zero is a real setting). name is the source name.
func (c Config) withDefaults(name string) Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.ClientID == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "localhost"
		}
		c.ClientID = "edgerelay-" + host
		if name != "" {
			c.ClientID += "-" + name
		}
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.Kind == "" {
		c.Kind = adapters.KindRaw
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.TLS.ReloadInterval == 0 {
		c.TLS.ReloadInterval = DefaultTLSReloadInterval
	}
	return c
}

// Validate reports every problem at once, each naming its YAML key.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	checkConnection(connFields{
		url: c.URL, username: c.Username, hasPassword: c.Password != "" || c.PasswordFile != "",
		passwordKeys: "password/password_file", tls: c.TLS,
	}, add)
	if len(c.ClientID) > 65535 {
		add("client_id: longer than 65535 bytes")
	}
	if c.Password != "" && c.PasswordFile != "" {
		add("password, password_file: set only one")
	}
	if len(c.Topics) == 0 {
		add("topics: at least one topic filter is required")
	}
	seen := make(map[string]bool, len(c.Topics))
	for i, f := range c.Topics {
		if err := topic.Validate(f); err != nil {
			add("topics[%d]: %w", i, err)
		}
		if seen[f] {
			add("topics[%d]: %q is listed twice", i, f)
		}
		seen[f] = true
	}
	if c.QoS > 2 {
		add("qos: %d is not 0, 1 or 2", c.QoS)
	}
	if c.KeepAlive < 0 || (c.KeepAlive > 0 && c.KeepAlive < time.Second) {
		add("keepalive: %s is below 1s", c.KeepAlive)
	}
	if c.KeepAlive > 65535*time.Second {
		add("keepalive: %s is above the MQTT maximum of 65535s", c.KeepAlive)
	}
	if c.ConnectTimeout < 0 {
		add("connect_timeout: %s is negative", c.ConnectTimeout)
	}
	if strings.TrimSpace(c.KeyPath) != c.KeyPath {
		add("key_path: %q has leading or trailing spaces", c.KeyPath)
	}
	if c.MaxInflight < 0 || c.MaxInflight > 65535 {
		add("max_in_flight: %d is outside 0..65535", c.MaxInflight)
	}
	return errors.Join(errs...)
}

// parseBrokerURL parses a broker URL and checks its scheme and host.
func parseBrokerURL(s string) (*url.URL, error) {
	u, err := secret.ParseURL(s)
	if err != nil {
		return nil, err
	}
	s = secret.RedactURL(s)
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts":
	default:
		return nil, fmt.Errorf("%q: scheme must be tcp, mqtt, ssl, tls or mqtts", s)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q: no host", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: bad port %q", s, p)
		}
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("%q: a broker URL has no path", s)
	}
	return u, nil
}

func isTLSScheme(s string) bool { return s == "ssl" || s == "tls" || s == "mqtts" }

// brokerAddr returns host:port for dialling u, with the scheme's default port.
func brokerAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "1883"
		if isTLSScheme(u.Scheme) {
			port = "8883"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// joinKeys lists YAML keys in one error message.
func joinKeys(keys []string) string { return strings.Join(keys, ", ") }
