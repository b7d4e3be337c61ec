package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// refTestConfig stands for an adapter's configuration: a secret's file and
// variable, TLS files, other strings.
type refTestConfig struct {
	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`
	TLS       struct {
		CAFile  string `yaml:"ca_file"`
		KeyFile string `yaml:"key_file"`
	} `yaml:"tls"`
	Plain string `yaml:"plain"`
	// KeyFile outside tls is not a TLS key (the ilert_edge source's connector key).
	KeyFile string `yaml:"key_file"`
}

// TestRefCheck: checkValues reports each reference that is not usable with its line
// and key, and leaves usable ones and other strings alone.
func TestRefCheck(t *testing.T) {
	dir := t.TempDir()
	keyPEM := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(keyPEM, []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), 0o600))
	token := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(token, []byte("x\n"), 0o600))
	t.Setenv("REFTEST_TOKEN", "x")
	t.Setenv("REFTEST_BLANK", " \n")
	check := func(doc string) []string {
		var n yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(doc), &n))
		return checkValues(&n, reflect.TypeOf(refTestConfig{}), "sinks[0]")
	}
	require.Empty(t, check("token_file: "+token+"\ntoken_env: REFTEST_TOKEN\ntls: { key_file: "+keyPEM+" }\nplain: /nonexistent_env\nkey_file: "+token+"\n"))
	require.Equal(t, []string{
		"line 1: sinks[0].token_file: open " + filepath.Join(dir, "gone") + ": no such file or directory",
		"line 2: sinks[0].token_env: environment variable REFTEST_UNSET_VARIABLE is not set",
		"line 3: sinks[0].tls.ca_file: " + keyPEM + " holds no PEM certificate",
		"line 3: sinks[0].tls.key_file: " + token + " holds no PEM private key",
	}, check("token_file: "+filepath.Join(dir, "gone")+"\ntoken_env: REFTEST_UNSET_VARIABLE\ntls: { ca_file: "+keyPEM+", key_file: "+token+" }\n"))
	require.Equal(t, []string{"line 1: sinks[0].token_env: environment variable REFTEST_BLANK is empty"}, check("token_env: REFTEST_BLANK\n"))
}

// TestEnvSecretRegisteredAtLoad: the value of a variable a *_env key names is a known
// secret as soon as the configuration is loaded, before any adapter connects (a
// script sink built before the webhook sink resolves its auth_value_env would
// otherwise hand the variable to its children, and log their output unredacted).
func TestEnvSecretRegisteredAtLoad(t *testing.T) {
	const token = "EnvTok-registered-at-load-7c1e"
	t.Setenv("REFCHECK_TOKEN_TEST", token)
	require.Equal(t, token, secret.Redact(token), "the value must not be known before the load")
	require.NoError(t, refCheck("sinks[0].auth_value_env", "REFCHECK_TOKEN_TEST"))
	require.NotContains(t, secret.Redact("x "+token+" y"), token, "a *_env value is a secret from the load on")
}
