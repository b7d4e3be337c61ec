package forward

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestValidate(t *testing.T) {
	ok := func() Config {
		c := DefaultConfig()
		c.URL, c.Forward = "https://hq.example.com/api", []string{"alerts", "actions", "delete"}
		return c
	}
	tests := []struct {
		name string
		edit func(*Config)
		want []string // substrings of the error, none for valid
	}{
		{"valid", func(*Config) {}, nil},
		{"valid custom action and heartbeats", func(c *Config) { c.Forward = []string{"alerts", "createIssue", "heartbeats"} }, nil},
		{"url required", func(c *Config) { c.URL = "" }, []string{"url: required"}},
		{"url scheme", func(c *Config) { c.URL = "ftp://hq/" }, []string{"url: scheme must be http or https"}},
		{"url userinfo", func(c *Config) { c.URL = "https://u:hunter22@hq/api" }, []string{"url: must not contain user information"}},
		{"url query", func(c *Config) { c.URL = "https://hq/api?x=1" }, []string{"url: must not have a query"}},
		{"forward required", func(c *Config) { c.Forward = nil }, []string{"forward: at least one filter word is required"}},
		{"forward typo", func(c *Config) { c.Forward = []string{"Alerts", "ack,close"} }, []string{`forward: "Alerts", "ack,close": not a filter word`}},
		{"origin not a URL", func(c *Config) { c.Origin = "gw-1" }, []string{"origin: scheme must be http or https"}},
		{"origin with a comma", func(c *Config) { c.Origin = "http://a,b" }, []string{"origin: must not contain commas"}},
		{"hawk without id and key", func(c *Config) { c.Hawk.Algorithm = "sha256" }, []string{"hawk.id: required", "hawk.key: one of key, key_file, key_env is required"}},
		{"hawk bad algorithm", func(c *Config) { c.Hawk = HawkConfig{ID: "i", Key: "k", Algorithm: "md5"} }, []string{`hawk.algorithm: "md5"`}},
		{"hawk id with a quote", func(c *Config) { c.Hawk = HawkConfig{ID: `a"b`, Key: "k"} }, []string{"hawk.id: may hold only"}},
		{"hawk key twice", func(c *Config) { c.Hawk = HawkConfig{ID: "i", Key: "k", KeyEnv: "K"} }, []string{"hawk.key, hawk.key_file, hawk.key_env: set at most one"}},
		{"api key twice", func(c *Config) { c.APIKey, c.APIKeyFile = "k", "/f" }, []string{"api_key, api_key_file, api_key_env: set at most one"}},
		{"password without username", func(c *Config) { c.Password = "p" }, []string{"username: required with password"}},
		{"username with a colon", func(c *Config) { c.Username, c.Password = "a:b", "p" }, []string{"username: must not contain ':'"}},
		{"token twice", func(c *Config) { c.Token, c.TokenEnv = "t", "T" }, []string{"token, token_file, token_env: set at most one"}},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, []string{"timeout: must not be negative"}},
		{"path without slash", func(c *Config) { c.Paths.Alert = "alert" }, []string{`paths.alert: "alert" must start with /`}},
		{"action path without id", func(c *Config) { c.Paths.Action = "/action" }, []string{"paths.action: \"/action\" must contain {id}"}},
		{"alert path with id", func(c *Config) { c.Paths.Alert = "/a/{id}" }, []string{"paths.alert: \"/a/{id}\" has no alert id"}},
		{"circuit negative", func(c *Config) { c.Circuit = CircuitConfig{Failures: -1, OpenFor: -time.Second} },
			[]string{"circuit.failures: must not be negative", "circuit.open_for: must not be negative"}},
		{"max_in_flight", func(c *Config) { c.MaxInFlight = 1000 }, []string{"max_in_flight: must be between 1 and 64"}},
		{"convert severity", func(c *Config) { c.Convert.Severity = "bad" }, []string{`convert.severity: "bad"`}},
		{"tls", func(c *Config) { c.TLS.CertFile = "/c" }, []string{"tls.cert_file and tls.key_file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), "hunter22")
		})
	}
}

func TestUseLoopIdentity(t *testing.T) {
	c := Config{}
	require.ErrorIs(t, c.UseLoopIdentity(nil), ErrNoOrigin)
	require.EqualError(t, c.UseLoopIdentity(nil),
		"origin: this node forwards to Alerta but has no loop identity: set origin or add an alerta source with base_url")
	require.NoError(t, c.UseLoopIdentity([]string{"http://gw-a:8977/alerta", "http://gw-b:8977"}))
	require.Equal(t, "http://gw-a:8977/alerta", c.Origin)
	c = Config{Origin: "http://mine:1"}
	require.NoError(t, c.UseLoopIdentity([]string{"http://gw-a:8977"}))
	require.Equal(t, "http://mine:1", c.Origin, "a configured origin wins")

	c = Config{}
	require.ErrorContains(t, c.UseLoopIdentity([]string{"http://gw-a:8977/alerta,b"}), "must not contain commas",
		"an inherited identity with a comma would be two elements of X-Alerta-Loop")
	require.Empty(t, c.Origin)

	_, err := New(Config{URL: "http://hq:1", Forward: []string{"*"}}, testDeps())
	require.ErrorIs(t, err, ErrNoOrigin, "New refuses a sink without origin too")
}

// TestSample: sample.yaml decodes strictly over the defaults and validates.
func TestSample(t *testing.T) {
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(sample)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c))
	require.NoError(t, c.Validate())
	require.Equal(t, "58e7c66f-b990-4610-9496-60eb3c63339b", c.Hawk.ID)
	require.Equal(t, []string{"alerts", "actions", "delete"}, c.Forward)
	require.True(t, strings.HasPrefix(c.Origin, "http://"))
}
