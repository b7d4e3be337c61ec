package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Values of Config.Enabled.
const (
	EnabledAuto  = "auto"
	EnabledTrue  = "true"
	EnabledFalse = "false"
)

// Values of Config.Anonymous.
const (
	AnonymousLoopback = "loopback"
	AnonymousAlways   = "always"
	AnonymousNever    = "never"
)

// Defaults used when a Config field is zero.
const (
	DefaultListen = "127.0.0.1:1883"
	// DefaultMaxMessageBytes is the packet limit for the daemon's default event
	// limit (store.max_event_bytes, 256 KiB): PacketLimitFor(256 KiB).
	DefaultMaxMessageBytes = 256<<10 + PacketHeadroom
	// PacketHeadroom is what the packet limit must leave above the event limit for
	// the rest of a PUBLISH (topic, packet id, v5 properties) and for a payload
	// somewhat over the event limit: such a message reaches the relay's size policy
	// (counted, dead-lettered as a bounded prefix, acknowledged) instead of Mochi
	// disconnecting its client, which would resend it forever.
	PacketHeadroom = 64 << 10
	maxMQTTPacket  = 268435455 // MQTT's largest remaining length
)

// PacketLimitFor returns the default packet limit for an event limit of
// eventBytes (store.max_event_bytes; zero or less: none, which gives
// DefaultMaxMessageBytes): eventBytes plus PacketHeadroom.
func PacketLimitFor(eventBytes int) int {
	if eventBytes <= 0 {
		return DefaultMaxMessageBytes
	}
	return min(eventBytes+PacketHeadroom, maxMQTTPacket)
}

// CheckEventLimit refuses a packet limit that does not sit PacketHeadroom above the
// event limit eventBytes (store.max_event_bytes; zero or less: none), for a broker
// that may run: a message just over the event limit would then be a packet over
// the broker's limit, and its client would be disconnected instead of the message
// being counted and dead-lettered.
func (c Config) CheckEventLimit(eventBytes int) error {
	c = c.withDefaults()
	if c.Enabled == EnabledFalse || eventBytes <= 0 || eventBytes > maxMQTTPacket-PacketHeadroom {
		return nil
	}
	if want := eventBytes + PacketHeadroom; c.MaxMessageBytes < want {
		return fmt.Errorf("max_message_bytes: %d is less than store.max_event_bytes (%d) plus %d bytes for the topic and properties: "+
			"a message just over the event limit would disconnect its client (which resends it forever) instead of being counted and dead-lettered; "+
			"set it to at least %d, or leave it out to derive it", c.MaxMessageBytes, eventBytes, PacketHeadroom, want)
	}
	return nil
}

// Config configures the embedded MQTT broker.
type Config struct {
	// Enabled is "auto", "true" or "false". "auto" (and empty) starts the broker
	// unless something already accepts connections on Listen (a site broker); "true"
	// always starts it and fails if Listen is taken; "false" never starts it.
	Enabled string `yaml:"enabled"`
	// Listen is the TCP address to serve MQTT on. Empty means 127.0.0.1:1883, which
	// only local clients can reach.
	Listen string `yaml:"listen"`
	// MaxMessageBytes bounds one MQTT packet (topic, properties and payload); a
	// client sending a larger one is disconnected (MQTT 5: reason 0x95). It must be
	// at least store.max_event_bytes + PacketHeadroom (CheckEventLimit). Zero means
	// PacketLimitFor(store.max_event_bytes) in the daemon's configuration, and
	// DefaultMaxMessageBytes (320 KiB) here.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// Anonymous says who may connect without a user name: "loopback" (and empty)
	// allows clients on the same machine only, "always" everyone, "never" nobody.
	Anonymous string `yaml:"anonymous"`
	// Users lists the accounts clients may log in with. Empty means none: a client
	// that sends a user name is refused.
	Users []User `yaml:"users"`
}

// User is one broker account.
type User struct {
	// Username is the MQTT user name. Required.
	Username string `yaml:"username"`
	// Password is the account's password. Required; never logged.
	Password secret.Value `yaml:"password"`
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.Enabled == "" {
		c.Enabled = EnabledAuto
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.Anonymous == "" {
		c.Anonymous = AnonymousLoopback
	}
	return c
}

// Validate reports every problem at once, each naming its YAML key under broker.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("broker."+format, args...)) }
	switch c.Enabled {
	case "", EnabledAuto, EnabledTrue, EnabledFalse:
	default:
		add("enabled: %q is not auto, true or false", c.Enabled)
	}
	if c.Listen != "" {
		host, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			add("listen: %q: want host:port", c.Listen)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			add("listen: %q: bad port", c.Listen)
		} else if host != "" && net.ParseIP(host) == nil && host != "localhost" {
			add("listen: %q: the host must be an IP address or localhost", c.Listen)
		}
	}
	if c.MaxMessageBytes < 0 || c.MaxMessageBytes > maxMQTTPacket {
		add("max_message_bytes: %d is outside 0..%d", c.MaxMessageBytes, maxMQTTPacket)
	}
	switch c.Anonymous {
	case "", AnonymousLoopback, AnonymousAlways, AnonymousNever:
	default:
		add("anonymous: %q is not loopback, always or never", c.Anonymous)
	}
	if c.Anonymous == AnonymousNever && len(c.Users) == 0 {
		add("anonymous: never, but no users are configured: nobody could connect")
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		if u.Username == "" {
			add("users[%d].username: required", i)
		}
		if u.Password == "" {
			add("users[%d].password: required", i)
		}
		if seen[u.Username] && u.Username != "" {
			add("users[%d].username: %q is listed twice", i, u.Username)
		}
		seen[u.Username] = true
	}
	return errors.Join(errs...)
}

// Wanted reports whether the daemon should start the broker: never for "false",
// always for "true", and for "auto" only when nothing accepts connections on Listen
// yet.
func (c Config) Wanted() bool {
	c = c.withDefaults()
	switch c.Enabled {
	case EnabledFalse:
		return false
	case EnabledTrue:
		return true
	default:
		return !AddrInUse(c.Listen)
	}
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config { return Config{}.withDefaults() }
