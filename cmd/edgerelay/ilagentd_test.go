package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/ilert"
	"github.com/edgerelay/edgerelay/adapters/ilert/mapping"
	"github.com/edgerelay/edgerelay/adapters/mqtt"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles/tlsfilestest"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/ilagent"
	"github.com/edgerelay/edgerelay/daemon/config"
)

// TestDaemonFlagsToConfig: ilagent's daemon command line becomes the configuration
// a YAML file with the same meaning gives (spec scenarios 2, 6, 9–17).
func TestDaemonFlagsToConfig(t *testing.T) {
	// The TLS files must exist and hold PEM: the loader refuses unreadable *_file
	// paths and TLS files without a certificate or key.
	tlsDir := t.TempDir()
	ca, cert, key := filepath.Join(tlsDir, "ca.pem"), filepath.Join(tlsDir, "c.pem"), filepath.Join(tlsDir, "k.pem")
	testCA := tlsfilestest.NewCA(t, "ca")
	leaf := testCA.Issue(t, "client", false)
	for p, b := range map[string][]byte{ca: testCA.PEM, cert: leaf.CertPEM, key: leaf.KeyPEM} {
		require.NoError(t, os.WriteFile(p, b, 0o600))
	}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c *config.Config)
	}{
		{"defaults: no HTTP ingest, no consumer", []string{}, nil, func(t *testing.T, c *config.Config) {
			require.Equal(t, "./ilagent.db3"+".edgerelay", c.Store.Path)
			require.Equal(t, "127.0.0.1:0", c.HTTP.Listen, "ilagent has no HTTP server without -p")
			require.Empty(t, c.Sources)
			require.Len(t, c.Sinks, 1)
			require.Equal(t, "ilert", c.Sinks[0].Type)
			require.Equal(t, "false", string(c.Broker.Enabled))
		}},
		{"-p binds all interfaces and mounts the proxy", []string{"-p", "9000", "-b", "il1hbt123", "-f", "/var/lib/x.db3"}, nil, func(t *testing.T, c *config.Config) {
			require.Equal(t, "0.0.0.0:9000", c.HTTP.Listen)
			require.Equal(t, "/var/lib/x.db3.edgerelay", c.Store.Path)
			require.Len(t, c.Sources, 1)
			require.Equal(t, "ilert_http", c.Sources[0].Type)
			s := c.Sinks[0].Settings.(*ilert.Config)
			require.Equal(t, "il1hbt123", s.SelfHeartbeatKey.Reveal())
			require.Equal(t, []string{"proxy"}, c.Routes[0].From)
		}},
		{"MQTT non-buffered: ack after delivery, persistent session", []string{"-m", "broker.local", "-e", "ilert/events", "--mqtt_qos", "1"}, nil,
			func(t *testing.T, c *config.Config) {
				require.Len(t, c.Sources, 1)
				src := c.Sources[0]
				require.Equal(t, config.AckDelivered, src.Ack)
				m := src.Settings.(*mqtt.Config)
				require.Equal(t, "tcp://broker.local:1883", m.URL)
				require.Equal(t, "ilagent", m.ClientID)
				require.Equal(t, []string{"ilert/events"}, m.Topics)
				require.Equal(t, byte(1), m.QoS)
				require.False(t, m.CleanSession)
				tr := c.Routes[0].Transform.Settings.(*mapping.TransformConfig)
				require.Equal(t, "mqtt", tr.Consumer)
				require.Equal(t, "ilert/events", tr.Topics.Event)
				require.Empty(t, tr.Topics.Heartbeat)
				require.Equal(t, 100, c.Sinks[0].Retry.MaxAttempts)
			}},
		{"MQTT buffered, TLS, credentials, shared group, every mapping flag",
			[]string{"-m", "broker.local", "-q", "8883", "-n", "myagent", "--mqtt_tls", "--mqtt_username", "user1", "--mqtt_password", "pass1",
				"--mqtt_ca", ca, "--mqtt_client_cert", cert, "--mqtt_client_key", key,
				"-e", "custom/events", "-r", "custom/heartbeats", "--mqtt_buffer", "--mqtt_shared_group", "g1",
				"--event_key", "static-key", "--map_key_etype", "state", "--map_key_alert_key", "mCode", "--map_key_summary", "comment",
				"--map_val_etype_alert", "SET", "--map_val_etype_accept", "ACK", "--map_val_etype_resolve", "CLR",
				"--filter_key", "type", "--filter_val", "ALARM", "--forward_message_payload", "--max_retries", "7"}, nil,
			func(t *testing.T, c *config.Config) {
				src := c.Sources[0]
				require.Equal(t, config.AckStored, src.Ack)
				m := src.Settings.(*mqtt.Config)
				require.Equal(t, "ssl://broker.local:8883", m.URL)
				require.Equal(t, "myagent", m.ClientID)
				require.Equal(t, "user1", m.Username)
				require.Equal(t, "pass1", m.Password.Reveal())
				require.Equal(t, []string{"$share/g1/custom/events", "$share/g1/custom/heartbeats"}, m.Topics)
				require.Equal(t, ca, m.TLS.CAFile)
				require.Equal(t, cert, m.TLS.CertFile)
				require.Equal(t, key, m.TLS.KeyFile)
				tr := c.Routes[0].Transform.Settings.(*mapping.TransformConfig)
				require.Equal(t, mapping.Topics{Event: "custom/events", Heartbeat: "custom/heartbeats"}, tr.Topics,
					"classification uses the unprefixed topics")
				require.Equal(t, mapping.Config{EventKey: "static-key", MapKeyEtype: "state", MapKeyAlertKey: "mCode", MapKeySummary: "comment",
					MapValEtypeAlert: "SET", MapValEtypeAccept: "ACK", MapValEtypeResolve: "CLR", FilterKey: "type", FilterVal: "ALARM",
					ForwardMessagePayload: true}, tr.Config)
				require.Equal(t, 7, c.Sinks[0].Retry.MaxAttempts)
			}},
		{"Kafka and policy updates", []string{"--kafka_brokers", "localhost:9092", "--kafka_group_id", "mygroup", "-e", "ilert-events",
			"--policy_topic", "ilert-policies", "--policy_routing_keys", "location, slot", "--shift_offset=-1"},
			map[string]string{"ILERT_API_KEY": "Bearer il1api-test-token", "ILERT_API_HOST": "http://127.0.0.1:1"},
			func(t *testing.T, c *config.Config) {
				require.Equal(t, "kafka", c.Sources[0].Type)
				require.Equal(t, "127.0.0.1:0", c.HTTP.Listen, "Kafka does not start the HTTP ingest (0.8.0)")
				tr := c.Routes[0].Transform.Settings.(*mapping.TransformConfig)
				require.Equal(t, "kafka", tr.Consumer)
				require.Equal(t, []string{"location", "slot"}, tr.RoutingKeys)
				require.Equal(t, int64(-1), tr.ShiftOffset)
				require.Equal(t, "data.email", tr.MapKeyEmail)
				require.Equal(t, "http://127.0.0.1:1", c.Sinks[0].Settings.(*ilert.Config).APIHost)
			}},
		{"literal ${ in a flag is not interpolated", []string{"-m", "b", "-e", "a/${HOME}", "--mqtt_qos", "1"}, nil,
			func(t *testing.T, c *config.Config) {
				require.Equal(t, []string{"a/${HOME}"}, c.Sources[0].Settings.(*mqtt.Config).Topics)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ILERT_API_KEY", "")
			t.Setenv("ILERT_API_HOST", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			parsed, err := ilagent.Parse(append([]string{ilagent.CmdDaemon}, tc.args...), os.LookupEnv)
			require.NoError(t, err)
			cfg, _, err := ilagentConfig(parsed)
			require.NoError(t, err)
			tc.check(t, cfg)
		})
	}
}

// TestDaemonFlagsEqualYAML: a command line gives the configuration the YAML a user
// would write by hand from the documentation gives (issue 3, item 1).
func TestDaemonFlagsEqualYAML(t *testing.T) {
	t.Setenv("ILERT_API_KEY", "k")
	t.Setenv("ILERT_API_HOST", "")
	parsed, err := ilagent.Parse([]string{"daemon", "-m", "broker.local", "-n", "site", "-e", "ilert/events",
		"--policy_topic", "ilert/policies", "--policy_routing_keys", "location", "--mqtt_qos", "1",
		"-p", "9000", "-b", "il1hbt-self", "--max_retries", "5", "-f", "/var/lib/x.db3"}, os.LookupEnv)
	require.NoError(t, err)
	got, _, err := ilagentConfig(parsed)
	require.NoError(t, err)

	want, err := config.Parse([]byte(`
log: { level: warn }
store: { path: /var/lib/x.db3.edgerelay }
http: { listen: 0.0.0.0:9000 }
broker: { enabled: "false" }
sources:
  - { name: proxy, type: ilert_http }
  - name: mqtt
    type: mqtt
    url: tcp://broker.local:1883
    client_id: site
    topics: [ilert/events, ilert/policies]
    qos: 1
    ack: delivered
sinks:
  - name: ilert
    type: ilert
    self_heartbeat_key: il1hbt-self
    retry: { initial: 5s, max: 60s, max_attempts: 5 }
routes:
  - { name: proxy-to-ilert, from: [proxy], to: [ilert] }
  - name: mqtt-to-ilert
    from: [mqtt]
    to: [ilert]
    transform: { type: ilert, event_topic: ilert/events, policy_topic: ilert/policies, policy_routing_keys: [location] }
`), "hand.yaml")
	require.NoError(t, err)
	require.Equal(t, want.Store, got.Store)
	require.Equal(t, want.HTTP, got.HTTP)
	require.Equal(t, want.Broker, got.Broker)
	require.Equal(t, want.Log, got.Log)
	require.Equal(t, want.Rejects, got.Rejects)
	require.Len(t, got.Sources, len(want.Sources))
	for i := range want.Sources {
		require.Equal(t, want.Sources[i].Name, got.Sources[i].Name)
		require.Equal(t, want.Sources[i].Ack, got.Sources[i].Ack)
		require.Equal(t, want.Sources[i].Settings, got.Sources[i].Settings, "source %s", want.Sources[i].Name)
	}
	require.Equal(t, want.Sinks[0].Settings, got.Sinks[0].Settings)
	require.Equal(t, want.Sinks[0].Retry, got.Sinks[0].Retry)
	require.Len(t, got.Routes, len(want.Routes))
	for i := range want.Routes {
		w, g := want.Routes[i], got.Routes[i]
		require.Equal(t, []any{w.Name, w.From, w.To}, []any{g.Name, g.From, g.To})
		if w.Transform != nil {
			require.Equal(t, w.Transform.Settings, g.Transform.Settings, "route %s", w.Name)
		}
	}
}

// TestDaemonUsageErrors: startup validation exits 2 with ilagent's message (spec
// scenarios 7, 8, 13 and the checks ilagent lacked).
func TestDaemonUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-m", "broker.local"}, nil, "At least one MQTT topic must be configured"},
		{[]string{"-m", "broker.local", "-e", "ilert/events"}, nil, "QoS 0 has no broker acknowledgement"},
		{[]string{"--kafka_brokers", "localhost:9092"}, nil, "At least one Kafka topic must be configured"},
		{[]string{"-m", "b", "--mqtt_qos", "3", "-e", "x"}, nil, "mqtt_qos must be 0, 1, or 2"},
		{[]string{"-p", "http"}, nil, "Failed to parse http port"},
		{[]string{"-m", "b", "--mqtt_qos", "1", "--policy_topic", "p"}, map[string]string{"ILERT_API_KEY": "k"}, "--policy_routing_keys is required"},
		{[]string{"-m", "b", "--mqtt_qos", "1", "--policy_topic", "p", "--policy_routing_keys", "a"}, nil, "ILERT_API_KEY env var is required"},
		{[]string{"--kafka_brokers", "k:9092", "-e", "ilert/events"}, nil, `only letters, digits`},
		{[]string{"--bogus"}, nil, "bogus"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			t.Setenv("ILERT_API_KEY", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"daemon"}, tc.args...), &out, &errb)
			require.Equal(t, exitUsage, code, "stderr: %s", errb.String())
			require.Contains(t, errb.String(), tc.want)
			require.NotContains(t, errb.String(), "goroutine", "no panic trace")
		})
	}
}
