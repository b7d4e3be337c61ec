package kafka

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Defaults used when a Config field is zero.
const (
	DefaultGroupID        = "edgerelay"
	DefaultClientID       = "edgerelay"
	DefaultInitialOffset  = OffsetOldest
	DefaultSessionTimeout = 6 * time.Second // ilagent's session.timeout.ms
	DefaultMaxInflight    = 1000
)

// The values of initial_offset.
const (
	OffsetOldest = "oldest"
	OffsetNewest = "newest"
)

// Config configures the Kafka source. The daemon fills it from DefaultConfig, then
// decodes the YAML section over it strictly, then calls Validate.
type Config struct {
	// Brokers lists the bootstrap brokers as host:port. At least one is required.
	Brokers []string `yaml:"brokers"`
	// GroupID is the consumer group. Relays sharing it split the partitions, and the
	// group's committed offsets say where consumption resumes. Empty means "edgerelay".
	GroupID string `yaml:"group_id"`
	// Topics lists the topics to consume, by exact name. At least one is required.
	Topics []string `yaml:"topics"`
	// InitialOffset is where a partition with no committed offset for the group
	// starts: "oldest" (the default) reads the retained backlog, "newest" only what
	// is produced after the group joined.
	InitialOffset string `yaml:"initial_offset"`
	// ClientID is sent to the brokers for their logs and quotas. Empty means
	// "edgerelay".
	ClientID string `yaml:"client_id"`
	// SessionTimeout is how long the group coordinator waits for a heartbeat before
	// it gives the member's partitions to others. Zero means 6s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// Kind is the event kind given to every message. Empty means "raw".
	Kind string `yaml:"kind"`
	// KeyPath is a gjson path into a JSON payload whose value is the event's ordering
	// key. Empty means the Kafka message key; the message key is also used when the
	// payload is not JSON or has nothing at the path.
	KeyPath string `yaml:"key_path"`
	// MaxInflight bounds the messages received but not yet settled by the daemon;
	// when reached, the source stops handing messages over. Zero means 1000.
	MaxInflight int `yaml:"max_in_flight"`
	// TLS turns on TLS to the brokers when enable or any other key is set.
	TLS TLSConfig `yaml:"tls"`
	// SASL authenticates with SASL/PLAIN when username is set.
	SASL SASLConfig `yaml:"sasl"`
}

// TLSConfig is the tls block: httpc's settings plus an explicit switch.
type TLSConfig struct {
	// Enable turns TLS on with the system roots. Setting any other key of the
	// block turns it on as well.
	Enable          bool `yaml:"enable"`
	httpc.TLSConfig `yaml:",inline"`
}

// On reports whether TLS is to be used.
func (t TLSConfig) On() bool { return t.Enable || t.TLSConfig != (httpc.TLSConfig{}) }

// SASLConfig holds SASL/PLAIN credentials.
type SASLConfig struct {
	// Username turns SASL/PLAIN on. Empty means no SASL.
	Username string `yaml:"username"`
	// Password is sent with Username; it is never logged.
	Password secret.Value `yaml:"password"`
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		GroupID:        DefaultGroupID,
		InitialOffset:  DefaultInitialOffset,
		ClientID:       DefaultClientID,
		SessionTimeout: DefaultSessionTimeout,
		Kind:           adapters.KindRaw,
		MaxInflight:    DefaultMaxInflight,
	}
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.GroupID == "" {
		c.GroupID = d.GroupID
	}
	if c.InitialOffset == "" {
		c.InitialOffset = d.InitialOffset
	}
	if c.ClientID == "" {
		c.ClientID = d.ClientID
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = d.SessionTimeout
	}
	if c.Kind == "" {
		c.Kind = d.Kind
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = d.MaxInflight
	}
	return c
}

// Validate reports every problem at once, each naming its YAML key.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	errs = append(errs, checkConn(c.Brokers, c.TLS, c.SASL)...)
	if len(c.GroupID) > 255 {
		add("group_id: longer than 255 bytes")
	}
	if len(c.Topics) == 0 {
		add("topics: at least one topic is required")
	}
	seen := make(map[string]bool, len(c.Topics))
	for i, t := range c.Topics {
		if err := checkTopic(t); err != nil {
			add("topics[%d]: %w", i, err)
		}
		if seen[t] {
			add("topics[%d]: %q is listed twice", i, t)
		}
		seen[t] = true
	}
	switch c.InitialOffset {
	case "", OffsetOldest, OffsetNewest:
	default:
		add("initial_offset: %q is not %q or %q", c.InitialOffset, OffsetOldest, OffsetNewest)
	}
	if c.SessionTimeout < 0 || (c.SessionTimeout > 0 && c.SessionTimeout < time.Second) {
		add("session_timeout: %s is below 1s", c.SessionTimeout)
	}
	if c.SessionTimeout > time.Hour {
		add("session_timeout: %s is above 1h", c.SessionTimeout)
	}
	if strings.TrimSpace(c.KeyPath) != c.KeyPath {
		add("key_path: %q has leading or trailing spaces", c.KeyPath)
	}
	if c.MaxInflight < 0 || c.MaxInflight > 1_000_000 {
		add("max_in_flight: %d is outside 0..1000000", c.MaxInflight)
	}
	return errors.Join(errs...)
}

// checkConn checks the connection settings the source and the sink share (brokers,
// tls, sasl), each problem naming its YAML key.
func checkConn(brokers []string, tc TLSConfig, sasl SASLConfig) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(brokers) == 0 {
		add("brokers: at least one host:port is required")
	}
	for i, b := range brokers {
		if err := checkHostPort(b); err != nil {
			add("brokers[%d]: %w", i, err)
		}
	}
	if (tc.CertFile == "") != (tc.KeyFile == "") {
		add("tls: cert_file and key_file must be set together")
	}
	if tc.CAFile != "" && tc.InsecureSkipVerify {
		add("tls: ca_file is pointless with insecure_skip_verify: true")
	}
	if sasl.Username == "" && sasl.Password != "" {
		add("sasl.username: required when sasl.password is set")
	}
	return errs
}

// checkHostPort checks a broker address.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: bad port %q", s, port)
	}
	return nil
}

// checkTopic checks a topic name the way Kafka does: 1 to 249 characters of
// [a-zA-Z0-9._-], and not "." or "..".
func checkTopic(t string) error {
	if t == "" {
		return errors.New("empty topic name")
	}
	if len(t) > 249 {
		return fmt.Errorf("%q is longer than 249 characters", t)
	}
	if t == "." || t == ".." {
		return fmt.Errorf("%q is not a valid topic name", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q: only letters, digits, '.', '_' and '-' are allowed (no wildcards)", t)
		}
	}
	return nil
}
