package mapping

import (
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert"
)

// TransformType is the route transform type registered by this package.
const TransformType = "ilert"

// The values of TransformConfig.Consumer.
const (
	ConsumerMQTT  = "mqtt"
	ConsumerKafka = "kafka"
)

// AttrKafkaKey is the event attribute holding a Kafka message key (set by the kafka
// source); it goes into the default customDetails of Kafka events.
const AttrKafkaKey = "kafka.key"

// TransformConfig configures the "ilert" route transform: ilagent's consumer options.
// The route's messages are classified by topic (event, heartbeat, policy) and turned
// into what the ilert sink sends.
type TransformConfig struct {
	// Consumer is "mqtt" (the default) or "kafka": it selects the events endpoint
	// (/api/v1/events/<consumer>/{key}) and the default customDetails.
	Consumer string `yaml:"consumer"`
	Topics   `yaml:",inline"`
	Config   `yaml:",inline"`
	// PolicyConfig applies to messages on policy_topic.
	PolicyConfig `yaml:",inline"`
}

// DefaultTransformConfig returns the defaults: MQTT, policy paths data.email and
// data.shift.
func DefaultTransformConfig() TransformConfig {
	return TransformConfig{Consumer: ConsumerMQTT, PolicyConfig: DefaultPolicyConfig()}
}

// RequiredSinkTypes (adapters.SinkTypeRequirer): with event_key, only the ilert sink
// can send what the transform makes — the key is stored as a reference
// (ilert.AttrKeyRef) that the ilert sink resolves, and another sink would send the
// events with an empty integrationKey.
func (c *TransformConfig) RequiredSinkTypes() ([]string, string) {
	if c.EventKey == "" {
		return nil, ""
	}
	return []string{ilert.SinkType}, "event_key is kept out of the store as a reference only the ilert sink resolves; route the other sinks without this transform"
}

// Validate reports every problem at once, each naming its YAML key.
func (c *TransformConfig) Validate() error {
	var errs []error
	switch c.Consumer {
	case "", ConsumerMQTT, ConsumerKafka:
	default:
		errs = append(errs, fmt.Errorf("consumer: must be mqtt or kafka, not %q", c.Consumer))
	}
	errs = append(errs, c.Topics.Validate(), c.Config.Validate())
	switch {
	case c.Topics.Policy != "":
		errs = append(errs, c.PolicyConfig.Validate())
	case len(c.RoutingKeys) > 0:
		errs = append(errs, errors.New("policy_routing_keys: has no effect without policy_topic"))
	}
	return errors.Join(errs...)
}

// Transform converts consumer messages for the ilert sink. It is safe for concurrent use.
type Transform struct {
	cfg TransformConfig
	log *slog.Logger
	// attrs are the attributes of every alert event it makes, shared by them all:
	// events are immutable once published, so one read-only map serves.
	attrs map[string]string
}

// NewTransform builds the transform from a validated config.
func NewTransform(cfg TransformConfig, d adapters.Deps) (*Transform, error) {
	if cfg.Consumer == "" {
		cfg.Consumer = ConsumerMQTT
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := ilert.PathMQTT
	if cfg.Consumer == ConsumerKafka {
		path = ilert.PathKafka
	}
	attrs := map[string]string{ilert.AttrEventsPath: path}
	if cfg.EventKey != "" {
		attrs[ilert.AttrKeyRef] = ilert.RegisterKey(cfg.EventKey)
	}
	return &Transform{cfg: cfg, log: log, attrs: attrs}, nil
}

//go:embed sample.yaml
var sample string

func init() {
	adapters.RegisterTransform(TransformType, adapters.TransformSpec[TransformConfig]{
		Summary:  "Turn MQTT/Kafka messages into ilert events, heartbeats and policy updates (ilagent's mapping)",
		Sample:   sample,
		Defaults: DefaultTransformConfig,
		New: func(cfg TransformConfig, d adapters.Deps) (adapters.Transform, error) {
			return NewTransform(cfg, d)
		},
	})
}

// Transform classifies e by its topic and returns:
//   - for an event topic, an alert event whose payload is the ilert event body, keyed
//     by alertKey (so a RESOLVE never overtakes its ALERT), sent to the consumer's
//     events path;
//   - for a heartbeat topic, a heartbeat event keyed by the heartbeat key;
//   - for a policy topic, a policy event (ilert.PolicyUpdate) keyed by routing key.
//
// Messages on no configured topic, and messages filter_key/filter_val rejects, are
// skipped (adapters.ErrSkip). Payloads that cannot be converted (not a JSON object,
// wrong field types, an unknown eventType or priority, a heartbeat without key, an
// integration or heartbeat key that cannot be a URL path segment, a policy message
// without email or routing key) return an error naming the problem:
// the daemon keeps them as dead letters instead of dropping them as ilagent does.
func (t *Transform) Transform(e *adapters.Event) (*adapters.Event, error) {
	switch t.cfg.Topics.Classify(e.Topic) {
	case Event:
		return t.event(e)
	case Heartbeat:
		key, ok := HeartbeatKey(e.Payload)
		if !ok {
			return nil, fmt.Errorf("heartbeat on %q: payload is not a JSON object with a string integrationKey or apiKey", e.Topic)
		}
		if err := pathSegment(key); err != nil {
			return nil, fmt.Errorf("heartbeat on %q: the heartbeat key %w", e.Topic, err)
		}
		return derive(e, adapters.KindHeartbeat, key, e.Payload, nil), nil
	case Policy:
		upd, skip, reason := MapPolicy(t.cfg.Config, t.cfg.PolicyConfig, e.Payload)
		if skip {
			if r, out := filteredPayload(t.cfg.Config, e.Payload); out {
				return nil, adapters.Skip("%s", r)
			}
			return nil, fmt.Errorf("policy update on %q: %s", e.Topic, reason)
		}
		body, err := upd.Encode()
		if err != nil {
			return nil, fmt.Errorf("policy update on %q: %w", e.Topic, err)
		}
		return derive(e, adapters.KindPolicy, upd.RoutingKey, body, nil), nil
	}
	return nil, adapters.Skip("topic %q matches no event, heartbeat or policy topic", e.Topic)
}

func (t *Transform) event(e *adapters.Event) (*adapters.Event, error) {
	var (
		res Result
		err error
	)
	if t.cfg.Consumer == ConsumerKafka {
		res, err = mapMessage(t.cfg.Config, origin{topic: e.Topic, kafka: true, messageKey: e.Attrs[AttrKafkaKey], keyByRef: true}, e.Payload)
	} else {
		res, err = mapMessage(t.cfg.Config, origin{topic: e.Topic, keyByRef: true}, e.Payload)
	}
	switch {
	case err != nil:
		return nil, err
	case res.Filtered:
		return nil, adapters.Skip("%s", res.Reason)
	case res.Skip:
		return nil, fmt.Errorf("event on %q: %s", e.Topic, res.Reason)
	}
	// The consumer's events path ends in the integration key; an empty one is the
	// sink's configured key.
	if res.IntegrationKey != "" {
		if err := pathSegment(res.IntegrationKey); err != nil {
			return nil, adapters.Permanent(fmt.Errorf("event on %q: the integration key %w", e.Topic, err))
		}
	}
	for _, w := range res.Warnings {
		t.log.Debug("mapping did not apply", "event_id", e.ID, "topic", e.Topic, "detail", w)
	}
	return derive(e, adapters.KindAlert, res.AlertKey, res.Body, t.attrs), nil
}

// pathSegment checks a key that the ilert sink puts in a URL path as one segment
// (/api/v1/events/mqtt/{key}, /api/pings/{key}): escaped or not, ilert reads a '/' in
// it as a path separator, and "." and ".." as path steps, so no such request can reach
// the key. The error leaves the key out: keys are credentials.
func pathSegment(key string) error {
	switch {
	case strings.Contains(key, "/"):
		return errors.New("contains '/' and cannot be sent in the API path")
	case key == "." || key == "..":
		return errors.New("is a path step ('.' or '..') and cannot be sent in the API path")
	}
	return nil
}

// derive returns a copy of e with a new kind, key, payload and attributes, keeping its
// id, source, topic and receive time.
func derive(e *adapters.Event, kind, key string, payload []byte, attrs map[string]string) *adapters.Event {
	return &adapters.Event{
		ID: e.ID, Kind: kind, Key: key, Source: e.Source, Topic: e.Topic,
		Payload: payload, Attrs: attrs, Received: e.Received,
	}
}
