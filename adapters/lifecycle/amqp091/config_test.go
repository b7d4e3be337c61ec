package amqp091

import (
	"os"
	"path/filepath"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
)

func TestRegistered(t *testing.T) {
	for _, n := range []string{Name, Alias} {
		s, ok := lifecycle.Lookup(n)
		require.True(t, ok, n)
		require.Equal(t, Name, s.Name)
		require.ElementsMatch(t, []string{VarURL, VarSSL}, s.Variables)
		require.IsType(t, &Config{}, s.NewConfig())
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(pem, []byte("x"), 0o600))
	urlFile := filepath.Join(dir, "url")
	require.NoError(t, os.WriteFile(urlFile, []byte("amqp://u:file-password@h/\n"), 0o600))

	const pw = "hunter2-secret"
	for _, tc := range []struct {
		name    string
		yaml    string
		env     map[string]string
		wantErr []string // substrings of the error; nil: valid
		dial    string   // the URL dialled, when valid
	}{
		{name: "env URL", env: map[string]string{VarURL: "amqp://u:" + pw + "@rabbit:5672/edge"}, dial: "amqp://u:" + pw + "@rabbit:5672/edge"},
		{name: "yaml URL", yaml: "url: amqps://rabbit/", dial: "amqps://rabbit/"},
		{name: "env wins over yaml", yaml: "url: amqp://yaml/", env: map[string]string{VarURL: "amqp://env/"}, dial: "amqp://env/"},
		{name: "env wins over url_file", yaml: "url_file: " + urlFile, env: map[string]string{VarURL: "amqp://env/"}, dial: "amqp://env/"},
		{name: "url_file", yaml: "url_file: " + urlFile, dial: "amqp://u:file-password@h/"},
		{name: "url_env", yaml: "url_env: EDGERELAY_TEST_AMQP_URL", env: map[string]string{"EDGERELAY_TEST_AMQP_URL": "amqp://u:env-password@h/"}, dial: "amqp://u:env-password@h/"},
		{name: "url_env unset", yaml: "url_env: EDGERELAY_TEST_AMQP_URL", wantErr: []string{VarURL + " (events.amqp091.url_env)", "EDGERELAY_TEST_AMQP_URL is not set"}},
		{name: "url and url_file", yaml: "url: amqp://h/\nurl_file: " + urlFile, wantErr: []string{VarURL, "more than one way"}},
		{name: "missing url_file", yaml: "url_file: " + filepath.Join(dir, "nope"), wantErr: []string{VarURL, "events.amqp091.url_file"}},
		{name: "missing", wantErr: []string{VarURL + " (events.amqp091.url): required"}},
		{name: "empty env clears yaml", yaml: "url: amqp://h/", env: map[string]string{VarURL: ""}, wantErr: []string{VarURL, "required"}},
		{name: "scheme", env: map[string]string{VarURL: "http://u:" + pw + "@h/"}, wantErr: []string{VarURL + " (events.amqp091.url)", `scheme "http" is not amqp or amqps`}},
		{name: "unparsable", env: map[string]string{VarURL: "amqp://u:" + pw + "@h:99999999x/"}, wantErr: []string{VarURL, "invalid"}},
		{name: "port", env: map[string]string{VarURL: "amqp://u:" + pw + "@h:70000/"}, wantErr: []string{VarURL, "port"}},
		{name: "ssl switches scheme and port", env: map[string]string{VarURL: "amqp://u:p@h/", VarSSL: "true"}, dial: "amqps://u:p@h/"},
		{name: "ssl keeps a given port", env: map[string]string{VarURL: "amqp://u:p@h:5672/", VarSSL: "yes"}, dial: "amqps://u:p@h:5672/"},
		{name: "ssl false keeps amqps", env: map[string]string{VarURL: "amqps://h/", VarSSL: "false"}, dial: "amqps://h/"},
		{name: "ssl from yaml", yaml: "url: amqp://h/\nssl: true", dial: "amqps://h/"},
		{name: "ssl env overrides yaml", yaml: "url: amqp://h/\nssl: true", env: map[string]string{VarSSL: "0"}, dial: "amqp://h/"},
		{name: "ssl not a bool", env: map[string]string{VarURL: "amqp://h/", VarSSL: "sometimes"}, wantErr: []string{VarSSL, `"sometimes" is not true or false`}},
		{name: "tls files without tls", env: map[string]string{VarURL: "amqp://h/?cacertfile=" + pem}, wantErr: []string{VarSSL + " (events.amqp091.ssl)", "TLS is off"}},
		{name: "tls files with ssl", env: map[string]string{VarURL: "amqp://h/?cacertfile=" + pem, VarSSL: "on"}, dial: "amqps://h/?cacertfile=" + pem},
		{name: "certfile alone", env: map[string]string{VarURL: "amqps://h/?certfile=" + pem}, wantErr: []string{VarURL, "certfile and keyfile go together"}},
		{name: "missing file", env: map[string]string{VarURL: "amqps://h/?cacertfile=" + filepath.Join(dir, "none.pem")}, wantErr: []string{VarURL, "cacertfile", "no such file"}},
		{name: "auth mechanism", env: map[string]string{VarURL: "amqp://h/?auth_mechanism=kerberos"}, wantErr: []string{VarURL, `auth_mechanism "kerberos"`}},
		{name: "external without tls", env: map[string]string{VarURL: "amqp://h/?auth_mechanism=external"}, wantErr: []string{VarURL, "external needs TLS"}},
		{name: "external without certificate", env: map[string]string{VarURL: "amqps://h/?auth_mechanism=external"}, wantErr: []string{VarURL, "external needs certfile"}},
		{name: "external", env: map[string]string{VarURL: "amqps://h/?auth_mechanism=external&certfile=" + pem + "&keyfile=" + pem}, dial: "amqps://h/?auth_mechanism=external&certfile=" + pem + "&keyfile=" + pem},
		{name: "heartbeat", env: map[string]string{VarURL: "amqp://h/?heartbeat=x"}, wantErr: []string{VarURL, "heartbeat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			dec := yaml.NewDecoder(bytesReader(tc.yaml))
			dec.KnownFields(true)
			if tc.yaml != "" {
				require.NoError(t, dec.Decode(c))
			}
			err := c.ApplyEnv(lifecycle.MapEnv(tc.env))
			if err == nil {
				err = c.Validate()
			}
			if tc.wantErr != nil {
				require.Error(t, err)
				t.Log(err)
				for _, w := range tc.wantErr {
					require.Contains(t, err.Error(), w)
				}
				require.NotContains(t, err.Error(), pw)
				return
			}
			require.NoError(t, err)
			raw, _ := c.resolve()
			got := c.dialURL(raw)
			require.Equal(t, tc.dial, got)
			_, err = amqp.ParseURI(got)
			require.NoError(t, err)
			p, err := c.Build(lifecycle.Deps{})
			require.NoError(t, err)
			require.NotContains(t, p.(*Publisher).shown, "password")
		})
	}
}

func TestSSLDefaultPort(t *testing.T) {
	c := NewConfig()
	require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(map[string]string{VarURL: "amqp://rabbit.example/", VarSSL: "true"})))
	require.NoError(t, c.Validate())
	raw, _ := c.resolve()
	u, err := amqp.ParseURI(c.dialURL(raw))
	require.NoError(t, err)
	require.Equal(t, "amqps", u.Scheme)
	require.Equal(t, 5671, u.Port)
}

func TestSecrets(t *testing.T) {
	c := NewConfig()
	require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(map[string]string{VarURL: "amqp://edge:s3cr%40t-pw@h/"})))
	require.ElementsMatch(t, []string{"s3cr@t-pw", "edge:s3cr@t-pw"}, c.Secrets())

	c = NewConfig()
	require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(map[string]string{VarURL: "amqp://h/"})))
	require.Empty(t, c.Secrets())
}

// sample.yaml decodes strictly and validates.
func TestSample(t *testing.T) {
	f, err := os.Open("sample.yaml")
	require.NoError(t, err)
	defer f.Close()
	c := NewConfig()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(c))
	require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(nil)))
	require.NoError(t, c.Validate())
	raw, _ := c.resolve()
	require.Equal(t, "amqps://edge:change-me@rabbit.example:5672/edge", c.dialURL(raw))
}

// Every YAML key is in the README's configuration section.
func TestREADMEKeys(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	s := "\n" + string(b)
	for _, h := range []string{"# amqp091", "## Description", "## Configuration", "## Delivery semantics", "## Metrics", "## Example"} {
		require.Contains(t, s, "\n"+h+"\n")
	}
	for _, k := range []string{"`url`", "`url_file`", "`url_env`", "`ssl`", "`" + VarURL + "`", "`" + VarSSL + "`", "edgerelay_lifecycle_"} {
		require.Contains(t, s, k)
	}
}
