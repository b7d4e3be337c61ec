package kafka

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// Defaults of the sink's configuration.
const (
	DefaultSinkKey             = KeyEvent
	DefaultSinkAcks            = AcksAll
	DefaultSinkCompression     = CompressionNone
	DefaultSinkTimeout         = 5 * time.Second // ilagent's edge send timeout
	DefaultSinkMaxInFlight     = 64
	DefaultSinkMaxMessageBytes = 1_000_000 // the broker's default message.max.bytes, less the batch overhead
)

// The values of the sink's key setting: KeyEvent, or KeyPathPrefix followed by a
// gjson path.
const (
	KeyEvent      = "event"
	KeyPathPrefix = "path:"
)

// The values of acks.
const (
	AcksAll    = "all"
	AcksLeader = "leader"
	AcksNone   = "none"
)

// The values of compression.
const (
	CompressionNone   = "none"
	CompressionGzip   = "gzip"
	CompressionSnappy = "snappy"
	CompressionLZ4    = "lz4"
	CompressionZstd   = "zstd"
)

var (
	acksModes = map[string]sarama.RequiredAcks{
		AcksAll: sarama.WaitForAll, AcksLeader: sarama.WaitForLocal, AcksNone: sarama.NoResponse,
	}
	codecs = map[string]sarama.CompressionCodec{
		CompressionNone: sarama.CompressionNone, CompressionGzip: sarama.CompressionGZIP,
		CompressionSnappy: sarama.CompressionSnappy, CompressionLZ4: sarama.CompressionLZ4,
		CompressionZstd: sarama.CompressionZSTD,
	}
)

// SinkConfig configures the Kafka sink. The daemon fills it from DefaultSinkConfig,
// decodes the YAML section over it strictly, then calls Validate. The connection
// settings (brokers, client_id, tls, sasl) mean what they mean for the source.
type SinkConfig struct {
	// Brokers lists the bootstrap brokers as host:port. At least one is required.
	Brokers []string `yaml:"brokers"`
	// Topic is the topic every event is produced to. Required.
	Topic string `yaml:"topic"`
	// Key selects the record key: "event" (the event's Key) or "path:<gjson path>"
	// (a field of a JSON payload; a number is written as its JSON text). An empty
	// result produces a record without a key. Empty means "event".
	Key string `yaml:"key"`
	// Acks is how many replicas must have a record before the broker acknowledges
	// it: "all" (the in-sync replicas; the default), "leader" or "none".
	Acks string `yaml:"acks"`
	// Idempotent turns on the idempotent producer, so that a produce retried after a
	// lost answer writes no second copy. It needs acks "all": with another acks it
	// is turned off with a warning. DefaultSinkConfig sets it.
	Idempotent bool `yaml:"idempotent"`
	// Compression is the record batch codec: none, gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression"`
	// Timeout bounds one Send: from handing the record to the producer to the
	// broker's acknowledgement. It is also the broker's wait for the replicas.
	// Zero means 5s.
	Timeout time.Duration `yaml:"timeout"`
	// ClientID is sent to the brokers for their logs and quotas. Empty means
	// "edgerelay".
	ClientID string `yaml:"client_id"`
	// MaxInFlight bounds concurrent Sends (events with different keys); records in
	// flight together are batched into one produce request. Zero means 64.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxMessageBytes is the largest record accepted; a larger event is
	// dead-lettered without being sent. Zero means 1000000.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// TLS turns on TLS to the brokers when enable or any other key is set.
	TLS TLSConfig `yaml:"tls"`
	// SASL authenticates with SASL/PLAIN when username is set.
	SASL SASLConfig `yaml:"sasl"`
}

// DefaultSinkConfig returns a SinkConfig with every default filled in.
func DefaultSinkConfig() SinkConfig {
	return SinkConfig{
		Key:             DefaultSinkKey,
		Acks:            DefaultSinkAcks,
		Idempotent:      true,
		Compression:     DefaultSinkCompression,
		Timeout:         DefaultSinkTimeout,
		ClientID:        DefaultClientID,
		MaxInFlight:     DefaultSinkMaxInFlight,
		MaxMessageBytes: DefaultSinkMaxMessageBytes,
	}
}

// withDefaults returns c with empty fields replaced by their defaults. Idempotent
// is left as it is: false is a choice.
func (c SinkConfig) withDefaults() SinkConfig {
	d := DefaultSinkConfig()
	if c.Key == "" {
		c.Key = d.Key
	}
	if c.Acks == "" {
		c.Acks = d.Acks
	}
	if c.Compression == "" {
		c.Compression = d.Compression
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.ClientID == "" {
		c.ClientID = d.ClientID
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	return c
}

// keyPath returns the gjson path of a "path:" key, or "" for "event".
func (c *SinkConfig) keyPath() string {
	p, _ := strings.CutPrefix(c.Key, KeyPathPrefix)
	if c.Key == "" || c.Key == KeyEvent {
		return ""
	}
	return p
}

// Validate reports every problem at once, each naming its YAML key.
func (c *SinkConfig) Validate() error {
	errs := checkConn(c.Brokers, c.TLS, c.SASL)
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Topic == "" {
		add("topic: required")
	} else if err := checkTopic(c.Topic); err != nil {
		add("topic: %w", err)
	}
	switch p, isPath := strings.CutPrefix(c.Key, KeyPathPrefix); {
	case c.Key == "" || c.Key == KeyEvent:
	case !isPath:
		add("key: %q is neither %q nor %q followed by a gjson path", c.Key, KeyEvent, KeyPathPrefix)
	case p == "":
		add("key: %q names no path", c.Key)
	case strings.TrimSpace(p) != p:
		add("key: %q: the path has leading or trailing spaces", c.Key)
	}
	if _, ok := acksModes[c.Acks]; !ok && c.Acks != "" {
		add("acks: %q is not %q, %q or %q", c.Acks, AcksAll, AcksLeader, AcksNone)
	}
	if _, ok := codecs[c.Compression]; !ok && c.Compression != "" {
		add("compression: %q is not one of none, gzip, snappy, lz4, zstd", c.Compression)
	}
	if c.Timeout < 0 || (c.Timeout > 0 && c.Timeout < 100*time.Millisecond) {
		add("timeout: %s is below 100ms", c.Timeout)
	}
	if c.Timeout > 5*time.Minute {
		add("timeout: %s is above 5m", c.Timeout)
	}
	if len(c.ClientID) > 255 {
		add("client_id: longer than 255 bytes")
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > 1024 {
		add("max_in_flight: %d is outside 1..1024", c.MaxInFlight)
	}
	if c.MaxMessageBytes < 0 || (c.MaxMessageBytes > 0 && c.MaxMessageBytes < 1024) || c.MaxMessageBytes > 100<<20 {
		add("max_message_bytes: %d is outside 1024..%d", c.MaxMessageBytes, 100<<20)
	}
	return errors.Join(errs...)
}
