package ilagent

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

type tcase struct {
	name    string
	args    string
	env     []string
	wantErr string // substring; "" = success
	check   func(t *testing.T, c *Command)
}

func run(t *testing.T, cases []tcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(strings.Fields(tc.args), envOf(tc.env...))
			if tc.wantErr != "" {
				require.Error(t, err)
				var ue *UsageError
				require.True(t, errors.As(err, &ue), "want *UsageError, got %T", err)
				require.Equal(t, 2, ue.Code)
				require.Contains(t, ue.Error(), tc.wantErr)
				require.Nil(t, c)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, c)
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// mqttQoS1 is the minimal valid unbuffered MQTT daemon command line.
const mqttQoS1 = "daemon -m broker.local -e ilert/events --mqtt_qos 1"

func TestScenarios(t *testing.T) {
	run(t, []tcase{
		{name: "S01 no arguments is a usage error", args: "", wantErr: "Usage: ilagent"},
		{name: "S02 daemon defaults", args: "daemon", check: func(t *testing.T, c *Command) {
			require.Equal(t, CmdDaemon, c.Name)
			d := c.Daemon
			require.False(t, d.HTTPEnabled)
			require.Equal(t, 8977, d.HTTPPort)
			require.Empty(t, d.HeartbeatKey)
			require.Empty(t, d.MQTTHost)
			require.Empty(t, d.KafkaBrokers)
			require.Nil(t, d.Edge)
			require.Equal(t, "./ilagent.db3", c.Global.File)
			require.Equal(t, 0, c.Global.Verbose)
			require.Equal(t, uint32(100), d.MaxRetries)
			require.Empty(t, d.Warnings)
		}},
		{name: "S03 event without type and summary", args: "event -k key1", wantErr: "--event_type <EVENT_TYPE>\n  --summary <SUMMARY>"},
		{name: "S03 event without summary", args: "event -k key1 -t ALERT", wantErr: "required arguments were not provided:\n  --summary"},
		{name: "S03 event parses", args: "event -k key1 -t ALERT -s test", check: func(t *testing.T, c *Command) {
			require.Equal(t, &Event{IntegrationKey: "key1", EventType: "ALERT", Summary: "test"}, c.Event)
		}},
		{name: "S03 event type INVALID", args: "event -k key1 -t INVALID -s test", wantErr: "invalid value 'INVALID' for '--event_type <EVENT_TYPE>'"},
		{name: "S03 event type is case-sensitive", args: "event -k key1 -t alert -s test", wantErr: "invalid value 'alert'"},
		{name: "S03 priority MEDIUM", args: "event -k key1 -t ALERT -s test -o MEDIUM", wantErr: "[possible values: LOW, HIGH]"},
		{name: "S04 heartbeat key from env", args: "heartbeat", env: []string{EnvIntegrationKey, "envkey"}, check: func(t *testing.T, c *Command) {
			require.Equal(t, "envkey", c.Heartbeat.IntegrationKey)
		}},
		{name: "S04 heartbeat -k", args: "heartbeat -k hbt123", env: []string{EnvIntegrationKey, "envkey"}, check: func(t *testing.T, c *Command) {
			require.Equal(t, CmdHeartbeat, c.Name)
			require.Equal(t, "hbt123", c.Heartbeat.IntegrationKey)
		}},
		{name: "S04 heartbeat without any key", args: "heartbeat", wantErr: "Integration key is required: provide --integration_key or set ILERT_INTEGRATION_KEY env var"},
		{name: "S05 -vvv before subcommand", args: "-vvv daemon", check: func(t *testing.T, c *Command) {
			require.Equal(t, 3, c.Global.Verbose)
		}},
		{name: "S05 -f before subcommand", args: "-f ./test.db3 daemon", check: func(t *testing.T, c *Command) {
			require.Equal(t, "./test.db3", c.Global.File)
		}},
		{name: "S06 -p turns HTTP on", args: "daemon -p 9000", check: func(t *testing.T, c *Command) {
			require.True(t, c.Daemon.HTTPEnabled)
			require.Equal(t, 9000, c.Daemon.HTTPPort)
		}},
		{name: "S06 -b sets heartbeat key", args: "daemon -b il1hbt123", check: func(t *testing.T, c *Command) {
			require.Equal(t, "il1hbt123", c.Daemon.HeartbeatKey)
			require.False(t, c.Daemon.HTTPEnabled)
		}},
		{name: "S07 mqtt without topic", args: "daemon -m broker.local", wantErr: "At least one MQTT topic must be configured: --event_topic, --heartbeat_topic, or --policy_topic"},
		{name: "S08 mqtt unbuffered QoS 0", args: "daemon -m broker.local -e ilert/events", wantErr: "QoS 0 has no broker acknowledgement"},
		{name: "S09 mqtt QoS 1 defaults", args: mqttQoS1, check: func(t *testing.T, c *Command) {
			d := c.Daemon
			require.Equal(t, "broker.local", d.MQTTHost)
			require.Equal(t, 1883, d.MQTTPort)
			require.Equal(t, "ilagent", d.MQTTName)
			require.Equal(t, "ilert/events", d.EventTopic)
			require.Empty(t, d.HeartbeatTopic)
			require.Equal(t, 1, d.MQTTQoS)
			require.False(t, d.MQTTTLS)
			require.False(t, d.MQTTBuffer)
		}},
		{name: "S10 mqtt buffer accepts QoS 0", args: "daemon -m broker.local -e ilert/events --mqtt_buffer", check: func(t *testing.T, c *Command) {
			require.True(t, c.Daemon.MQTTBuffer)
			require.Equal(t, 0, c.Daemon.MQTTQoS)
		}},
		{name: "S11 mqtt all values", args: "daemon -m broker.local -q 8883 -n myagent --mqtt_tls --mqtt_username user1 --mqtt_password pass1 -e custom/events -r custom/heartbeats --mqtt_qos 1", check: func(t *testing.T, c *Command) {
			d := c.Daemon
			require.Equal(t, 8883, d.MQTTPort)
			require.Equal(t, "myagent", d.MQTTName)
			require.True(t, d.MQTTTLS)
			require.Equal(t, "user1", d.MQTTUsername)
			require.Equal(t, "pass1", d.MQTTPassword)
			require.Equal(t, "custom/events", d.EventTopic)
			require.Equal(t, "custom/heartbeats", d.HeartbeatTopic)
			require.Equal(t, 1, d.MQTTQoS)
		}},
		{name: "S12 mqtt certificate paths", args: mqttQoS1 + " --mqtt_ca /c/ca.pem --mqtt_client_cert /c/cert.pem --mqtt_client_key /c/key.pem", check: func(t *testing.T, c *Command) {
			require.Equal(t, "/c/ca.pem", c.Daemon.MQTTCA)
			require.Equal(t, "/c/cert.pem", c.Daemon.MQTTClientCert)
			require.Equal(t, "/c/key.pem", c.Daemon.MQTTClientKey)
		}},
		{name: "S13 kafka defaults", args: "daemon --kafka_brokers localhost:9092 -e kafka/events", check: func(t *testing.T, c *Command) {
			d := c.Daemon
			require.Equal(t, "localhost:9092", d.KafkaBrokers)
			require.Equal(t, "ilagent", d.KafkaGroupID)
			require.Equal(t, "kafka/events", d.EventTopic)
			require.False(t, d.HTTPEnabled)
			require.Empty(t, d.MQTTHost)
		}},
		{name: "S13 kafka without topic", args: "daemon --kafka_brokers localhost:9092", wantErr: "At least one Kafka topic must be configured: --event_topic, --heartbeat_topic, or --policy_topic"},
		{name: "S13 kafka group id", args: "daemon --kafka_brokers localhost:9092 -r hb --kafka_group_id mygroup", check: func(t *testing.T, c *Command) {
			require.Equal(t, "mygroup", c.Daemon.KafkaGroupID)
		}},
		{name: "S14 mqtt mapping flags", args: mqttQoS1 + " --event_key static-key --map_key_etype state --map_key_alert_key mCode --map_key_summary comment --map_val_etype_alert SET --map_val_etype_accept ACK --map_val_etype_resolve CLR --filter_key type --filter_val ALARM --forward_message_payload", check: func(t *testing.T, c *Command) {
			d := c.Daemon
			require.Equal(t, "static-key", d.EventKey)
			require.Equal(t, "state", d.MapKeyEtype)
			require.Equal(t, "mCode", d.MapKeyAlertKey)
			require.Equal(t, "comment", d.MapKeySummary)
			require.Equal(t, "SET", d.MapValEtypeAlert)
			require.Equal(t, "ACK", d.MapValEtypeAccept)
			require.Equal(t, "CLR", d.MapValEtypeResolve)
			require.Equal(t, "type", d.FilterKey)
			require.Equal(t, "ALARM", d.FilterVal)
			require.True(t, d.ForwardMessagePayload)
		}},
		{name: "S15 http heartbeat and mqtt together", args: "daemon -p 3000 -b il1hbt999 -m mqtt.example.com -e ilert/events --mqtt_qos 1", check: func(t *testing.T, c *Command) {
			d := c.Daemon
			require.True(t, d.HTTPEnabled)
			require.Equal(t, 3000, d.HTTPPort)
			require.Equal(t, "il1hbt999", d.HeartbeatKey)
			require.Equal(t, "mqtt.example.com", d.MQTTHost)
		}},
		{name: "S16 mqtt policy flags with api key", args: "daemon -m broker.local --mqtt_qos 1 --policy_topic ilert/policies --policy_routing_keys location,slot --filter_key eventType --filter_val active",
			env: []string{EnvAPIKey, "il1api-test-token"}, check: func(t *testing.T, c *Command) {
				d := c.Daemon
				require.Equal(t, "ilert/policies", d.PolicyTopic)
				require.Equal(t, []string{"location", "slot"}, d.PolicyRoutingKeys)
				require.Equal(t, "eventType", d.FilterKey)
				require.Equal(t, "active", d.FilterVal)
				require.Equal(t, "il1api-test-token", d.APIKey)
				require.Equal(t, "data.email", d.MapKeyEmail)
				require.Equal(t, "data.shift", d.MapKeyShift)
				require.Empty(t, d.Warnings)
			}},
		{name: "S16 kafka policy flags with api key", args: "daemon --kafka_brokers k:9092 --policy_topic ilert-policies --policy_routing_keys location,slot --map_key_email user.mail --map_key_shift meta.tier --shift_offset=-1",
			env: []string{EnvAPIKey, "il1api-test-token"}, check: func(t *testing.T, c *Command) {
				d := c.Daemon
				require.Equal(t, "ilert-policies", d.PolicyTopic)
				require.Equal(t, "user.mail", d.MapKeyEmail)
				require.Equal(t, "meta.tier", d.MapKeyShift)
				require.Equal(t, int64(-1), d.ShiftOffset)
				require.Equal(t, "il1api-test-token", d.APIKey)
			}},
		{name: "S16 Bearer prefix stripped", args: mqttQoS1, env: []string{EnvAPIKey, "Bearer xyz"}, check: func(t *testing.T, c *Command) {
			require.Equal(t, "xyz", c.Daemon.APIKey)
			require.Len(t, c.Daemon.Warnings, 1)
			require.Contains(t, c.Daemon.Warnings[0], "Bearer")
		}},
		{name: "S16 bearer prefix stripped", args: mqttQoS1, env: []string{EnvAPIKey, "bearer xyz"}, check: func(t *testing.T, c *Command) {
			require.Equal(t, "xyz", c.Daemon.APIKey)
		}},
		{name: "S16 api key not read without consumer", args: "daemon -p 9000", env: []string{EnvAPIKey, "xyz"}, check: func(t *testing.T, c *Command) {
			require.Empty(t, c.Daemon.APIKey)
		}},
		{name: "S16 policy topic without routing keys (issue 3 item 7)", args: "daemon -m b --mqtt_qos 1 --policy_topic p", env: []string{EnvAPIKey, "k"},
			wantErr: "--policy_routing_keys is required when --policy_topic is set"},
		{name: "S16 policy topic without ILERT_API_KEY (issue 3 item 7)", args: "daemon -m b --mqtt_qos 1 --policy_topic p --policy_routing_keys location",
			wantErr: "ILERT_API_KEY env var is required when --policy_topic is set"},
		{name: "S16 policy routing keys all blank", args: "daemon --kafka_brokers k --policy_topic p --policy_routing_keys ,,", env: []string{EnvAPIKey, "k"},
			wantErr: "--policy_routing_keys is required"},
		{name: "S17 consumer flags ignored without consumer", args: "daemon --event_key static-key --filter_key type --max_retries 5 --shift_offset 3", check: func(t *testing.T, c *Command) {
			d := c.Daemon
			require.Empty(t, d.EventKey)
			require.Empty(t, d.FilterKey)
			require.Equal(t, uint32(100), d.MaxRetries)
			require.Zero(t, d.ShiftOffset)
			require.Len(t, d.Warnings, 1)
			require.Contains(t, d.Warnings[0], "--event_key")
			require.Contains(t, d.Warnings[0], "--filter_key")
		}},
	})
}

func TestEdgeScenarios(t *testing.T) {
	key := []string{EnvEdgeConnectorKey, "iec1:test-key"}
	run(t, []tcase{
		{name: "S18 edge http defaults", args: "daemon --edge_mode http --edge_http_url http://t/x", env: key, check: func(t *testing.T, c *Command) {
			e := c.Daemon.Edge
			require.NotNil(t, e)
			require.Equal(t, &Edge{Mode: "http", ConnectorKey: "iec1:test-key", PollInterval: 10, StandbyInterval: 10, HTTPURL: "http://t/x", HTTPMethod: "POST"}, e)
		}},
		{name: "S18 edge without connector key", args: "daemon --edge_mode stdout", wantErr: "ILERT_EDGE_CONNECTOR_KEY env var is required for edge connector mode"},
		{name: "S19 edge http PUT", args: "daemon --edge_poll_interval 10 --edge_mode http --edge_http_url u --edge_http_method put", env: key, check: func(t *testing.T, c *Command) {
			require.Equal(t, "PUT", c.Daemon.Edge.HTTPMethod)
		}},
		{name: "S19 edge kafka", args: "daemon --edge_mode kafka --kafka_brokers k:9092 --edge_topic t", env: key, check: func(t *testing.T, c *Command) {
			require.Equal(t, "k:9092", c.Daemon.KafkaBrokers)
			require.Equal(t, "t", c.Daemon.Edge.Topic)
		}},
		{name: "S19 edge stdout alone", args: "daemon --edge_mode stdout", env: key},
		{name: "S20 edge HA", args: "daemon --edge_mode stdout --edge_cluster_id prod-cluster --edge_instance_id node-1 --edge_standby_interval 7", env: key, check: func(t *testing.T, c *Command) {
			e := c.Daemon.Edge
			require.Equal(t, "prod-cluster", e.ClusterID)
			require.Equal(t, "node-1", e.InstanceID)
			require.Equal(t, 7, e.StandbyInterval)
		}},
		{name: "S21 edge mqtt without consumer topics", args: "daemon --edge_mode mqtt -m broker.local --edge_topic edge-events --mqtt_username u --mqtt_password p --mqtt_qos 1", env: key, check: func(t *testing.T, c *Command) {
			d := c.Daemon
			require.Empty(t, d.EventTopic)
			require.Equal(t, "broker.local", d.MQTTHost)
			require.Equal(t, "u", d.MQTTUsername)
			require.Equal(t, 1, d.MQTTQoS)
		}},
		{name: "S21 edge mqtt QoS 0 warns", args: "daemon --edge_mode mqtt -m b --edge_topic t --mqtt_qos 0", env: key, check: func(t *testing.T, c *Command) {
			require.Len(t, c.Daemon.Warnings, 1)
			require.Equal(t, 0, c.Daemon.MQTTQoS)
		}},
		{name: "S21 edge mqtt without --mqtt_qos publishes at QoS 1", args: "daemon --edge_mode mqtt -m b --edge_topic t", env: key, check: func(t *testing.T, c *Command) {
			require.Empty(t, c.Daemon.Warnings)
			require.Equal(t, 1, c.Daemon.MQTTQoS)
		}},
		{name: "S21 edge mqtt QoS 3", args: "daemon --edge_mode mqtt -m b --edge_topic t --mqtt_qos 3", env: key, wantErr: "mqtt_qos must be 0, 1, or 2"},
		{name: "S22 no edge mode", args: "daemon", env: key, check: func(t *testing.T, c *Command) { require.Nil(t, c.Daemon.Edge) }},
		{name: "S23 http without url", args: "daemon --edge_mode http", env: key, wantErr: "--edge_http_url is required when edge_mode is 'http'"},
		{name: "S23 kafka without brokers", args: "daemon --edge_mode kafka --edge_topic t", env: key, wantErr: "--kafka_brokers is required when edge_mode is 'kafka'"},
		{name: "S23 kafka without topic", args: "daemon --edge_mode kafka --kafka_brokers k", env: key, wantErr: "--edge_topic is required when edge_mode is 'kafka'"},
		{name: "S23 mqtt without host", args: "daemon --edge_mode mqtt --edge_topic t", env: key, wantErr: "--mqtt_host is required when edge_mode is 'mqtt'"},
		{name: "S23 mqtt without topic", args: "daemon --edge_mode mqtt -m b", env: key, wantErr: "--edge_topic is required when edge_mode is 'mqtt'"},
		{name: "S23 script without path", args: "daemon --edge_mode script", env: key, wantErr: "--edge_script is required when edge_mode is 'script'"},
		{name: "S24 edge -p and -b", args: "daemon --edge_mode stdout -p 8080 -b hbt-key", env: key, check: func(t *testing.T, c *Command) {
			require.True(t, c.Daemon.HTTPEnabled)
			require.Equal(t, 8080, c.Daemon.HTTPPort)
			require.Equal(t, "hbt-key", c.Daemon.HeartbeatKey)
		}},
		{name: "S25 edge rejects -e", args: "daemon --edge_mode stdout -e ilert/events", env: key, wantErr: "--event_topic cannot be used with --edge_mode (edge connector is an exclusive daemon mode)"},
		{name: "S25 edge rejects policy_topic", args: "daemon --edge_mode stdout --policy_topic p", env: key, wantErr: "--policy_topic cannot be used with --edge_mode"},
		{name: "S25 edge rejects map_key_email", args: "daemon --edge_mode stdout --map_key_email user.email", env: key, wantErr: "--map_key_email cannot be used with --edge_mode"},
		{name: "S25 edge rejects max_retries", args: "daemon --edge_mode stdout --max_retries 50", env: key, wantErr: "--max_retries cannot be used with --edge_mode"},
		{name: "S25 edge rejects mqtt_buffer", args: "daemon --edge_mode stdout --mqtt_buffer", env: key, wantErr: "--mqtt_buffer cannot be used with --edge_mode"},
		{name: "S26 poll interval 2", args: "daemon --edge_mode stdout --edge_poll_interval 2", env: key, wantErr: "--edge_poll_interval must be between 5 and 120 seconds"},
		{name: "S26 poll interval 300", args: "daemon --edge_mode stdout --edge_poll_interval 300", env: key, wantErr: "between 5 and 120"},
		{name: "S26 standby interval 1", args: "daemon --edge_mode stdout --edge_standby_interval 1", env: key, wantErr: "--edge_standby_interval must be between 5 and 120 seconds"},
		{name: "S26 standby interval 200", args: "daemon --edge_mode stdout --edge_standby_interval 200", env: key, wantErr: "between 5 and 120"},
		{name: "S26 edge mode ftp", args: "daemon --edge_mode ftp", env: key, wantErr: "invalid value 'ftp' for '--edge_mode <EDGE_MODE>'"},
		{name: "edge auth header without value", args: "daemon --edge_mode http --edge_http_url u --edge_http_auth_header X-API-Key", env: key,
			wantErr: "--edge_http_auth_header requires an auth value via --edge_http_auth_value or ILERT_EDGE_HTTP_AUTH_VALUE env var"},
		{name: "edge auth value from env", args: "daemon --edge_mode http --edge_http_url u --edge_http_auth_header X-API-Key",
			env: append([]string{EnvEdgeHTTPAuthValue, "my-secret-token"}, key...), check: func(t *testing.T, c *Command) {
				require.Equal(t, "my-secret-token", c.Daemon.Edge.HTTPAuthValue)
			}},
		{name: "edge bad http method rejected at startup", args: "daemon --edge_mode http --edge_http_url u --edge_http_method GET", env: key, wantErr: "--edge_http_method must be POST or PUT"},
	})
}

func TestFlags(t *testing.T) {
	run(t, []tcase{
		{name: "unknown long flag", args: "daemon --nope", wantErr: "unknown flag: --nope"},
		{name: "unknown short flag", args: "daemon -z", wantErr: "unknown shorthand flag: 'z'"},
		{name: "unknown global flag", args: "--nope daemon", wantErr: "unknown flag: --nope"},
		{name: "unknown subcommand", args: "cleanup", wantErr: "unrecognized subcommand 'cleanup'"},
		{name: "flags without subcommand", args: "-vv", wantErr: "Usage: ilagent"},
		{name: "unexpected positional", args: "daemon extra", wantErr: "unexpected argument 'extra' found"},
		{name: "missing flag value", args: "event -k k -t ALERT -s", wantErr: "flag needs an argument"},
		{name: "event flag on daemon", args: "daemon -t ALERT", wantErr: "unknown shorthand flag: 't'"},
		{name: "bad enum priority lowercase", args: "event -k k -t ALERT -s x -o high", wantErr: "invalid value 'high' for '--priority <PRIORITY>'"},
		{name: "bad http port", args: "daemon -p abc", wantErr: "Failed to parse http port"},
		{name: "http port out of range", args: "daemon -p 70000", wantErr: "Failed to parse http port"},
		{name: "bad mqtt port", args: mqttQoS1 + " -q x", wantErr: "Failed to parse mqtt port"},
		{name: "mqtt qos 3", args: "daemon -m b -e t --mqtt_qos 3", wantErr: "mqtt_qos must be 0, 1, or 2"},
		{name: "mqtt qos not a number", args: "daemon -m b -e t --mqtt_qos one", wantErr: "mqtt_qos must be 0, 1, or 2"},
		{name: "shift offset not a number", args: "daemon --kafka_brokers k -e t --shift_offset x", wantErr: "Failed to parse shift_offset"},
		{name: "shift offset negative without = (pflag accepts, clap does not)", args: "daemon --kafka_brokers k -e t --shift_offset -2", check: func(t *testing.T, c *Command) {
			require.Equal(t, int64(-2), c.Daemon.ShiftOffset)
		}},
		{name: "max retries negative", args: "daemon --kafka_brokers k -e t --max_retries=-1", wantErr: "Failed to parse max_retries"},
		{name: "mqtt username without password", args: mqttQoS1 + " --mqtt_username u", wantErr: "--mqtt_password is required when --mqtt_username is set"},
		{name: "mqtt client cert without key", args: mqttQoS1 + " --mqtt_client_cert c.pem", wantErr: "--mqtt_client_cert and --mqtt_client_key must be given together"},
		{name: "mqtt password without username warns", args: mqttQoS1 + " --mqtt_password p", check: func(t *testing.T, c *Command) {
			require.Empty(t, c.Daemon.MQTTPassword)
			require.Len(t, c.Daemon.Warnings, 1)
		}},
		{name: "event key from env", args: "event -t RESOLVE -s x", env: []string{EnvIntegrationKey, "envkey"}, check: func(t *testing.T, c *Command) {
			require.Equal(t, "envkey", c.Event.IntegrationKey)
		}},
		{name: "event without key", args: "event -t RESOLVE -s x", wantErr: "Integration key is required"},
		{name: "event all long forms", args: "event --integration_key k --event_type ACCEPT --summary s --alert_key a --priority LOW --details d --image http://i --link http://l", check: func(t *testing.T, c *Command) {
			require.Equal(t, &Event{IntegrationKey: "k", EventType: "ACCEPT", Summary: "s", AlertKey: "a", Priority: "LOW", Details: "d", Image: "http://i", Link: "http://l"}, c.Event)
		}},
		{name: "event all short forms", args: "event -k k -t ALERT -s s -i a -o HIGH -d d -g http://i -l http://l", check: func(t *testing.T, c *Command) {
			require.Equal(t, &Event{IntegrationKey: "k", EventType: "ALERT", Summary: "s", AlertKey: "a", Priority: "HIGH", Details: "d", Image: "http://i", Link: "http://l"}, c.Event)
		}},
		{name: "daemon long forms", args: "daemon --port 1 --heartbeat h --mqtt_host m --mqtt_port 2 --mqtt_name n --event_topic e --heartbeat_topic r --mqtt_qos 2", check: func(t *testing.T, c *Command) {
			d := c.Daemon
			require.Equal(t, []any{1, "h", "m", 2, "n", "e", "r", 2}, []any{d.HTTPPort, d.HeartbeatKey, d.MQTTHost, d.MQTTPort, d.MQTTName, d.EventTopic, d.HeartbeatTopic, d.MQTTQoS})
		}},
		{name: "global flags after subcommand", args: "daemon -vv --file /tmp/x.db3", check: func(t *testing.T, c *Command) {
			require.Equal(t, 2, c.Global.Verbose)
			require.Equal(t, "/tmp/x.db3", c.Global.File)
		}},
		{name: "global flags after event flags", args: "event -k k -t ALERT -s s -v -f a.db3", check: func(t *testing.T, c *Command) {
			require.Equal(t, 1, c.Global.Verbose)
			require.Equal(t, "a.db3", c.Global.File)
		}},
		{name: "verbose before and after add up", args: "-vv heartbeat -k k --verbose", check: func(t *testing.T, c *Command) {
			require.Equal(t, 3, c.Global.Verbose)
		}},
		{name: "help", args: "--help", check: func(t *testing.T, c *Command) {
			require.Equal(t, CmdHelp, c.Name)
			require.Contains(t, c.Usage, "--verbose")
		}},
		{name: "subcommand help", args: "daemon -h", check: func(t *testing.T, c *Command) {
			require.Equal(t, CmdHelp, c.Name)
			require.Contains(t, c.Usage, "--mqtt_host")
		}},
		{name: "version", args: "-V", check: func(t *testing.T, c *Command) { require.Equal(t, CmdVersion, c.Name) }},
	})
}

func TestLogLevel(t *testing.T) {
	for v, want := range map[int]string{0: "WARN", 1: "WARN", 2: "INFO", 3: "DEBUG", 4: "DEBUG"} {
		require.Equal(t, want, Global{Verbose: v}.LogLevel().String(), "verbose %d", v)
	}
}

func TestNilEnv(t *testing.T) {
	_, err := Parse([]string{"heartbeat"}, nil)
	require.ErrorContains(t, err, "Integration key is required")
}

func TestSplitKeys(t *testing.T) {
	require.Equal(t, []string{"location", "slot"}, splitKeys(" location , slot "))
	require.Nil(t, splitKeys(" , "))
}
