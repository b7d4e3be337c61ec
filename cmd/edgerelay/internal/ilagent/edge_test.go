package ilagent

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// edgeDoc is the generated configuration decoded without the daemon's types, so that
// its structure is checked whether or not the edge adapters are compiled in.
type edgeDoc struct {
	Log     map[string]any   `yaml:"log"`
	Store   map[string]any   `yaml:"store"`
	HTTP    map[string]any   `yaml:"http"`
	Broker  map[string]any   `yaml:"broker"`
	Sources []map[string]any `yaml:"sources"`
	Sinks   []map[string]any `yaml:"sinks"`
	Routes  []map[string]any `yaml:"routes"`
}

func edgeYAMLOf(t *testing.T, args string, env ...string) (edgeDoc, string) {
	t.Helper()
	c, err := Parse(strings.Fields(args), envOf(env...))
	require.NoError(t, err)
	require.NotNil(t, c.Daemon.Edge)
	y, err := ToYAML(c.Global, c.Daemon, envOf(env...))
	require.NoError(t, err)
	var doc edgeDoc
	dec := yaml.NewDecoder(strings.NewReader(string(y)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&doc), "%s", y)
	return doc, string(y)
}

const testEdgeKey = "iec1:edge-key-never-in-yaml"

// TestEdgeYAML: each --edge_mode becomes one ilert_edge source, the sink of the
// mode with the keys agreed for issue 9, and one route between them.
func TestEdgeYAML(t *testing.T) {
	key := []string{EnvEdgeConnectorKey, testEdgeKey}
	tests := []struct {
		name     string
		args     string
		env      []string
		source   map[string]any // keys beyond name, type, key_env, intervals
		sink     map[string]any
		sinkName string
	}{
		{name: "http defaults", args: "daemon --edge_mode http --edge_http_url http://t.local/hook",
			sinkName: "edge-http",
			sink:     map[string]any{"type": "webhook", "url": "http://t.local/hook", "method": "POST", "timeout": "30s"}},
		{name: "http PUT with the auth value from the environment", args: "daemon --edge_mode http --edge_http_url https://t/x --edge_http_method put --edge_http_auth_header X-API-Key",
			env:      []string{EnvEdgeHTTPAuthValue, "from-env-token"},
			sinkName: "edge-http",
			sink: map[string]any{"type": "webhook", "url": "https://t/x", "method": "PUT", "timeout": "30s",
				"auth_header": "X-API-Key", "auth_value_env": EnvEdgeHTTPAuthValue}},
		{name: "http with the auth value from the flag", args: "daemon --edge_mode http --edge_http_url https://t/x --edge_http_auth_header Authorization --edge_http_auth_value Bearer-flag-token",
			env:      []string{EnvEdgeHTTPAuthValue, "ignored-when-the-flag-is-given"},
			sinkName: "edge-http",
			sink: map[string]any{"type": "webhook", "url": "https://t/x", "method": "POST", "timeout": "30s",
				"auth_header": "Authorization", "auth_value": "Bearer-flag-token"}},
		{name: "kafka", args: "daemon --edge_mode kafka --kafka_brokers k1:9092,k2:9092 --kafka_group_id ignored --edge_topic alerts",
			sinkName: "edge-kafka",
			sink:     map[string]any{"type": "kafka", "brokers": []any{"k1:9092", "k2:9092"}, "topic": "alerts", "key": "event"}},
		{name: "mqtt defaults (QoS 1 unless --mqtt_qos says otherwise)", args: "daemon --edge_mode mqtt -m broker.local --edge_topic site/alerts",
			sinkName: "edge-mqtt",
			sink:     map[string]any{"type": "mqtt", "url": "tcp://broker.local:1883", "client_id": "ilagent-edge", "topic": "site/alerts", "qos": 1}},
		{name: "mqtt QoS 0 when asked", args: "daemon --edge_mode mqtt -m broker.local --edge_topic site/alerts --mqtt_qos 0",
			sinkName: "edge-mqtt",
			sink:     map[string]any{"type": "mqtt", "url": "tcp://broker.local:1883", "client_id": "ilagent-edge", "topic": "site/alerts", "qos": 0}},
		{name: "mqtt TLS, credentials, QoS 2", args: "daemon --edge_mode mqtt -m b -q 8883 -n site7 --mqtt_tls --mqtt_ca /c/ca.pem --mqtt_client_cert /c/c.pem --mqtt_client_key /c/k.pem --mqtt_username u --mqtt_password pw-secret --mqtt_qos 2 --edge_topic t",
			sinkName: "edge-mqtt",
			sink: map[string]any{"type": "mqtt", "url": "ssl://b:8883", "client_id": "site7-edge", "username": "u", "password": "pw-secret",
				"topic": "t", "qos": 2, "tls": map[string]any{"ca_file": "/c/ca.pem", "cert_file": "/c/c.pem", "key_file": "/c/k.pem"}}},
		{name: "script", args: "daemon --edge_mode script --edge_script /usr/local/bin/on-alert",
			sinkName: "edge-script",
			sink:     map[string]any{"type": "script", "command": "/usr/local/bin/on-alert"}},
		{name: "stdout with HA and intervals", args: "daemon --edge_mode stdout --edge_cluster_id prod-cluster --edge_instance_id node-1 --edge_poll_interval 5 --edge_standby_interval 120",
			env:      []string{EnvAPIHost, " http://127.0.0.1:8999 "},
			source:   map[string]any{"cluster_id": "prod-cluster", "instance_id": "node-1", "poll_interval": "5s", "standby_interval": "120s", "api_host": "http://127.0.0.1:8999"},
			sinkName: "edge-stdout",
			sink:     map[string]any{"type": "stdout", "format": "payload"}},
		{name: "literal ${ is kept", args: "daemon --edge_mode script --edge_script /opt/${X}/run",
			sinkName: "edge-script",
			sink:     map[string]any{"type": "script", "command": "/opt/$${X}/run"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, y := edgeYAMLOf(t, tc.args, append(append([]string{}, key...), tc.env...)...)
			require.NotContains(t, y, testEdgeKey, "the connector key is read from the environment, never written")
			require.NotContains(t, y, "from-env-token", "a value from the environment is named by its variable")
			require.Equal(t, "./ilagent.db3"+StoreSuffix, doc.Store["path"])
			require.Equal(t, "127.0.0.1:0", doc.HTTP["listen"], "no -p: the status endpoints on a free loopback port")
			require.Equal(t, "false", doc.Broker["enabled"])

			require.Len(t, doc.Sources, 1)
			wantSrc := map[string]any{"name": NameEdge, "type": "ilert_edge", "key_env": EnvEdgeConnectorKey,
				"poll_interval": "10s", "standby_interval": "10s"}
			for k, v := range tc.source {
				wantSrc[k] = v
			}
			require.Equal(t, wantSrc, doc.Sources[0])

			require.Len(t, doc.Sinks, 1)
			wantSink := map[string]any{"name": tc.sinkName, "retry": map[string]any{"initial": "5s", "max": "60s", "max_attempts": 100}}
			for k, v := range tc.sink {
				wantSink[k] = v
			}
			require.Equal(t, wantSink, doc.Sinks[0])

			mode := strings.TrimPrefix(tc.sinkName, "edge-")
			require.Equal(t, []map[string]any{{"name": "edge-to-" + mode, "from": []any{NameEdge}, "to": []any{tc.sinkName}}}, doc.Routes)
		})
	}
}

// TestEdgeYAMLPortHeartbeatFile: -p serves the status endpoints on every interface
// (no event proxy in edge mode), -b adds the ilert sink for the self-heartbeat only,
// -f names the store as in the other modes, -vv the log level.
func TestEdgeYAMLPortHeartbeatFile(t *testing.T) {
	doc, _ := edgeYAMLOf(t, "daemon -vv --edge_mode stdout -p 8080 -b il1hbt-self -f /var/lib/ilagent.db3",
		EnvEdgeConnectorKey, testEdgeKey, EnvAPIHost, "http://api.local", EnvHeartbeatHost, "http://hb.local")
	require.Equal(t, "0.0.0.0:8080", doc.HTTP["listen"])
	require.Equal(t, "/var/lib/ilagent.db3.edgerelay", doc.Store["path"])
	require.Equal(t, "info", doc.Log["level"])
	require.Len(t, doc.Sources, 1, "no ilert_http proxy source in edge mode")
	require.Equal(t, "ilert_edge", doc.Sources[0]["type"])
	require.Len(t, doc.Sinks, 2)
	require.Equal(t, map[string]any{"name": NameIlert, "type": "ilert", "api_host": "http://api.local", "heartbeat_host": "http://hb.local",
		"self_heartbeat_key": "il1hbt-self", "retry": map[string]any{"initial": "5s", "max": "60s", "max_attempts": 100}}, doc.Sinks[1])
	require.Equal(t, []map[string]any{
		{"name": "edge-to-stdout", "from": []any{NameEdge}, "to": []any{"edge-stdout"}},
		{"name": "self-heartbeat", "from": []any{}, "to": []any{NameIlert}},
	}, doc.Routes)
}

// TestEdgeWarnings: what ilagent ignores without a word gets one.
func TestEdgeWarnings(t *testing.T) {
	key := []string{EnvEdgeConnectorKey, testEdgeKey}
	run(t, []tcase{
		{name: "auth value without header", args: "daemon --edge_mode http --edge_http_url u --edge_http_auth_value v", env: key, check: func(t *testing.T, c *Command) {
			require.Equal(t, []string{"--edge_http_auth_value is ignored without --edge_http_auth_header"}, c.Daemon.Warnings)
		}},
		{name: "edge flags without --edge_mode", args: "daemon --edge_http_url u --edge_topic t", env: key, check: func(t *testing.T, c *Command) {
			require.Nil(t, c.Daemon.Edge)
			require.Equal(t, []string{"ignored without --edge_mode: --edge_http_url, --edge_topic"}, c.Daemon.Warnings)
		}},
		{name: "method is case-insensitive", args: "daemon --edge_mode http --edge_http_url u --edge_http_method pOsT", env: key, check: func(t *testing.T, c *Command) {
			require.Equal(t, "POST", c.Daemon.Edge.HTTPMethod)
		}},
		{name: "kafka brokers and mqtt flags are read only by their mode", args: "daemon --edge_mode stdout --kafka_brokers k -m b -q notaport", env: key, check: func(t *testing.T, c *Command) {
			require.Empty(t, c.Daemon.KafkaBrokers)
			require.Empty(t, c.Daemon.MQTTHost)
		}},
		{name: "connector key checked before the rejected flags", args: "daemon --edge_mode stdout -e x", wantErr: "ILERT_EDGE_CONNECTOR_KEY env var is required"},
		{name: "rejected flags checked before the intervals", args: "daemon --edge_mode stdout -e x --edge_poll_interval 1", env: key, wantErr: "--event_topic cannot be used"},
		{name: "intervals checked before the mode", args: "daemon --edge_mode http --edge_poll_interval 1", env: key, wantErr: "--edge_poll_interval must be between"},
		{name: "interval not a number", args: "daemon --edge_mode stdout --edge_poll_interval 10s", env: key, wantErr: "--edge_poll_interval must be between 5 and 120 seconds"},
		{name: "interval bounds included", args: "daemon --edge_mode stdout --edge_poll_interval 5 --edge_standby_interval 120", env: key, check: func(t *testing.T, c *Command) {
			require.Equal(t, []int{5, 120}, []int{c.Daemon.Edge.PollInterval, c.Daemon.Edge.StandbyInterval})
		}},
	})
}
