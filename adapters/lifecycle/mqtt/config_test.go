package mqtt

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// TestConfig: ApplyEnv over the YAML settings, then Validate; every bad value names
// its variable and YAML key, and no error holds a secret.
func TestConfig(t *testing.T) {
	const secretPW = "hunter2-secret"
	dir := t.TempDir()
	caF, certF, keyF := writeFile(t, dir, "ca", nil), writeFile(t, dir, "c", nil), writeFile(t, dir, "k", nil)
	missing := filepath.Join(dir, "missing")
	cases := []struct {
		name  string
		yaml  func(*Config)
		env   map[string]string
		check func(t *testing.T, c *Config)
		want  []string // substrings of the error; none means valid
	}{
		{name: "defaults need a url", want: []string{"EVENT_BROKER_MQTT_URL (events.mqtt.url): required"}},
		{name: "minimal", env: map[string]string{EnvURL: "broker:1883"}, check: func(t *testing.T, c *Config) {
			require.Equal(t, 1, c.QoS)
			require.False(t, c.SSL)
			require.Equal(t, DefaultTimeout, c.Timeout)
		}},
		{name: "every variable", env: map[string]string{
			EnvURL: "[::1]:8883", EnvQoS: "2", EnvJWT: "eyJ.x.y", EnvUsername: "u", EnvPassword: "p-word",
			EnvSSL: "TRUE", EnvCACertFile: caF, EnvClientCertFile: certF, EnvClientKeyFile: keyF,
		}, check: func(t *testing.T, c *Config) {
			require.Equal(t, Config{URL: "[::1]:8883", QoS: 2, JWT: "eyJ.x.y", Username: "u", Password: "p-word",
				SSL: true, CACertFile: caF, ClientCertFile: certF, ClientKeyFile: keyF, Timeout: DefaultTimeout}, *c)
			require.ElementsMatch(t, []string{"eyJ.x.y", "p-word"}, c.Secrets())
		}},
		{name: "env wins over yaml", yaml: func(c *Config) {
			c.URL, c.QoS, c.JWTFile, c.Username, c.PasswordFile = "yaml:1", 0, "/jwt", "y", "/pw"
		}, env: map[string]string{EnvURL: "env:1", EnvQoS: "2", EnvJWT: "eyJ.e.v", EnvPassword: "pw-env"},
			check: func(t *testing.T, c *Config) {
				require.Equal(t, "env:1", c.URL)
				require.Equal(t, 2, c.QoS)
				require.Empty(t, c.JWTFile)
				require.Empty(t, c.PasswordFile)
				require.Equal(t, "y", c.Username)
			}},
		{name: "qos not a number", env: map[string]string{EnvURL: "b:1", EnvQoS: "one"}, want: []string{"EVENT_BROKER_MQTT_QOS: \"one\" is not an integer"}},
		{name: "qos 3", env: map[string]string{EnvURL: "b:1", EnvQoS: "3"}, want: []string{"EVENT_BROKER_MQTT_QOS (events.mqtt.qos): 3 is not 0, 1 or 2"}},
		{name: "qos -1", env: map[string]string{EnvURL: "b:1", EnvQoS: "-1"}, want: []string{"EVENT_BROKER_MQTT_QOS (events.mqtt.qos)"}},
		{name: "ssl not a bool", env: map[string]string{EnvURL: "b:1", EnvSSL: "maybe"}, want: []string{"EVENT_BROKER_MQTT_SSL: \"maybe\" is not true or false"}},
		{name: "scheme refused", env: map[string]string{EnvURL: "tcp://b:1883"}, want: []string{"EVENT_BROKER_MQTT_URL (events.mqtt.url): want host:port without a scheme", "EVENT_BROKER_MQTT_SSL=true"}},
		{name: "mqtts scheme refused", env: map[string]string{EnvURL: "mqtts://b:8883"}, want: []string{"EVENT_BROKER_MQTT_URL (events.mqtt.url)"}},
		{name: "userinfo never quoted", env: map[string]string{EnvURL: "mqtt://u:" + secretPW + "@b:1883"}, want: []string{"EVENT_BROKER_MQTT_URL (events.mqtt.url): want host:port without credentials"}},
		{name: "no port", env: map[string]string{EnvURL: "broker"}, want: []string{"EVENT_BROKER_MQTT_URL (events.mqtt.url): want host:port"}},
		{name: "bad port", env: map[string]string{EnvURL: "broker:99999"}, want: []string{"EVENT_BROKER_MQTT_URL (events.mqtt.url): port \"99999\""}},
		{name: "no host", env: map[string]string{EnvURL: ":1883"}, want: []string{"EVENT_BROKER_MQTT_URL (events.mqtt.url): host missing"}},
		{name: "cacert without ssl", env: map[string]string{EnvURL: "b:1", EnvCACertFile: "/ca"}, want: []string{"EVENT_BROKER_MQTT_CACERT_FILE (events.mqtt.cacert_file): requires EVENT_BROKER_MQTT_SSL=true"}},
		{name: "mtls without ssl", env: map[string]string{EnvURL: "b:1", EnvClientCertFile: "/c", EnvClientKeyFile: "/k"}, want: []string{
			"EVENT_BROKER_MQTT_CLIENT_CERT_FILE (events.mqtt.client_cert_file): requires EVENT_BROKER_MQTT_SSL=true",
			"EVENT_BROKER_MQTT_CLIENT_KEY_FILE (events.mqtt.client_key_file): requires EVENT_BROKER_MQTT_SSL=true"}},
		{name: "ssl false explicitly", env: map[string]string{EnvURL: "b:1", EnvSSL: "false", EnvClientCertFile: "/c", EnvClientKeyFile: "/k"}, yaml: func(c *Config) { c.SSL = true },
			want: []string{"EVENT_BROKER_MQTT_CLIENT_CERT_FILE (events.mqtt.client_cert_file): requires"}},
		{name: "cert without key", env: map[string]string{EnvURL: "b:1", EnvSSL: "1", EnvClientCertFile: "/c"}, want: []string{"EVENT_BROKER_MQTT_CLIENT_KEY_FILE (events.mqtt.client_key_file): required with EVENT_BROKER_MQTT_CLIENT_CERT_FILE"}},
		{name: "key without cert", env: map[string]string{EnvURL: "b:1", EnvSSL: "1", EnvClientKeyFile: "/k"}, want: []string{"EVENT_BROKER_MQTT_CLIENT_CERT_FILE (events.mqtt.client_cert_file): required with EVENT_BROKER_MQTT_CLIENT_KEY_FILE"}},
		{name: "password without username", env: map[string]string{EnvURL: "b:1", EnvPassword: secretPW}, want: []string{"EVENT_BROKER_MQTT_USERNAME (events.mqtt.username): a password needs a user name"}},
		{name: "jwt without username is fine", env: map[string]string{EnvURL: "b:1", EnvJWT: "eyJ.a.b"}},
		{name: "jwt twice", yaml: func(c *Config) { c.JWT, c.JWTFile = "eyJ.a.b", "/jwt" }, env: map[string]string{EnvURL: "b:1"}, want: []string{"EVENT_BROKER_MQTT_JWT (events.mqtt.jwt_file): set the JWT one way only"}},
		{name: "password twice", yaml: func(c *Config) { c.Username, c.Password, c.PasswordFile = "u", secretPW, "/pw" }, env: map[string]string{EnvURL: "b:1"}, want: []string{"EVENT_BROKER_MQTT_PASSWORD (events.mqtt.password_file): set the password one way only"}},
		{name: "timeout too long", yaml: func(c *Config) { c.Timeout = 2 * time.Minute }, env: map[string]string{EnvURL: "b:1"}, want: []string{"events.mqtt.timeout: 2m0s is over 1m0s"}},
		{name: "timeout of 1m", yaml: func(c *Config) { c.Timeout = time.Minute }, env: map[string]string{EnvURL: "b:1"}},
		// The reviewer's finding: a missing file started fine and failed every Connect.
		{name: "jwt_file missing", yaml: func(c *Config) { c.JWTFile = missing }, env: map[string]string{EnvURL: "b:1"},
			want: []string{"events.mqtt.jwt_file: open " + missing + ": no such file"}},
		{name: "password_file missing", yaml: func(c *Config) { c.Username, c.PasswordFile = "u", missing }, env: map[string]string{EnvURL: "b:1"},
			want: []string{"events.mqtt.password_file: open " + missing + ": no such file"}},
		{name: "cacert missing", env: map[string]string{EnvURL: "b:1", EnvSSL: "1", EnvCACertFile: missing},
			want: []string{"EVENT_BROKER_MQTT_CACERT_FILE (events.mqtt.cacert_file): open " + missing}},
		{name: "client cert missing", env: map[string]string{EnvURL: "b:1", EnvSSL: "1", EnvClientCertFile: missing, EnvClientKeyFile: keyF},
			want: []string{"EVENT_BROKER_MQTT_CLIENT_CERT_FILE (events.mqtt.client_cert_file): open " + missing}},
		{name: "client key a directory", env: map[string]string{EnvURL: "b:1", EnvSSL: "1", EnvClientCertFile: certF, EnvClientKeyFile: dir},
			want: []string{"EVENT_BROKER_MQTT_CLIENT_KEY_FILE (events.mqtt.client_key_file): " + dir + " is a directory"}},
		{name: "timeout too short", yaml: func(c *Config) { c.Timeout = time.Millisecond }, env: map[string]string{EnvURL: "b:1"}, want: []string{"events.mqtt.timeout: 1ms is below 100ms"}},
		{name: "every problem at once", env: map[string]string{EnvQoS: "7", EnvCACertFile: "/ca"}, want: []string{EnvURL, EnvQoS, EnvCACertFile}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			if tc.yaml != nil {
				tc.yaml(c)
			}
			err := c.ApplyEnv(lifecycle.MapEnv(tc.env))
			envErr := err != nil
			if err == nil {
				err = c.Validate()
			}
			if len(tc.want) == 0 {
				require.NoError(t, err)
				if tc.check != nil {
					tc.check(t, c)
				}
				_, err := c.Build(deps(t))
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), secretPW)
			if !envErr {
				_, err = c.Build(deps(t))
				require.Error(t, err, "Build validates too")
			}
		})
	}
}

// TestRegistered: the adapter registers as mqtt with every variable it reads.
func TestRegistered(t *testing.T) {
	s, ok := lifecycle.Lookup("mqtt")
	require.True(t, ok)
	require.ElementsMatch(t, []string{EnvURL, EnvQoS, EnvJWT, EnvUsername, EnvPassword, EnvSSL,
		EnvCACertFile, EnvClientCertFile, EnvClientKeyFile}, s.Variables)
	require.IsType(t, &Config{}, s.NewConfig())
}

// silentBroker accepts MQTT connections, answers CONNACK and then reads without
// ever acknowledging a publish.
func silentBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() { // ends when the listener is closed
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			if _, _, err := readPacket(br); err == nil {
				_, _ = c.Write([]byte{pktCONNACK << 4, 2, 0, 0})
			}
			go func() { _, _ = br.WriteTo(discard{}); _ = c.Close() }() // ends when the client closes
		}
	}()
	return ln.Addr().String()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestPublishNoAck: a broker that never acknowledges makes Publish return with the
// context's error when it ends, and with the timeout's when the context has none;
// the connection is dropped and Connect again works.
func TestPublishNoAck(t *testing.T) {
	addr := silentBroker(t)
	for _, qos := range []string{"1", "2"} {
		t.Run("qos"+qos, func(t *testing.T) {
			p := build(t, map[string]string{EnvURL: addr, EnvQoS: qos}, func(c *Config) { c.Timeout = 300 * time.Millisecond })
			m := lifecycletest.Message("edge.node.started", "id-s", "c")
			require.NoError(t, p.Connect(t.Context()))
			ctx, cancel := context.WithCancel(t.Context())
			go func() { time.Sleep(50 * time.Millisecond); cancel() }()
			err := p.Publish(ctx, m)
			require.ErrorIs(t, err, context.Canceled)

			require.NoError(t, p.Connect(t.Context()))
			err = p.Publish(t.Context(), m)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.ErrorContains(t, err, "no answer within 300ms")
			require.ErrorIs(t, p.Publish(t.Context(), m), ErrNotConnected, "the connection was dropped")
		})
	}
}
