package nats

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
)

func TestRegistered(t *testing.T) {
	s, ok := lifecycle.Lookup("nats")
	require.True(t, ok)
	cfg, ok := s.NewConfig().(*Config)
	require.True(t, ok)
	require.Equal(t, []string{DefaultURL}, cfg.URLs)
	require.False(t, cfg.JetStream)
	require.ElementsMatch(t, []string{EnvURLs, EnvJetStream, EnvToken, EnvUsername, EnvPassword, EnvNKeySeed, EnvJWT}, s.Variables)
}

func TestConfig(t *testing.T) {
	seed, _ := newUserKey(t)
	const jwtValue = "eyJhbGciOiJlZDI1NTE5In0.eyJzdWIiOiJVQUJDIn0.c2lnbmF0dXJlLXZhbHVl"
	for _, tc := range []struct {
		name    string
		yaml    func(c *Config)
		env     map[string]string
		envErr  string // ApplyEnv's error names this
		want    func(t *testing.T, c *Config)
		invalid []string // Validate's error names each of these
		auth    Auth
	}{
		{name: "Defaults", auth: AuthNone, want: func(t *testing.T, c *Config) {
			require.Equal(t, []string{DefaultURL}, c.URLs)
		}},
		{name: "URLList", env: map[string]string{EnvURLs: " nats://a:4222, tls://b:4443 ,,"}, auth: AuthNone,
			want: func(t *testing.T, c *Config) { require.Equal(t, []string{"nats://a:4222", "tls://b:4443"}, c.URLs) }},
		{name: "EnvWinsOverYAML", yaml: func(c *Config) { c.URLs = []string{"nats://yaml:4222"}; c.JetStream = true },
			env: map[string]string{EnvURLs: "nats://env:4222", EnvJetStream: "false"}, auth: AuthNone,
			want: func(t *testing.T, c *Config) {
				require.Equal(t, []string{"nats://env:4222"}, c.URLs)
				require.False(t, c.JetStream)
			}},
		{name: "EmptyJetStreamKeepsYAML", yaml: func(c *Config) { c.JetStream = true }, env: map[string]string{EnvJetStream: ""},
			auth: AuthNone, want: func(t *testing.T, c *Config) { require.True(t, c.JetStream) }},
		{name: "JetStreamYes", env: map[string]string{EnvJetStream: "YES"}, auth: AuthNone,
			want: func(t *testing.T, c *Config) { require.True(t, c.JetStream) }},
		{name: "JetStreamBad", env: map[string]string{EnvJetStream: "maybe"}, envErr: EnvJetStream},
		{name: "BadScheme", env: map[string]string{EnvURLs: "http://a:4222"}, invalid: []string{EnvURLs, "events.nats.urls"}},
		{name: "NoScheme", env: map[string]string{EnvURLs: "a:4222"}, invalid: []string{EnvURLs}},
		{name: "NoHost", env: map[string]string{EnvURLs: "nats://:4222"}, invalid: []string{EnvURLs}},
		{name: "BadPort", env: map[string]string{EnvURLs: "nats://a:port"}, invalid: []string{EnvURLs}},
		{name: "NoURLs", yaml: func(c *Config) { c.URLs = nil }, invalid: []string{EnvURLs}},
		{name: "Token", env: map[string]string{EnvToken: "tok-value-1"}, auth: AuthToken},
		{name: "UserPassword", env: map[string]string{EnvUsername: "u", EnvPassword: "pw-value-1"}, auth: AuthPassword},
		{name: "UserWithoutPassword", env: map[string]string{EnvUsername: "u"}, invalid: []string{EnvPassword, "events.nats.password"}},
		{name: "PasswordWithoutUser", env: map[string]string{EnvPassword: "pw-value-1"}, invalid: []string{EnvUsername, "events.nats.username"}},
		{name: "HalfPairIgnoredWhenTokenWins", env: map[string]string{EnvToken: "tok-value-1", EnvUsername: "u"}, auth: AuthToken},
		{name: "PasswordWithoutUserIgnoredWhenSeedWins", env: map[string]string{EnvNKeySeed: seed, EnvPassword: "pw-value-1"}, auth: AuthNKey},
		{name: "HalfPairIgnoredWhenJWTWins", env: map[string]string{EnvNKeySeed: seed, EnvJWT: jwtValue, EnvUsername: "u"}, auth: AuthJWT},
		{name: "JWTWithoutSeedIgnoredWhenTokenWins", env: map[string]string{EnvToken: "tok-value-1", EnvJWT: jwtValue}, auth: AuthToken},
		{name: "BadSeedIgnoredWhenTokenWins", env: map[string]string{EnvToken: "tok-value-1", EnvNKeySeed: "SUnot-a-seed-value"}, auth: AuthToken},
		{name: "JWTWithoutSeedRefusedOverPassword", env: map[string]string{EnvJWT: jwtValue, EnvUsername: "u", EnvPassword: "pw-value-1"}, invalid: []string{EnvNKeySeed}},
		{name: "Seed", env: map[string]string{EnvNKeySeed: seed}, auth: AuthNKey},
		{name: "JWTAndSeed", env: map[string]string{EnvNKeySeed: seed, EnvJWT: jwtValue}, auth: AuthJWT},
		{name: "JWTWithoutSeed", env: map[string]string{EnvJWT: jwtValue}, invalid: []string{EnvNKeySeed, "events.nats.nkey_seed"}},
		{name: "NotAJWT", env: map[string]string{EnvNKeySeed: seed, EnvJWT: "not-a-jwt-value"}, invalid: []string{EnvJWT, "events.nats.jwt"}},
		{name: "NotASeed", env: map[string]string{EnvNKeySeed: "SUnot-a-seed-value"}, invalid: []string{EnvNKeySeed}},
		{name: "AccountSeed", env: map[string]string{EnvNKeySeed: accountSeed(t)}, invalid: []string{EnvNKeySeed}},
		{name: "TokenWins", env: map[string]string{EnvToken: "tok-value-1", EnvNKeySeed: seed, EnvJWT: jwtValue, EnvUsername: "u", EnvPassword: "pw-value-1"}, auth: AuthToken},
		{name: "JWTWinsOverPassword", env: map[string]string{EnvNKeySeed: seed, EnvJWT: jwtValue, EnvUsername: "u", EnvPassword: "pw-value-1"}, auth: AuthJWT},
		{name: "SeedWinsOverPassword", env: map[string]string{EnvNKeySeed: seed, EnvUsername: "u", EnvPassword: "pw-value-1"}, auth: AuthNKey},
		{name: "EmptyTokenClearsYAML", yaml: func(c *Config) { c.Token = "yaml-token-1" }, env: map[string]string{EnvToken: ""}, auth: AuthNone},
		{name: "YAMLPassword", yaml: func(c *Config) { c.Username, c.Password = "u", "yaml-pw-1" }, auth: AuthPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			if tc.yaml != nil {
				tc.yaml(c)
			}
			err := c.ApplyEnv(lifecycle.MapEnv(tc.env))
			if tc.envErr != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.envErr)
				return
			}
			require.NoError(t, err)
			err = c.Validate()
			if len(tc.invalid) > 0 {
				require.Error(t, err)
				for _, s := range tc.invalid {
					require.Contains(t, err.Error(), s)
				}
				for _, s := range c.Secrets() {
					require.NotContains(t, err.Error(), s, "Validate quotes a secret")
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.auth, c.Auth())
			if tc.want != nil {
				tc.want(t, c)
			}
		})
	}
}

func accountSeed(t *testing.T) string {
	t.Helper()
	kp, err := nkeys.CreateAccount()
	require.NoError(t, err)
	seed, err := kp.Seed()
	require.NoError(t, err)
	return string(seed)
}

func TestSecrets(t *testing.T) {
	c := NewConfig()
	require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(map[string]string{
		EnvURLs:  "nats://user:url-pass-1@a:4222,nats://url-token-1@b:4222,nats://c:4222",
		EnvToken: "tok-value-1", EnvPassword: "pw-value-1", EnvUsername: "u",
	})))
	require.ElementsMatch(t, []string{"tok-value-1", "pw-value-1", "url-pass-1", "url-token-1"}, c.Secrets())
	// The URL in a problem is shown without its userinfo.
	c.URLs = []string{"http://user:url-pass-1@a:4222"}
	err := c.Validate()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "url-pass-1")
	require.True(t, strings.Contains(err.Error(), "http://a:4222"), err.Error())
}

// TestBuildWarnsIgnoredCredentials: with several credentials set, Build says which
// one is used and which are ignored, without their values.
func TestBuildWarnsIgnoredCredentials(t *testing.T) {
	var buf strings.Builder
	c := &Config{URLs: []string{DefaultURL}, Token: "tok-value-1", Username: "u", Password: "pw-value-1"}
	require.NoError(t, c.Validate())
	p, err := c.Build(lifecycle.Deps{Log: slog.New(slog.NewTextHandler(&buf, nil))})
	require.NoError(t, err)
	require.NoError(t, p.Close())
	require.Contains(t, buf.String(), "auth=token")
	require.Contains(t, buf.String(), EnvUsername+","+EnvPassword)
	require.NotContains(t, buf.String(), "tok-value-1")
	require.NotContains(t, buf.String(), "pw-value-1")
}

// TestBuildWarnsIgnoredURLUserinfo: with a credential variable set, the URLs'
// userinfo is ignored, and Build's warning says so; a half pair that loses to a
// token is named too, and does not stop the start.
func TestBuildWarnsIgnoredURLUserinfo(t *testing.T) {
	var buf strings.Builder
	c := &Config{URLs: []string{"nats://old:stale-pass-1@a:4222"}, Token: "tok-value-1", Username: "u"}
	require.NoError(t, c.Validate())
	p, err := c.Build(lifecycle.Deps{Log: slog.New(slog.NewTextHandler(&buf, nil))})
	require.NoError(t, err)
	require.NoError(t, p.Close())
	require.Contains(t, buf.String(), "auth=token")
	require.Contains(t, buf.String(), EnvUsername+","+EnvPassword+","+EnvURLs+" userinfo")
	require.Contains(t, buf.String(), "userinfo is removed before connecting")
	require.NotContains(t, buf.String(), "stale-pass-1")
	require.NotContains(t, buf.String(), "tok-value-1")

	// Without a credential variable the URL's userinfo is what is used: no warning.
	buf.Reset()
	c = &Config{URLs: []string{"nats://old:stale-pass-1@a:4222"}}
	p, err = c.Build(lifecycle.Deps{Log: slog.New(slog.NewTextHandler(&buf, nil))})
	require.NoError(t, err)
	require.NoError(t, p.Close())
	require.Empty(t, buf.String())
}

// TestSampleYAML: sample.yaml decodes strictly, as the core decodes events.nats,
// and passes Validate.
func TestSampleYAML(t *testing.T) {
	b, err := os.ReadFile("sample.yaml")
	require.NoError(t, err)
	c := NewConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(c))
	require.NoError(t, c.Validate())
	require.Equal(t, []string{"nats://nats-1:4222", "nats://nats-2:4222"}, c.URLs)
	require.True(t, c.JetStream)
	require.Equal(t, "change-me", c.Password.Reveal())
	require.Equal(t, AuthPassword, c.Auth())

	all := "urls: [tls://a:4443]\njetstream: false\ntoken: t0ken-value\nusername: u\npassword: p4ss-value\nnkey_seed: x\njwt: y\n"
	c = NewConfig()
	dec = yaml.NewDecoder(strings.NewReader(all))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(c), "every key")
	require.Equal(t, "t0ken-value", c.Token.Reveal())
	require.Equal(t, "x", c.NKeySeed.Reveal())
	require.Equal(t, "y", c.JWT.Reveal())
}
