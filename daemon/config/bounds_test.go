package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/daemon/broker"
)

// TestStoreBoundsAndPacketLimit checks the defaults of the store's bounds, the broker
// packet limit derived from store.max_event_bytes, and that a packet limit not above
// the event limit (a message just over it would disconnect its client) or a negative
// bound is refused, naming the key.
func TestStoreBoundsAndPacketLimit(t *testing.T) {
	base := `
store: { path: /tmp/x/queue.db %s }
http: { listen: 127.0.0.1:0 }
broker: { listen: "127.0.0.1:0" %s }
sinks: [ { name: console, type: stdout } ]
routes: [ { to: [console] } ]
`
	cases := []struct {
		name, store, broker string
		wantErr             string
		check               func(t *testing.T, c *Config)
	}{
		{name: "defaults", check: func(t *testing.T, c *Config) {
			require.Empty(t, c.Warnings)
			require.Equal(t, int64(256<<20), c.Store.MaxBytes)
			require.Equal(t, 10000, c.Store.MaxDeadLetters)
			require.Equal(t, int64(32<<20), c.Store.MaxDeadBytes)
			require.Equal(t, 256<<10+broker.PacketHeadroom, c.Broker.MaxMessageBytes)
			require.Equal(t, broker.DefaultMaxMessageBytes, c.Broker.MaxMessageBytes)
		}},
		{name: "derived from the event limit", store: ", max_event_bytes: 1048576", check: func(t *testing.T, c *Config) {
			require.Equal(t, 1<<20+broker.PacketHeadroom, c.Broker.MaxMessageBytes)
		}},
		{name: "no event limit", store: ", max_event_bytes: -1", check: func(t *testing.T, c *Config) {
			require.Equal(t, broker.DefaultMaxMessageBytes, c.Broker.MaxMessageBytes)
		}},
		{name: "explicit packet limit above the event limit", store: ", max_event_bytes: 1000", broker: `, max_message_bytes: 70000, enabled: "true"`,
			check: func(t *testing.T, c *Config) { require.Equal(t, 70000, c.Broker.MaxMessageBytes) }},
		{name: "packet limit equal to the event limit", broker: `, max_message_bytes: 262144, enabled: "true"`,
			wantErr: "broker.max_message_bytes: 262144 is less than store.max_event_bytes (262144) plus 65536"},
		{name: "packet limit below, broker off", store: ", max_event_bytes: 1048576", broker: `, max_message_bytes: 1000, enabled: "false"`,
			check: func(t *testing.T, c *Config) { require.Equal(t, 1000, c.Broker.MaxMessageBytes) }},
		{name: "unbounded", store: ", max_bytes: -1, max_dead_letters: -1, max_dead_bytes: -1", check: func(t *testing.T, c *Config) {
			require.Equal(t, int64(-1), c.Store.MaxBytes)
		}},
		{name: "dead letters could take most of the store", store: ", max_bytes: 8388608, max_dead_bytes: 4194304", check: func(t *testing.T, c *Config) {
			require.Len(t, c.Warnings, 1)
			require.Contains(t, c.Warnings[0], "store.max_dead_bytes: 4194304 for each of 1 sinks and @rejected is 8388608 bytes, more than 3/4")
		}},
		{name: "negative max_bytes", store: ", max_bytes: -2", wantErr: "store.max_bytes: -2 is negative"},
		{name: "tiny max_bytes", store: ", max_bytes: 4096", wantErr: "store.max_bytes: 4096 is less than 1048576"},
		{name: "max_bytes under four events", store: ", max_bytes: 2000000, max_event_bytes: 1000000", wantErr: "store.max_bytes: 2000000 is less than 4000000"},
		{name: "negative max_dead_letters", store: ", max_dead_letters: -5", wantErr: "store.max_dead_letters: -5 is negative"},
		{name: "negative max_dead_bytes", store: ", max_dead_bytes: -5", wantErr: "store.max_dead_bytes: -5 is negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(strings.Replace(base, "%s", tc.store, 1), "%s", tc.broker, 1)
			c, err := Parse([]byte(y), "b.yaml")
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

// TestBrokerAndHTTPOnOneAddress: the embedded broker and the HTTP server cannot share
// an address (with enabled: auto the broker would take the HTTP server for a site
// broker and not start); a disabled broker's address does not count.
func TestBrokerAndHTTPOnOneAddress(t *testing.T) {
	for _, tc := range []struct{ name, http, broker, want string }{
		{"same address, auto", "127.0.0.1:18977", `listen: "127.0.0.1:18977"`,
			`line 4: broker.listen: 127.0.0.1:18977 is also the address of http.listen; give each listener its own port`},
		{"wildcard host, true", "0.0.0.0:18977", `listen: "127.0.0.1:18977", enabled: "true"`,
			`line 4: broker.listen: 127.0.0.1:18977 is also the address of http.listen`},
		{"broker off", "127.0.0.1:18977", `listen: "127.0.0.1:18977", enabled: "false"`, ""},
		{"other ports", "127.0.0.1:18977", `listen: "127.0.0.1:18978"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := "store: { path: /tmp/x/queue.db }\nhttp: { listen: " + tc.http + " }\n" +
				"sinks: [ { name: console, type: stdout } ]\nbroker: { " + tc.broker + " }\nroutes: [ { to: [console] } ]\n"
			_, err := Parse([]byte(y), "b.yaml")
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
