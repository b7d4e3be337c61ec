package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	contract "github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// withEventsEnv makes the EVENT_BROKER_* variables those of env for one test.
func withEventsEnv(t *testing.T, env map[string]string) {
	t.Helper()
	old := EventsEnv
	t.Cleanup(func() { EventsEnv = old })
	EventsEnv = contract.MapEnv(env)
}

const eventsBase = `
store: { path: /tmp/x.db }
sinks: [{ name: console, type: stdout }]
routes: [{ to: [console] }]
`

// TestEventsSection: the events: section decodes strictly (its own keys and one
// block per adapter, by name or alias), the variables override the file, and what
// cannot work is refused naming the variable (and the key, with its line, when it
// came from the file).
func TestEventsSection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		env     map[string]string
		adapter string   // the chosen adapter's name, "" for off
		want    []string // problems, each a substring; none means valid
	}{
		{name: "absent", yaml: ""},
		{name: "off with a block", yaml: "events: { nats: { urls: [nats://a:4222] } }"},
		{name: "from the file", yaml: "events: { enabled: true, adapter: nats, nats: { urls: [nats://a:4222], jetstream: true } }", adapter: "nats"},
		{name: "from the environment", env: map[string]string{"EVENT_BROKER_ENABLED": "true", "EVENT_BROKER_ADAPTER": "redis",
			"EVENT_BROKER_REDIS_URL": "redis://127.0.0.1:6379"}, adapter: "redis"},
		{name: "the environment wins", yaml: "events: { enabled: false, adapter: nats, mqtt: { url: 'b:1883', qos: 1 } }",
			env:  map[string]string{"EVENT_BROKER_ENABLED": "1", "EVENT_BROKER_ADAPTER": "mqtt", "EVENT_BROKER_MQTT_QOS": "5"},
			want: []string{"EVENT_BROKER_MQTT_QOS (events.mqtt.qos): 5 is not 0, 1 or 2"}},
		{name: "an alias's block", yaml: "events: { enabled: true, adapter: rabbitmq, rabbitmq: { url: 'amqp://g:g@h:5672/' } }", adapter: "amqp091"},
		{name: "unknown key", yaml: "events:\n  enabled: true\n  adpter: nats\n", want: []string{`line 7: unknown key "adpter" in events (did you mean "adapter"?)`}},
		{name: "unknown block key", yaml: "events:\n  nats:\n    url: nats://a\n", want: []string{`line 7: unknown key "url" in events.nats (did you mean "urls"?)`}},
		{name: "unknown adapter", yaml: "events: { enabled: true, adapter: pigeon }", want: []string{`EVENT_BROKER_ADAPTER (events.adapter): "pigeon" is not one of`}},
		{name: "no adapter", env: map[string]string{"EVENT_BROKER_ENABLED": "true"}, want: []string{"EVENT_BROKER_ADAPTER (events.adapter): required"}},
		{name: "bad bool", env: map[string]string{"EVENT_BROKER_ENABLED": "maybe"}, want: []string{`EVENT_BROKER_ENABLED: "maybe" is not true or false`}},
		{name: "bad buffer", yaml: "events: { buffer: 0 }", want: []string{"events.buffer: 0 is not between 1 and 65536"}},
		{name: "sns needs region and prefix", env: map[string]string{"EVENT_BROKER_ENABLED": "true", "EVENT_BROKER_ADAPTER": "aws_sns"},
			want: []string{"EVENT_BROKER_AWS_SNS_REGION", "EVENT_BROKER_AWS_SNS_TOPIC_ARN_PREFIX"}},
		{name: "pubsub needs a project", env: map[string]string{"EVENT_BROKER_ENABLED": "true", "EVENT_BROKER_ADAPTER": "google_pubsub",
			"PUBSUB_EMULATOR_HOST": "localhost:8085"}, want: []string{"EVENT_BROKER_GOOGLE_PUBSUB_PROJECT"}},
		{name: "mtls without ssl", env: map[string]string{"EVENT_BROKER_ENABLED": "true", "EVENT_BROKER_ADAPTER": "mqtt",
			"EVENT_BROKER_MQTT_URL": "b:8883", "EVENT_BROKER_MQTT_CLIENT_CERT_FILE": "/c.pem", "EVENT_BROKER_MQTT_CLIENT_KEY_FILE": "/c.key"},
			want: []string{"EVENT_BROKER_MQTT_CLIENT_CERT_FILE"}},
		{name: "kafka url with a scheme", env: map[string]string{"EVENT_BROKER_ENABLED": "true", "EVENT_BROKER_ADAPTER": "kafka",
			"EVENT_BROKER_KAFKA_URLS": "kafka://k:9092"}, want: []string{"EVENT_BROKER_KAFKA_URLS"}},
		{name: "nats url that does not parse", env: map[string]string{"EVENT_BROKER_ENABLED": "true", "EVENT_BROKER_ADAPTER": "nats",
			"EVENT_BROKER_NATS_URLS": "nats://[::1"}, want: []string{"EVENT_BROKER_NATS_URLS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withEventsEnv(t, tc.env)
			cfg, err := Parse([]byte(eventsBase+tc.yaml), "t.yaml")
			if len(tc.want) == 0 {
				require.NoError(t, err)
				if tc.adapter == "" {
					require.False(t, cfg.Events.Enabled)
					return
				}
				require.True(t, cfg.Events.Enabled)
				require.Equal(t, tc.adapter, cfg.Events.Spec.Name)
				require.NotNil(t, cfg.Events.Settings)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.Contains(l, "EVENT_BROKER_") && !strings.Contains(l, "(events.") && strings.Contains(l, "line ") {
					t.Errorf("a problem from the environment has a line of the file: %s", l)
				}
			}
		})
	}
}

// TestEventsSecretsRegistered: a secret of the chosen adapter's settings, from the
// file or the environment, is registered for redaction and appears in no problem.
func TestEventsSecretsRegistered(t *testing.T) {
	t.Cleanup(secret.Default.Reset)
	withEventsEnv(t, map[string]string{"EVENT_BROKER_MQTT_PASSWORD": "Env-Pw-7h6g5f4d3s", "EVENT_BROKER_MQTT_QOS": "9"})
	_, err := Parse([]byte(eventsBase+"events: { enabled: true, adapter: mqtt, mqtt: { url: 'b:1883', username: u } }"), "t.yaml")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "Env-Pw-7h6g5f4d3s")
	withEventsEnv(t, map[string]string{"EVENT_BROKER_MQTT_PASSWORD": "Env-Pw-7h6g5f4d3s"})
	_, err = Parse([]byte(eventsBase+"events: { enabled: true, adapter: mqtt, mqtt: { url: 'b:1883', username: u } }"), "t.yaml")
	require.NoError(t, err)
	require.Equal(t, "x *** y", secret.Redact("x Env-Pw-7h6g5f4d3s y"))
}

// TestEventsReviewCases: a block's file keys do not stop the start when publishing
// is off or a variable replaces them; a section or block given twice is refused;
// a problem with a value from the environment names no line of the file; the
// secrets of every adapter's variables are registered even with publishing off;
// the adapter's name is taken in any case.
func TestEventsReviewCases(t *testing.T) {
	t.Cleanup(secret.Default.Reset)
	withEventsEnv(t, nil)
	_, err := Parse([]byte(eventsBase+"events: { enabled: false, mqtt: { url: 'b:1883', cacert_file: /nonexistent/ca.pem } }"), "t.yaml")
	require.NoError(t, err, "off: the block's files are not looked at")

	_, err = Parse([]byte(eventsBase+"events: { enabled: true, adapter: NATS, nats: { urls: [nats://a:4222] } }"), "t.yaml")
	require.NoError(t, err, "the adapter in any case")

	_, err = Parse([]byte(eventsBase+"events:\n  nats: { urls: [nats://a:4222] }\n  nats: { urls: [nats://b:4222] }\n"), "t.yaml")
	require.ErrorContains(t, err, "events.nats is given twice (first at line 6)")
	_, err = Parse([]byte(eventsBase+"events: { enabled: false }\nevents: { enabled: true }\n"), "t.yaml")
	require.ErrorContains(t, err, "events is given twice (first at line 5)")

	withEventsEnv(t, map[string]string{"EVENT_BROKER_ENABLED": "true", "EVENT_BROKER_ADAPTER": "mqtt", "EVENT_BROKER_MQTT_QOS": "7"})
	_, err = Parse([]byte(eventsBase+"events:\n  mqtt:\n    url: 'b:1883'\n    qos: 1\n"), "t.yaml")
	require.ErrorContains(t, err, "  - environment: EVENT_BROKER_MQTT_QOS (events.mqtt.qos): 7 is not 0, 1 or 2")
	require.NotContains(t, err.Error(), "line 8")

	withEventsEnv(t, map[string]string{"EVENT_BROKER_KAFKA_PASSWORD": "Kafka-Pw-5t4r3e2w1q", "EVENT_BROKER_KAFKA_USERNAME": "u",
		"EVENT_BROKER_KAFKA_URLS": "k:9092"})
	_, err = Parse([]byte(eventsBase), "t.yaml")
	require.NoError(t, err)
	require.Equal(t, "pw=***", secret.Redact("pw=Kafka-Pw-5t4r3e2w1q"), "registered with publishing off")
}
