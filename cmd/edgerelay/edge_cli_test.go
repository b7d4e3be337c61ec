package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles/tlsfilestest"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/buildinfo"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/ilagent"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
)

// TestVersionFlag: ilagent's global --version and -V print the version and exit 0
// (issue 9 item 8), before a subcommand and after "daemon".
func TestVersionFlag(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-V"}, {"daemon", "--version"}, {"daemon", "-V"}} {
		code, out, errs := cli(t, args...)
		require.Equal(t, exitOK, code, "%v: %s", args, errs)
		require.Equal(t, "edgerelay "+buildinfo.Version+"\n", out, "%v", args)
	}
}

// edgeTypes are the adapter types the edge modes translate to.
var edgeTypes = map[string][]struct {
	dir adapters.Direction
	typ string
}{
	"http":   {{adapters.DirSource, "ilert_edge"}, {adapters.DirSink, "webhook"}},
	"kafka":  {{adapters.DirSource, "ilert_edge"}, {adapters.DirSink, "kafka"}},
	"mqtt":   {{adapters.DirSource, "ilert_edge"}, {adapters.DirSink, "mqtt"}},
	"script": {{adapters.DirSource, "ilert_edge"}, {adapters.DirSink, "script"}},
	"stdout": {{adapters.DirSource, "ilert_edge"}, {adapters.DirSink, "stdout"}},
}

// TestEdgeFromIlagentChecks: `config from-ilagent <edge flags>` prints a configuration
// that `config check` (daemon.Check) accepts, for every edge mode, with -p and -b.
// The YAML's structure is checked in package ilagent (TestEdgeYAML) whatever is
// compiled in; this full check runs for each mode whose adapter types are
// registered and is skipped, naming the missing types, for the others (while the
// ilert_edge source and the kafka, mqtt and script sinks are not merged), after
// checking that the refusal names the unknown type and exits 2.
func TestEdgeFromIlagentChecks(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "on-alert")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\ncat >/dev/null\n"), 0o755))
	ca := tlsfilestest.NewCA(t, "ca")
	leaf := ca.Issue(t, "client", false)
	caPEM, certPEM, keyPEM := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	tlsfilestest.WriteAtomic(t, caPEM, ca.PEM)
	tlsfilestest.WriteAtomic(t, certPEM, leaf.CertPEM)
	tlsfilestest.WriteAtomic(t, keyPEM, leaf.KeyPEM)
	const key = "iec1:from-ilagent-check-key"
	t.Setenv(ilagent.EnvEdgeConnectorKey, key)
	t.Setenv(ilagent.EnvEdgeHTTPAuthValue, "env-token-value")
	t.Setenv(ilagent.EnvAPIHost, "http://127.0.0.1:1")
	// -p binds nothing here: config check opens no port.
	common := []string{"config", "from-ilagent", "-f", filepath.Join(dir, "ilagent.db3"), "-p", "18977", "-b", "il1hbt-self"}
	tests := map[string][]string{
		"http":   {"--edge_mode", "http", "--edge_http_url", "http://127.0.0.1:9/hook", "--edge_http_method", "put", "--edge_http_auth_header", "X-API-Key"},
		"kafka":  {"--edge_mode", "kafka", "--kafka_brokers", "127.0.0.1:9092,127.0.0.2:9092", "--edge_topic", "ilert-alerts"},
		"mqtt":   {"--edge_mode", "mqtt", "-m", "127.0.0.1", "-q", "8883", "--mqtt_tls", "--mqtt_ca", caPEM, "--mqtt_client_cert", certPEM, "--mqtt_client_key", keyPEM, "--mqtt_username", "u", "--mqtt_password", "pw", "--mqtt_qos", "1", "--edge_topic", "site/alerts"},
		"script": {"--edge_mode", "script", "--edge_script", script},
		"stdout": {"--edge_mode", "stdout", "--edge_cluster_id", "prod", "--edge_instance_id", "node-1"},
	}
	for mode, flags := range tests {
		t.Run(mode, func(t *testing.T) {
			args := append(append([]string{}, common...), flags...)
			var missing []string
			for _, ty := range edgeTypes[mode] {
				if _, ok := adapters.Lookup(ty.dir, ty.typ); !ok {
					missing = append(missing, string(ty.dir)+" "+ty.typ)
				}
			}
			code, out, errs := cli(t, args...)
			if len(missing) > 0 {
				require.Equal(t, exitUsage, code, "stdout=%s stderr=%s", out, errs)
				require.Contains(t, errs, "is not a known")
				t.Skipf("full check skipped: %s not registered in this build", strings.Join(missing, ", "))
			}
			require.Equal(t, exitOK, code, "stderr=%s", errs)
			require.NotContains(t, out, key, "the connector key is named by key_env, never written")
			require.NotContains(t, out, "env-token-value")
			file := filepath.Join(t.TempDir(), "edge.yaml")
			require.NoError(t, os.WriteFile(file, []byte(out), 0o600))
			code, cout, cerrs := cli(t, "config", "check", "-c", file)
			require.Equal(t, exitOK, code, "config check: %s%s\n%s", cout, cerrs, out)
			cfg, err := config.Load(file)
			require.NoError(t, err)
			require.NoError(t, daemon.Check(cfg))
			require.Equal(t, "ilert_edge", cfg.Sources[0].Type)
			require.Equal(t, ilagent.EdgeSinkName(mode), cfg.Sinks[0].Name)
		})
	}
}

// TestReadmeEdgeExample: the README's edge connector example is what
// `config from-ilagent` prints for the command line shown above it.
func TestReadmeEdgeExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(readme), "<!-- edge-example: checked by cmd/edgerelay TestReadmeEdgeExample -->\n```yaml\n")
	require.True(t, ok, "the README has the edge example")
	block, _, ok := strings.Cut(after, "```\n")
	require.True(t, ok)
	env := map[string]string{ilagent.EnvEdgeConnectorKey: "iec1:readme", ilagent.EnvEdgeHTTPAuthValue: "token"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	parsed, err := ilagent.Parse(strings.Fields("daemon --edge_mode http --edge_http_url http://10.0.0.5:8080/alerts --edge_http_auth_header X-API-Key -p 8977"), lookup)
	require.NoError(t, err)
	y, err := ilagent.ToYAML(parsed.Global, parsed.Daemon, lookup)
	require.NoError(t, err)
	var body []string
	for _, l := range strings.SplitAfter(string(y), "\n") {
		if !strings.HasPrefix(l, "#") {
			body = append(body, l)
		}
	}
	require.Equal(t, strings.Join(body, ""), block)
}

// TestEdgeSecretsNotPrinted: a refused edge command line shows the configuration it
// built, with the auth value given as a flag and the connector key redacted; only
// `config from-ilagent` prints the flag's value, to the file it writes.
func TestEdgeSecretsNotPrinted(t *testing.T) {
	const key, value = "iec1:never-printed-key", "flag-auth-s3cret"
	t.Setenv(ilagent.EnvEdgeConnectorKey, key)
	args := []string{"--edge_mode", "http", "--edge_http_url", "ftp://10.0.0.5/alerts", "--edge_http_auth_header", "X-API-Key",
		"--edge_http_auth_value", value, "-f", filepath.Join(t.TempDir(), "a.db3")}
	for _, cmd := range [][]string{{"daemon"}, {"config", "from-ilagent"}} {
		code, out, errs := cli(t, append(cmd, args...)...)
		require.Equal(t, exitUsage, code, "%v: %s", cmd, errs)
		require.Contains(t, errs, "configuration built from the command line")
		require.Contains(t, errs, "auth_value: ***")
		for _, s := range []string{key, value} {
			require.NotContains(t, errs+out, s, "%v", cmd)
		}
	}
}
