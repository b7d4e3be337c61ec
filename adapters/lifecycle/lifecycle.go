// Package lifecycle is the contract between the daemon's lifecycle-event publisher
// (package daemon/lifecycle) and the brokers it publishes to: one package per broker
// under adapters/lifecycle/ (nats, kafka, amqp091, redis, mqtt, awssns,
// googlepubsub), each registering a [Spec] from init, linked by package adapters/all
// behind an edgerelay_omit_lifecycle_<name> build tag.
//
// The wire contract is docs/lifecycle-events.md (the project's copy of
// specs/lifecycle-events.md): every message is one CloudEvents 1.0 document in
// structured JSON mode ([Message.Body], built by the daemon, never by an adapter),
// and each adapter puts it where the spec's table says, promoting [Message.Type]
// and [Message.CoreName] to the broker's own headers or attributes.
//
// # Configuration
//
// An adapter's settings come from the YAML block events.<name> and are then
// overridden by its environment variables (the seed's EVENT_BROKER_* names: the
// environment wins). [Config.ApplyEnv] reads the variables and [Config.Validate]
// reports settings that cannot work; every error names the variable (and the YAML
// key), never a secret's value. A broker that is merely unreachable is not a
// configuration error: Connect fails and the daemon retries it with backoff.
//
// # Publishing
//
// The daemon calls one [Publisher] from one goroutine: Connect, then Publish for
// each message in order, Connect again after a Publish error (with backoff), Close
// once at the end. Publish returns once the broker has the message as far as the
// protocol can tell (a JetStream or publisher-confirm ack, a Kafka produce
// response, an MQTT PUBACK at QoS 1, an HTTP 200; a Redis PUBLISH reply), or an
// error; it must return promptly when its context ends. The daemon keeps a message
// whose Publish failed and tries it again after reconnecting, so an adapter never
// buffers or retries on its own.
package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/edgerelay/edgerelay/adapters/clock"
)

// ContentType is the media type of every message body, for protocols that carry one.
const ContentType = "application/cloudevents+json"

// The domain topics of the seed (Kafka topics, SNS topic names after the ARN prefix,
// Pub/Sub topic ids after the prefix). edgerelay publishes to the first two only.
const (
	TopicNodes       = "edge-nodes-events"
	TopicCommands    = "edge-commands-events"
	TopicSelfUpdates = "edge-self-updates-events"
	TopicSSH         = "edge-ssh-events"
)

// DomainTopic returns the domain topic of an event type: edge.command_execution.*
// → TopicCommands, everything else (edge.node.*, edge.alert.*) → TopicNodes.
func DomainTopic(typ string) string {
	if strings.HasPrefix(typ, "edge.command_execution.") {
		return TopicCommands
	}
	return TopicNodes
}

// MQTTTopic returns the MQTT topic of an event type: the type with '.' as '/'
// (edge.node.started → edge/node/started).
func MQTTTopic(typ string) string { return strings.ReplaceAll(typ, ".", "/") }

// Message is one lifecycle event, ready to publish.
type Message struct {
	// ID is the CloudEvents id (unique per event; a retried publish keeps it, so a
	// broker with de-duplication, JetStream's Nats-Msg-Id, drops the copy).
	ID string
	// Type is the CloudEvents type ("edge.node.started").
	Type string
	// CoreName is the corename extension attribute (CORE_NAME).
	CoreName string
	// Topic is the domain topic of Type ([DomainTopic]).
	Topic string
	// Body is the whole CloudEvents document, structured JSON mode.
	Body []byte
}

// Publisher delivers messages to one broker. See the package documentation for how
// the daemon calls it.
type Publisher interface {
	// Connect dials the broker and checks what it can check up front (the login,
	// a JetStream stream, an AMQP exchange). An error says what failed, without a
	// secret; the daemon retries with backoff. Connect after a failed Publish
	// replaces the old connection.
	Connect(ctx context.Context) error
	// Publish sends m and waits for the broker's acknowledgement, if the protocol
	// has one. An error means m may not have arrived: the daemon reconnects and
	// publishes it again.
	Publish(ctx context.Context, m Message) error
	// Close releases the connection. It may be called without Connect, and twice.
	Close() error
}

// BatchPublisher is implemented by a Publisher that sends several messages with
// one wait for the broker (core NATS: one flush; JetStream: the acknowledgements
// awaited together). PublishBatch returns nil only once the broker has every
// message; after an error some may have arrived, and the daemon publishes them all
// again with the same ids. The daemon hands it the messages that waited in its
// buffer, in order, at most 128 at a time.
type BatchPublisher interface {
	PublishBatch(ctx context.Context, ms []Message) error
}

// Env looks up an environment variable, as os.LookupEnv. Tests give a map's.
type Env func(name string) (string, bool)

// Deps are what the daemon hands an adapter when it builds its Publisher.
type Deps struct {
	// Log is narrowed to the lifecycle publisher; never nil.
	Log *slog.Logger
	// Clock tells the time (token expiry, signing dates); never nil.
	Clock clock.Clock
	// Version is the daemon's version, for User-Agent headers and client names.
	Version string
	// Env is where variables the adapter reads at run time come from (the AWS and
	// Google credential chains); never nil.
	Env Env
	// HTTP is the client for HTTP adapters and credential endpoints; nil means a
	// client of the adapter's own (tests set one with their fake's transport).
	HTTP *http.Client
}

// Config is one adapter's settings: a pointer to a struct decoded strictly from
// the YAML block events.<name> (yaml tags, defaults already set by NewConfig).
type Config interface {
	// ApplyEnv overrides settings with the adapter's variables that env has. A value
	// that does not parse is an error naming the variable.
	ApplyEnv(env Env) error
	// Validate reports every setting that cannot work (errors.Join), each naming its
	// variable and YAML key (EVENT_BROKER_MQTT_QOS (events.mqtt.qos): 3 is not 0, 1
	// or 2).
	Validate() error
	// Secrets returns the secret values the settings hold (passwords, tokens, keys),
	// for the daemon to redact from every log line, error and metric.
	Secrets() []string
	// Build makes the publisher. It does not dial: Connect does.
	Build(d Deps) (Publisher, error)
}

// Spec registers one adapter.
type Spec struct {
	// Name is the adapter's EVENT_BROKER_ADAPTER value and YAML block name.
	Name string
	// Aliases are other accepted names (amqp091: rabbitmq).
	Aliases []string
	// Variables are the environment variables the adapter reads, for the docs and
	// `config check`.
	Variables []string
	// NewConfig returns a config with the defaults set.
	NewConfig func() Config
}

var (
	regMu   sync.RWMutex
	specs   = map[string]*Spec{}  // by name and alias
	omitted = map[string]string{} // name → build tag
)

// Register records s; it panics on a duplicate name (a programming error).
func Register(s Spec) {
	regMu.Lock()
	defer regMu.Unlock()
	for _, n := range append([]string{s.Name}, s.Aliases...) {
		if _, dup := specs[n]; dup {
			panic(fmt.Sprintf("lifecycle adapter %q registered twice", n))
		}
		specs[n] = &s
	}
}

// RegisterOmitted records that this binary was built without adapter name (and its
// aliases) because of build tag tag.
func RegisterOmitted(tag, name string, aliases ...string) {
	regMu.Lock()
	defer regMu.Unlock()
	for _, n := range append([]string{name}, aliases...) {
		omitted[n] = tag
	}
}

// Lookup returns the adapter registered as name (or alias).
func Lookup(name string) (*Spec, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	s, ok := specs[name]
	return s, ok
}

// Omitted returns the build tag that left adapter name out of this binary.
func Omitted(name string) (tag string, ok bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	tag, ok = omitted[name]
	return tag, ok
}

// Names returns the registered adapters' names (not aliases), sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []string
	for n, s := range specs {
		if n == s.Name {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Known returns every name and alias this binary knows, built in or omitted, sorted:
// for "one of …" messages.
func Known() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []string
	for n := range specs {
		out = append(out, n)
	}
	for n := range omitted {
		out = append(out, n)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// OmitTags returns the build tags that left lifecycle adapters out, sorted.
func OmitTags() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []string
	for _, tag := range omitted {
		out = append(out, tag)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// MQTTTarget is implemented by the config of an adapter that publishes to an MQTT
// broker (the topics edge/...): MQTTAddress is the broker's host:port. The daemon
// refuses a configuration whose MQTT source subscribes to those topics on that
// broker: the node would relay its own lifecycle events (a dead letter, an
// edge.alert.relayed) back into itself, without end.
type MQTTTarget interface {
	MQTTAddress() string
}
