package mqtt

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Defaults of the sink, beyond those it shares with the source.
const (
	DefaultAckTimeout      = 10 * time.Second
	DefaultSinkMaxInFlight = 8
	maxSinkMaxInFlight     = 1024
)

// SinkConfig configures the MQTT sink. The daemon fills it from DefaultSinkConfig,
// then decodes the YAML section over it strictly, then calls Validate. The README
// documents every key.
type SinkConfig struct {
	// URL is the broker, as for the source: tcp:// or mqtt:// for plain TCP, ssl://,
	// tls:// or mqtts:// for TLS. Empty means tcp://127.0.0.1:1883.
	URL string `yaml:"url"`
	// ClientID identifies the connection at the broker. Empty means
	// "edgerelay-<hostname>-sink-<sink name>".
	ClientID string `yaml:"client_id"`
	// Username is sent in CONNECT. Empty means no credentials.
	Username string `yaml:"username"`
	// Password is sent with Username; never logged. At most one of password,
	// password_file and password_env may be set.
	Password secret.Value `yaml:"password"`
	// PasswordFile names a file holding the password (trailing line breaks
	// removed), read again before every connection attempt.
	PasswordFile string `yaml:"password_file"`
	// PasswordEnv names an environment variable holding the password, read before
	// every connection attempt.
	PasswordEnv string `yaml:"password_env"`
	// TLS configures TLS for ssl://, tls:// and mqtts:// URLs, as for the source.
	TLS TLSConfig `yaml:"tls"`
	// Topic is the topic template: literal text with the placeholders {key}, {kind},
	// {source}, {topic} and {attr:NAME} (an event attribute). Required.
	Topic string `yaml:"topic"`
	// QoS of every publish: 0, 1 (the default) or 2. In code, the zero value is 0.
	QoS byte `yaml:"qos"`
	// Retain sets the retain flag of every publish.
	Retain bool `yaml:"retain"`
	// KeepAlive is the MQTT keep-alive interval, at least one second. Zero means 30s.
	KeepAlive time.Duration `yaml:"keepalive"`
	// AckTimeout bounds the wait for the broker's PUBACK (QoS 1) or PUBCOMP (QoS 2)
	// of one publish; then the delivery is retried on a new connection. Zero means
	// 10s.
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// ConnectTimeout bounds dialling, the TLS handshake and CONNECT/CONNACK. Zero
	// means 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// MaxInFlight bounds concurrent publishes awaiting their acknowledgement. Zero
	// means 8.
	MaxInFlight int `yaml:"max_in_flight"`
}

// DefaultSinkConfig returns a SinkConfig with every default filled in.
func DefaultSinkConfig() SinkConfig {
	return SinkConfig{
		URL:            DefaultURL,
		QoS:            DefaultQoS,
		KeepAlive:      DefaultKeepAlive,
		AckTimeout:     DefaultAckTimeout,
		ConnectTimeout: DefaultConnectTimeout,
		MaxInFlight:    DefaultSinkMaxInFlight,
	}
}

// withDefaults returns c with zero fields replaced by their defaults (QoS and
// Retain excepted: their zero is a real setting). name is the sink name.
func (c SinkConfig) withDefaults(name string) SinkConfig {
	d := DefaultSinkConfig()
	if c.URL == "" {
		c.URL = d.URL
	}
	if c.ClientID == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "localhost"
		}
		// "sink-" keeps it apart from a source of the same name, whose default is
		// edgerelay-<host>-<name>: one id for both would make them take over each
		// other's connection.
		c.ClientID = "edgerelay-" + host + "-sink"
		if name != "" {
			c.ClientID += "-" + name
		}
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = d.KeepAlive
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = d.AckTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.TLS.ReloadInterval == 0 {
		c.TLS.ReloadInterval = DefaultTLSReloadInterval
	}
	return c
}

// Validate reports every problem at once, each naming its YAML key. It reads no
// file and no environment variable: Connect does, before every attempt.
func (c *SinkConfig) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	ways := 0
	for _, set := range []bool{c.Password != "", c.PasswordFile != "", c.PasswordEnv != ""} {
		if set {
			ways++
		}
	}
	checkConnection(connFields{
		url: c.URL, username: c.Username, hasPassword: ways > 0,
		passwordKeys: "password/password_file/password_env", tls: c.TLS,
	}, add)
	if len(c.ClientID) > 65535 {
		add("client_id: longer than 65535 bytes")
	}
	if ways > 1 {
		add("password, password_file, password_env: set only one")
	}
	if c.PasswordEnv != "" && (strings.ContainsAny(c.PasswordEnv, "= \t\r\n") || strings.IndexByte(c.PasswordEnv, 0) >= 0) {
		add("password_env: %q is not an environment variable name", c.PasswordEnv)
	}
	if _, err := parseTopicTemplate(c.Topic); err != nil {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				add("topic: %w", e)
			}
		} else {
			add("topic: %w", err)
		}
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
	// Zero means the default; a bound shorter than a round trip would time out every
	// publish (and drop the connection each time) or every connect.
	if c.AckTimeout < 0 || (c.AckTimeout > 0 && c.AckTimeout < minSinkTimeout) {
		add("ack_timeout: %s is below %s", c.AckTimeout, minSinkTimeout)
	}
	if c.ConnectTimeout < 0 || (c.ConnectTimeout > 0 && c.ConnectTimeout < minSinkTimeout) {
		add("connect_timeout: %s is below %s", c.ConnectTimeout, minSinkTimeout)
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > maxSinkMaxInFlight {
		add("max_in_flight: %d is outside 1..%d", c.MaxInFlight, maxSinkMaxInFlight)
	}
	return errors.Join(errs...)
}

// minSinkTimeout is the shortest ack_timeout and connect_timeout.
const minSinkTimeout = 100 * time.Millisecond
