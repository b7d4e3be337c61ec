package config

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// envRefRE finds the ${VAR} references of a documented configuration.
var envRefRE = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)

// TestFederationDocConfigs loads every complete configuration of docs/federation.md
// (the three topologies) as `config check` would, so the documentation cannot drift
// from the keys the adapters accept. Files and variables it names are taken as
// present.
func TestFederationDocConfigs(t *testing.T) {
	old, oldPEM, oldEnv := fileCheck, pemCheck, envCheck
	t.Cleanup(func() { fileCheck, pemCheck, envCheck = old, oldPEM, oldEnv })
	fileCheck = func(string) error { return nil }
	pemCheck = func(string, string) error { return nil }
	envCheck = func(string) error { return nil }

	doc, err := os.ReadFile("../../docs/federation.md")
	require.NoError(t, err)
	n := 0
	for _, m := range yamlBlockRE.FindAllStringSubmatch(string(doc), -1) {
		for _, ref := range envRefRE.FindAllStringSubmatch(m[1], -1) {
			t.Setenv(ref[1], "doc-"+ref[1])
		}
		_, err := Parse([]byte(m[1]), "federation.md")
		require.NoError(t, err, "a configuration of docs/federation.md does not load:\n%s", m[1])
		n++
	}
	require.GreaterOrEqual(t, n, 4, "docs/federation.md should hold the three topologies' files")
}
