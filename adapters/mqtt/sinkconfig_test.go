package mqtt

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters"
)

func TestSinkRegistered(t *testing.T) {
	f, ok := adapters.Lookup(adapters.DirSink, "mqtt")
	require.True(t, ok)
	cfg, ok := f.NewConfig().(*SinkConfig)
	require.True(t, ok)
	require.Equal(t, DefaultSinkConfig(), *cfg)
	require.NotEmpty(t, f.Sample)
	require.Equal(t, DefaultSinkMaxInFlight, f.Info.MaxInFlight)
}

// TestSinkDefaults: the defaults the brief fixes (qos 1, retain false, keepalive
// 30s, ack_timeout 10s), and a client id kept apart from a source of the same name.
func TestSinkDefaults(t *testing.T) {
	d := DefaultSinkConfig()
	require.Equal(t, DefaultURL, d.URL)
	require.Equal(t, byte(1), d.QoS)
	require.False(t, d.Retain)
	require.Equal(t, 30*time.Second, d.KeepAlive)
	require.Equal(t, 10*time.Second, d.AckTimeout)
	require.Equal(t, 10*time.Second, d.ConnectTimeout)
	require.Equal(t, 8, d.MaxInFlight)

	c := SinkConfig{Topic: "a"}.withDefaults("bus")
	require.Equal(t, 10*time.Second, c.AckTimeout)
	require.Equal(t, 30*time.Second, c.KeepAlive)
	require.Equal(t, DefaultTLSReloadInterval, c.TLS.ReloadInterval)
	require.True(t, strings.HasPrefix(c.ClientID, "edgerelay-"), c.ClientID)
	require.True(t, strings.HasSuffix(c.ClientID, "-sink-bus"), c.ClientID)
	src := Config{}.withDefaults("bus")
	require.NotEqual(t, src.ClientID, c.ClientID, "a source and a sink named alike must not share a client id")
}

// TestSinkConfigValidate: every problem is reported at once, each naming its key.
func TestSinkConfigValidate(t *testing.T) {
	ok := DefaultSinkConfig()
	ok.Topic = "site/{kind}/{key}"
	require.NoError(t, ok.Validate())

	for name, tc := range map[string]struct {
		mutate func(*SinkConfig)
		want   []string
	}{
		"no topic":              {func(c *SinkConfig) { c.Topic = "" }, []string{"topic: required"}},
		"unknown placeholder":   {func(c *SinkConfig) { c.Topic = "a/{alert}" }, []string{"topic: unknown placeholder {alert}"}},
		"empty placeholder":     {func(c *SinkConfig) { c.Topic = "a/{}" }, []string{"topic: unknown placeholder {}"}},
		"attr without name":     {func(c *SinkConfig) { c.Topic = "a/{attr:}" }, []string{"topic: unknown placeholder {attr:}"}},
		"nested brace":          {func(c *SinkConfig) { c.Topic = "a/{attr:x{y}" }, []string{"topic: unknown placeholder {attr:x{y}"}},
		"plus in literal":       {func(c *SinkConfig) { c.Topic = "a/+/{key}" }, []string{"topic: \"a/+/\": the wildcards"}},
		"hash in literal":       {func(c *SinkConfig) { c.Topic = "{key}/#" }, []string{"topic: \"/#\": the wildcards"}},
		"unclosed brace":        {func(c *SinkConfig) { c.Topic = "a/{key" }, []string{"topic: \"{key\": '{' without '}'"}},
		"stray close":           {func(c *SinkConfig) { c.Topic = "a}/{key}" }, []string{"'}' without '{'"}},
		"dollar":                {func(c *SinkConfig) { c.Topic = "$SYS/x" }, []string{"topic: begins with '$'"}},
		"nul":                   {func(c *SinkConfig) { c.Topic = "a\x00b" }, []string{"topic: \"a\\x00b\": contains NUL"}},
		"qos 3":                 {func(c *SinkConfig) { c.QoS = 3 }, []string{"qos: 3 is not 0, 1 or 2"}},
		"keepalive":             {func(c *SinkConfig) { c.KeepAlive = time.Millisecond }, []string{"keepalive: 1ms is below 1s"}},
		"ack_timeout":           {func(c *SinkConfig) { c.AckTimeout = -time.Second }, []string{"ack_timeout: -1s is below 100ms"}},
		"connect_timeout":       {func(c *SinkConfig) { c.ConnectTimeout = -time.Second }, []string{"connect_timeout: -1s is below 100ms"}},
		"ack_timeout too short": {func(c *SinkConfig) { c.AckTimeout = time.Nanosecond }, []string{"ack_timeout: 1ns is below 100ms"}},
		"max_in_flight":         {func(c *SinkConfig) { c.MaxInFlight = 5000 }, []string{"max_in_flight: 5000 is outside"}},
		"url scheme":            {func(c *SinkConfig) { c.URL = "http://x" }, []string{"url: \"http://x\": scheme must be"}},
		"password twice": {func(c *SinkConfig) { c.Username = "u"; c.Password = "p"; c.PasswordEnv = "P" },
			[]string{"password, password_file, password_env: set only one"}},
		"password without user": {func(c *SinkConfig) { c.PasswordEnv = "P" }, []string{"username: required when a password is set"}},
		"bad env name":          {func(c *SinkConfig) { c.Username = "u"; c.PasswordEnv = "A=B" }, []string{"password_env: \"A=B\" is not"}},
		"tls without tls url":   {func(c *SinkConfig) { c.TLS.CAFile = "/ca.pem" }, []string{"tls.ca_file: set, but url"}},
		"cert without key": {func(c *SinkConfig) { c.URL = "mqtts://h"; c.TLS.CertFile = "/c.pem" },
			[]string{"tls.key_file: required with tls.cert_file"}},
		"everything at once": {func(c *SinkConfig) { c.Topic = "a/+/{nope}"; c.QoS = 7; c.AckTimeout = -1 },
			[]string{"topic: \"a/+/\"", "topic: unknown placeholder {nope}", "qos: 7", "ack_timeout:"}},
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			err := c.Validate()
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			_, err = NewSink(c, adapters.Deps{})
			require.Error(t, err, "NewSink validates too")
		})
	}
}

// TestSinkSample: sink_sample.yaml decodes strictly over the defaults and validates.
func TestSinkSample(t *testing.T) {
	b, err := os.ReadFile("sink_sample.yaml")
	require.NoError(t, err)
	cfg := DefaultSinkConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&cfg))
	require.NoError(t, cfg.Validate())
	require.Equal(t, byte(1), cfg.QoS)
}

// TestTopicTemplate: placeholders are filled from the event; a substituted value
// keeps '/', has '+', '#', NUL, control characters and invalid UTF-8 replaced by
// '_', and cannot make the topic begin with '$'; an empty result is refused.
func TestTopicTemplate(t *testing.T) {
	e := &adapters.Event{
		Key: "4711", Kind: "alert", Source: "edge", Topic: "plant/line1/alarm",
		Attrs: map[string]string{"site": "hh", "bad": "a+b#c\x00d\x01e\xffé"},
	}
	for tmpl, want := range map[string]string{
		"fixed/topic":                  "fixed/topic",
		"site/{kind}/{key}":            "site/alert/4711",
		"mirror/{topic}":               "mirror/plant/line1/alarm",
		"{source}-{attr:site}/{key}":   "edge-hh/4711",
		"x/{attr:missing}/y":           "x//y",
		"x/{attr:bad}":                 "x/a_b_c_d_e_é",
		"{attr:site}{key}{kind}":       "hh4711alert",
		"événements/{key}":             "événements/4711",
		"t/{attr:header.X-ilert-Id}/z": "t//z",
	} {
		tt, err := parseTopicTemplate(tmpl)
		require.NoError(t, err, tmpl)
		got, err := tt.render(e)
		require.NoError(t, err, tmpl)
		require.Equal(t, want, got, tmpl)
	}

	tt, err := parseTopicTemplate("{topic}")
	require.NoError(t, err)
	got, err := tt.render(&adapters.Event{Topic: "$SYS/broker/uptime"})
	require.NoError(t, err)
	require.Equal(t, "_SYS/broker/uptime", got, "a value may not make the topic a broker topic")
	got, err = tt.render(&adapters.Event{Topic: "+/#"})
	require.NoError(t, err)
	require.Equal(t, "_/_", got)
	_, err = tt.render(&adapters.Event{})
	require.ErrorContains(t, err, "empty topic")
	_, err = tt.render(&adapters.Event{Topic: strings.Repeat("a", maxTopicLen+1)})
	require.ErrorContains(t, err, "longer than")
}

// TestSinkTopicErrorIsPermanent: an event whose topic cannot be built is
// dead-lettered (Permanent), with the key named, and needs no connection.
func TestSinkTopicErrorIsPermanent(t *testing.T) {
	cfg := DefaultSinkConfig()
	cfg.Topic = "{key}"
	s, err := NewSink(cfg, adapters.Deps{Name: "t"})
	require.NoError(t, err)
	err = s.Send(t.Context(), &adapters.Event{ID: "x"})
	require.True(t, adapters.IsPermanent(err), "%v", err)
	require.ErrorContains(t, err, "topic:")
	err = s.Send(t.Context(), &adapters.Event{ID: "y", Key: "k"})
	require.ErrorIs(t, err, adapters.ErrNotConnected)
	require.False(t, adapters.IsPermanent(err))
	require.NoError(t, s.Close(t.Context()))
}

// FuzzTopicTemplate: whatever the template and the event's values, a topic the
// sink publishes to holds no wildcard, NUL or invalid UTF-8, does not begin with
// '$' and fits MQTT's length limit; a template that parses keeps its literal text.
func FuzzTopicTemplate(f *testing.F) {
	f.Add("site/{kind}/{key}", "4711", "alert", "plant/1", "x")
	f.Add("{topic}", "", "", "$SYS/+/#", "")
	f.Add("a/{attr:n}/{source}", "k", "raw", "t", "v+\x00\xff#")
	f.Add("{key}{attr:n}", "\xc3", "\x28", "", "/")
	f.Fuzz(func(t *testing.T, tmpl, key, kind, topic, attr string) {
		tt, err := parseTopicTemplate(tmpl)
		if err != nil {
			return
		}
		for _, p := range tt.parts {
			if p.field == "" && strings.ContainsAny(p.lit, "+#\x00") {
				t.Fatalf("template %q parsed with a wildcard or NUL in %q", tmpl, p.lit)
			}
		}
		got, err := tt.render(&adapters.Event{Key: key, Kind: kind, Source: "src", Topic: topic, Attrs: map[string]string{"n": attr}})
		if err != nil {
			return
		}
		switch {
		case got == "" || len(got) > maxTopicLen:
			t.Fatalf("topic of length %d", len(got))
		case strings.ContainsAny(got, "+#\x00"):
			t.Fatalf("topic %q holds a wildcard or NUL", got)
		case !utf8.ValidString(got):
			t.Fatalf("topic %q is not UTF-8", got)
		case got[0] == '$':
			t.Fatalf("topic %q begins with '$'", got)
		}
	})
}
