package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// refTestConfig stands for an adapter's configuration: a program to run (as the
// script sink's command), a secret's file and variable, TLS files, and a list of
// programs.
type refTestConfig struct {
	Command   string   `yaml:"command" check:"executable"`
	Hooks     []string `yaml:"hooks" check:"executable"`
	TokenFile string   `yaml:"token_file"`
	TokenEnv  string   `yaml:"token_env"`
	TLS       struct {
		CAFile  string `yaml:"ca_file"`
		KeyFile string `yaml:"key_file"`
	} `yaml:"tls"`
	Plain string `yaml:"plain"`
}

// TestCheckRefs: checkValues reports each reference that is not usable with its line
// and key, and leaves usable ones and other strings alone.
func TestCheckRefs(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755))
	noExec := filepath.Join(dir, "data.sh")
	require.NoError(t, os.WriteFile(noExec, []byte("#!/bin/sh\n"), 0o644))
	keyPEM := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(keyPEM, []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), 0o600))
	t.Setenv("REFTEST_TOKEN", "x")
	check := func(doc string) []string {
		var n yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(doc), &n))
		return checkValues(&n, reflect.TypeOf(refTestConfig{}), "sinks[0]")
	}
	require.Empty(t, check("command: "+script+"\nhooks: [sh]\ntoken_env: REFTEST_TOKEN\ntls: { key_file: "+keyPEM+" }\nplain: /nonexistent\n"))
	require.Equal(t, []string{
		"line 1: sinks[0].command: " + noExec + " cannot be run: permission denied",
		"line 2: sinks[0].hooks[1]: " + filepath.Join(dir, "nope") + " cannot be run: stat " + filepath.Join(dir, "nope") + ": no such file or directory",
		"line 3: sinks[0].token_file: open " + filepath.Join(dir, "gone") + ": no such file or directory",
		"line 4: sinks[0].token_env: environment variable REFTEST_UNSET_VARIABLE is not set",
		"line 5: sinks[0].tls.ca_file: " + keyPEM + " holds no PEM certificate",
	}, check("command: "+noExec+"\nhooks: [sh, "+filepath.Join(dir, "nope")+"]\ntoken_file: "+filepath.Join(dir, "gone")+
		"\ntoken_env: REFTEST_UNSET_VARIABLE\ntls: { ca_file: "+keyPEM+" }\n"))
}
