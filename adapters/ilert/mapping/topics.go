package mapping

import (
	"errors"
	"fmt"

	"github.com/edgerelay/edgerelay/adapters/topic"
)

// Kind is what a consumer message is, decided from its topic.
type Kind int

// Kinds of consumer messages.
const (
	Ignored   Kind = iota // no configured topic matches: acknowledge and drop
	Event                 // an ilert event to map with Map or MapKafka
	Heartbeat             // a heartbeat ping, key read with HeartbeatKey
	Policy                // an escalation-policy update
)

// String returns the kind's lowercase name.
func (k Kind) String() string {
	switch k {
	case Event:
		return "event"
	case Heartbeat:
		return "heartbeat"
	case Policy:
		return "policy"
	}
	return "ignored"
}

// Topics holds the consumer's topic filters (ilagent's --event_topic,
// --heartbeat_topic, --policy_topic). Empty means the kind is not consumed.
type Topics struct {
	// Event is the MQTT topic filter (or Kafka topic) of events.
	Event string `yaml:"event_topic"`
	// Heartbeat is the MQTT topic filter (or Kafka topic) of heartbeats.
	Heartbeat string `yaml:"heartbeat_topic"`
	// Policy is the MQTT topic filter (or Kafka topic) of policy updates.
	Policy string `yaml:"policy_topic"`
}

// Validate checks each configured filter and that at least one is configured.
func (t *Topics) Validate() error {
	var errs []error
	for _, f := range []struct{ name, val string }{
		{"event_topic", t.Event}, {"heartbeat_topic", t.Heartbeat}, {"policy_topic", t.Policy},
	} {
		if f.val == "" {
			continue
		}
		if err := topic.Validate(f.val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	if t.Event == "" && t.Heartbeat == "" && t.Policy == "" {
		errs = append(errs, errors.New("at least one of event_topic, heartbeat_topic or policy_topic is required"))
	}
	return errors.Join(errs...)
}

// Classify returns the kind of a message received on topic name. Heartbeat, policy
// and event filters are tried in that order (ilagent's order), each with real MQTT
// filter matching. ilagent compares heartbeat and event topics by string equality
// and, when the event topic holds a wildcard, treats every remaining topic as an
// event (spec §11.7); here "devices/+/alerts" matches only what it says. Kafka topic
// names contain no wildcards, so for Kafka this is exact matching.
func (t Topics) Classify(name string) Kind {
	switch {
	case t.Heartbeat != "" && topic.Match(t.Heartbeat, name):
		return Heartbeat
	case t.Policy != "" && topic.Match(t.Policy, name):
		return Policy
	case t.Event != "" && topic.Match(t.Event, name):
		return Event
	}
	return Ignored
}
