package mqtt

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.Topics = []string{"plant/+/alarm"}
		return c
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings of the error; none means valid
	}{
		{"defaults with a topic", func(*Config) {}, nil},
		{"zero config but topics", func(c *Config) { *c = Config{Topics: []string{"a"}} }, nil},
		{"ssl with tls files", func(c *Config) {
			c.URL = "ssl://broker:8883"
			c.TLS = TLSConfig{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "b"}
		}, nil},
		{"mqtts without port", func(c *Config) { c.URL = "mqtts://broker" }, nil},
		{"missing ca file is not checked here", func(c *Config) { c.URL = "tls://h"; c.TLS.CAFile = "/nonexistent/ca.pem" }, nil},
		{"reload interval", func(c *Config) { c.URL = "ssl://h"; c.TLS.CAFile = "ca"; c.TLS.ReloadInterval = 5 * time.Second }, nil},
		{"shared subscription", func(c *Config) { c.Topics = []string{"$share/g/a/#"} }, nil},
		{"qos 0", func(c *Config) { c.QoS = 0 }, nil},
		{"qos 2", func(c *Config) { c.QoS = 2 }, nil},
		{"credentials", func(c *Config) { c.Username, c.PasswordFile = "u", "/p" }, nil},
		{"credentials in the url", func(c *Config) { c.URL = "tcp://u:p@h:1883" }, nil},
		{"credentials twice", func(c *Config) { c.URL = "tcp://u:p@h:1883"; c.Username, c.PasswordFile = "u", "/p" },
			[]string{"url:", "set the credentials one way"}},

		{"bad scheme", func(c *Config) { c.URL = "http://x:1" }, []string{"url:", "scheme"}},
		{"no host", func(c *Config) { c.URL = "tcp://:1883" }, []string{"url:", "no host"}},
		{"bad port", func(c *Config) { c.URL = "tcp://h:99999" }, []string{"url:", "bad port"}},
		{"path", func(c *Config) { c.URL = "tcp://h:1/x" }, []string{"url:", "no path"}},
		{"no topics", func(c *Config) { c.Topics = nil }, []string{"topics: at least one"}},
		{"empty filter", func(c *Config) { c.Topics = []string{""} }, []string{"topics[0]:", "empty"}},
		{"hash not last", func(c *Config) { c.Topics = []string{"a/#/b"} }, []string{"topics[0]:", "last level"}},
		{"hash in level", func(c *Config) { c.Topics = []string{"a/b#"} }, []string{"topics[0]:", "whole level"}},
		{"plus in level", func(c *Config) { c.Topics = []string{"a/+b/c"} }, []string{"topics[0]:", "'+'"}},
		{"bad share", func(c *Config) { c.Topics = []string{"$share/g"} }, []string{"topics[0]:", "$share/<group>"}},
		{"share empty group", func(c *Config) { c.Topics = []string{"$share//a"} }, []string{"group name"}},
		{"share bad filter", func(c *Config) { c.Topics = []string{"$share/g/a#"} }, []string{"shared subscription"}},
		{"duplicate topic", func(c *Config) { c.Topics = []string{"a", "a"} }, []string{"topics[1]:", "twice"}},
		{"qos 3", func(c *Config) { c.QoS = 3 }, []string{"qos: 3"}},
		{"keepalive small", func(c *Config) { c.KeepAlive = 10 * time.Millisecond }, []string{"keepalive:"}},
		{"keepalive negative", func(c *Config) { c.KeepAlive = -time.Second }, []string{"keepalive:"}},
		{"keepalive huge", func(c *Config) { c.KeepAlive = 20 * time.Hour }, []string{"keepalive:", "65535"}},
		{"connect_timeout negative", func(c *Config) { c.ConnectTimeout = -1 }, []string{"connect_timeout:"}},
		{"password without username", func(c *Config) { c.Password = "p" }, []string{"username: required"}},
		{"password twice", func(c *Config) { c.Username, c.Password, c.PasswordFile = "u", "p", "/p" },
			[]string{"password, password_file"}},
		{"cert without key", func(c *Config) { c.URL = "ssl://h"; c.TLS.CertFile = "c" },
			[]string{"tls.key_file: required with tls.cert_file"}},
		{"key without cert", func(c *Config) { c.URL = "ssl://h"; c.TLS.KeyFile = "k" },
			[]string{"tls.cert_file: required with tls.key_file"}},
		{"tls on tcp", func(c *Config) { c.TLS.CAFile = "ca" }, []string{`tls.ca_file: set, but url "tcp://127.0.0.1:1883" does not use TLS`}},
		{"tls on mqtt scheme", func(c *Config) { c.URL = "mqtt://h"; c.TLS.CertFile, c.TLS.KeyFile = "c", "k" },
			[]string{"tls.cert_file, tls.key_file: set, but url"}},
		{"reload interval on tcp", func(c *Config) { c.TLS.ReloadInterval = time.Second }, []string{"tls.reload_interval: set, but url"}},
		{"ca with insecure", func(c *Config) { c.URL = "ssl://h"; c.TLS.CAFile = "ca"; c.TLS.InsecureSkipVerify = true },
			[]string{"tls.ca_file: pointless"}},
		{"reload interval negative", func(c *Config) { c.URL = "ssl://h"; c.TLS.CAFile = "ca"; c.TLS.ReloadInterval = -time.Second },
			[]string{"tls.reload_interval: -1s is negative"}},
		{"every tls problem at once", func(c *Config) { c.TLS.KeyFile = "k"; c.TLS.ReloadInterval = -1 },
			[]string{"tls.cert_file: required", "tls.key_file, tls.reload_interval: set, but url", "tls.reload_interval: -1ns is negative"}},
		{"key_path spaces", func(c *Config) { c.KeyPath = " a" }, []string{"key_path:"}},
		{"max_in_flight negative", func(c *Config) { c.MaxInflight = -1 }, []string{"max_in_flight:"}},
		{"every problem at once", func(c *Config) { c.URL = "x://"; c.Topics = nil; c.QoS = 9 },
			[]string{"url:", "topics:", "qos:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestSample: sample.yaml decodes strictly over the defaults and validates.
func TestSample(t *testing.T) {
	b, err := os.ReadFile("sample.yaml")
	require.NoError(t, err)
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&cfg))
	require.NoError(t, cfg.Validate())
	require.Equal(t, 30*time.Second, cfg.KeepAlive)
	require.Equal(t, byte(1), cfg.QoS)
}

// TestReadme: the README has the required headings and names every yaml key.
func TestReadme(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	readme := string(b)
	for _, h := range []string{"# mqtt", "## Description", "## Configuration", "## Delivery semantics", "## Metrics", "## Example"} {
		require.Regexp(t, regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(h)+`$`), readme)
	}
	for _, file := range []string{"config.go", "sinkconfig.go"} {
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`yaml:"([a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
			require.True(t, strings.Contains(readme, "`"+m[1]+"`"), "README does not list %s (%s)", m[1], file)
		}
	}
}

// TestTLSReloadIntervalDefault: zero means 30s; a set value is kept.
func TestTLSReloadIntervalDefault(t *testing.T) {
	c := DefaultConfig()
	require.Equal(t, 30*time.Second, c.withDefaults("x").TLS.ReloadInterval)
	c.TLS.ReloadInterval = 200 * time.Millisecond
	require.Equal(t, 200*time.Millisecond, c.withDefaults("x").TLS.ReloadInterval)
}
