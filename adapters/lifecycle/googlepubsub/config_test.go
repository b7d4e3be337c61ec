package googlepubsub

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
)

func TestConfigEnvAndValidate(t *testing.T) {
	good, _ := testKeys(t)
	saFile := serviceAccountFile(t, good, false, GoogleTokenURL)
	pemKey := keyPEM(t, good, false)
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "broken.json")
	writeFile(t, notJSON, `{"type":"service_account","private_key":"`+strings.ReplaceAll(pemKey, "\n", `\n`)+`",`)
	badKey := filepath.Join(dir, "badkey.json")
	writeFile(t, badKey, `{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nbm90LWEta2V5LXNlY3JldC1zdHVmZg==\n-----END PRIVATE KEY-----\n"}`)
	external := filepath.Join(dir, "external.json")
	writeFile(t, external, `{"type":"external_account","audience":"//iam.googleapis.com/x"}`)
	noSecret := filepath.Join(dir, "user.json")
	writeFile(t, noSecret, `{"type":"authorized_user","client_id":"x","refresh_token":"1//tok-en-value"}`)

	cases := []struct {
		name string
		yaml func(*Config)
		env  map[string]string
		want func(t *testing.T, c *Config)
		errs []string // each must appear in the error; none means valid
		hide []string // must not appear in the error
	}{
		{
			name: "minimal",
			env:  map[string]string{EnvProject: "my-project-123"},
			want: func(t *testing.T, c *Config) {
				require.Equal(t, "my-project-123", c.Project)
				require.Equal(t, DefaultEndpoint, c.Endpoint)
				require.Equal(t, DefaultTimeout, c.Timeout)
				require.Equal(t, "edge-commands-events", c.TopicID("edge.command_execution.failed"))
			},
		},
		{
			name: "the environment wins over YAML",
			yaml: func(c *Config) {
				c.Project, c.TopicIDPrefix, c.CredentialsFile = "yaml-project", "yaml-", "/nonexistent.json"
			},
			env: map[string]string{EnvProject: "env-project", EnvTopicIDPrefix: "edge-prod-", EnvCredentials: saFile},
			want: func(t *testing.T, c *Config) {
				require.Equal(t, "env-project", c.Project)
				require.Equal(t, "edge-prod-edge-nodes-events", c.TopicID("edge.node.started"))
				require.Equal(t, saFile, c.CredentialsFile)
			},
		},
		{
			name: "an empty variable clears the YAML prefix",
			yaml: func(c *Config) { c.Project, c.TopicIDPrefix = "p-1", "yaml-" },
			env:  map[string]string{EnvTopicIDPrefix: ""},
			want: func(t *testing.T, c *Config) { require.Empty(t, c.TopicIDPrefix) },
		},
		{
			name: "emulator",
			env:  map[string]string{EnvProject: "test-project", EnvEmulatorHost: "localhost:8085", EnvCredentials: "/nonexistent.json"},
			want: func(t *testing.T, c *Config) { require.Equal(t, "localhost:8085", c.EmulatorHost) },
		},
		{name: "no project", env: map[string]string{}, errs: []string{EnvProject + " (events.google_pubsub.project): required"}},
		{name: "blank project", env: map[string]string{EnvProject: "  "}, errs: []string{EnvProject, "required"}},
		{name: "bad project", env: map[string]string{EnvProject: "projects/My Project"}, errs: []string{EnvProject + " (events.google_pubsub.project)", "is not a project id"}},
		{name: "domain-scoped project", env: map[string]string{EnvProject: "example.com:my-project"}},
		{name: "prefix with a slash", env: map[string]string{EnvProject: "p-1", EnvTopicIDPrefix: "a/b-"}, errs: []string{EnvTopicIDPrefix + " (events.google_pubsub.topic_id_prefix)", "not allowed"}},
		{name: "prefix starting with a digit", env: map[string]string{EnvProject: "p-1", EnvTopicIDPrefix: "1-"}, errs: []string{EnvTopicIDPrefix, "start with a letter"}},
		{name: "prefix goog", env: map[string]string{EnvProject: "p-1", EnvTopicIDPrefix: "Goog-"}, errs: []string{EnvTopicIDPrefix, `"goog"`}},
		{name: "prefix too long", env: map[string]string{EnvProject: "p-1", EnvTopicIDPrefix: strings.Repeat("a", 240)}, errs: []string{EnvTopicIDPrefix, "255"}},
		{name: "emulator with a scheme", env: map[string]string{EnvProject: "p-1", EnvEmulatorHost: "http://localhost:8085"}, errs: []string{EnvEmulatorHost + " (events.google_pubsub.emulator_host)", "without a scheme"}},
		{name: "emulator without a port", env: map[string]string{EnvProject: "p-1", EnvEmulatorHost: "localhost"}, errs: []string{EnvEmulatorHost, "host:port"}},
		{
			name: "credentials file missing",
			env:  map[string]string{EnvProject: "p-1", EnvCredentials: filepath.Join(dir, "missing.json")},
			errs: []string{EnvCredentials + " (events.google_pubsub.credentials_file)", "missing.json"},
		},
		{
			name: "credentials file not JSON",
			env:  map[string]string{EnvProject: "p-1", EnvCredentials: notJSON},
			errs: []string{EnvCredentials, "is not JSON"},
			hide: []string{"PRIVATE KEY", strings.Split(pemKey, "\n")[1]},
		},
		{
			name: "private key not a key",
			env:  map[string]string{EnvProject: "p-1", EnvCredentials: badKey},
			errs: []string{EnvCredentials, "private_key"},
			hide: []string{"bm90LWEta2V5LXNlY3JldC1zdHVmZg"},
		},
		{name: "unsupported type", env: map[string]string{EnvProject: "p-1", EnvCredentials: external}, errs: []string{EnvCredentials, `"external_account" are not supported`}},
		{
			name: "authorized user without client_secret",
			env:  map[string]string{EnvProject: "p-1", EnvCredentials: noSecret},
			errs: []string{EnvCredentials, `without "client_secret"`},
			hide: []string{"1//tok-en-value"},
		},
		{
			name: "http endpoint off loopback",
			yaml: func(c *Config) { c.Project, c.Endpoint = "p-1", "http://pubsub.example.org" },
			errs: []string{"events.google_pubsub.endpoint", "loopback"},
		},
		{
			name: "endpoint with user info",
			yaml: func(c *Config) { c.Project, c.Endpoint = "p-1", "https://user:hunter2-secret@pubsub.example.org" },
			errs: []string{"events.google_pubsub.endpoint", "no user info"},
			hide: []string{"hunter2-secret"},
		},
		{name: "regional endpoint", yaml: func(c *Config) { c.Project, c.Endpoint = "p-1", "https://europe-west1-pubsub.googleapis.com" }},
		// The reviewer's finding: "0s is not between 0 and 5m".
		{name: "zero timeout", yaml: func(c *Config) { c.Project, c.Timeout = "p-1", 0 },
			errs: []string{"events.google_pubsub.timeout: 0s is not a positive duration: give one up to 5m"}, hide: []string{"between", "(events.google_pubsub.timeout)"}},
		{name: "long timeout", yaml: func(c *Config) { c.Project, c.Timeout = "p-1", 6*time.Minute },
			errs: []string{"events.google_pubsub.timeout: 6m0s is over 5m"}},
		// The reviewer's finding: tok@host was accepted, sent as Basic auth, printed.
		{name: "emulator with user info", env: map[string]string{EnvProject: "p-1", EnvEmulatorHost: "emu-s3cret-tok@localhost:8085"},
			errs: []string{EnvEmulatorHost + " (events.google_pubsub.emulator_host): \"***@localhost:8085\" holds user info"}, hide: []string{"emu-s3cret-tok"}},
		{name: "emulator with a path", env: map[string]string{EnvProject: "p-1", EnvEmulatorHost: "localhost:8085/v1"},
			errs: []string{EnvEmulatorHost, "without a path"}},
		{name: "metadata host with a scheme", env: map[string]string{EnvProject: "p-1", EnvMetadataHost: "http://169.254.169.254"},
			errs: []string{EnvMetadataHost + ": ", "without a scheme"}},
		{name: "metadata host with user info", env: map[string]string{EnvProject: "p-1", EnvMetadataHost: "md-s3cret@169.254.169.254"},
			errs: []string{EnvMetadataHost + ": \"***@169.254.169.254\" holds user info"}, hide: []string{"md-s3cret"}},
		{name: "metadata host with a path", env: map[string]string{EnvProject: "p-1", EnvMetadataHost: "metadata.google.internal/computeMetadata"},
			errs: []string{EnvMetadataHost, "without a path"}},
		{name: "metadata host without a port", env: map[string]string{EnvProject: "p-1", EnvMetadataHost: "metadata.google.internal"}},
		{name: "metadata host:port", env: map[string]string{EnvProject: "p-1", EnvMetadataHost: "127.0.0.1:8080"}},
		{name: "token_uri in clear", env: map[string]string{EnvProject: "p-1", EnvCredentials: serviceAccountFile(t, good, false, "http://oauth2.example.net/token")},
			errs: []string{EnvCredentials, "token_uri", "http is allowed to a loopback address only"}},
		{name: "token_uri in clear to loopback", env: map[string]string{EnvProject: "p-1", EnvCredentials: serviceAccountFile(t, good, false, "http://127.0.0.1:9/token")}},
		{
			name: "every problem at once",
			env:  map[string]string{EnvTopicIDPrefix: "9", EnvEmulatorHost: "x"},
			errs: []string{EnvProject, EnvTopicIDPrefix, EnvEmulatorHost},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			if tc.yaml != nil {
				tc.yaml(c)
			}
			require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(tc.env)))
			err := c.Validate()
			if len(tc.errs) == 0 {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				for _, s := range tc.errs {
					require.ErrorContains(t, err, s)
				}
				for _, s := range tc.hide {
					require.NotContains(t, err.Error(), s)
				}
				_, berr := c.Build(lifecycle.Deps{Env: lifecycle.MapEnv(nil)})
				require.Error(t, berr, "Build refuses what Validate refuses")
			}
			if tc.want != nil {
				tc.want(t, c)
			}
		})
	}
}

// TestConfigYAML: the block decodes strictly with its snake_case keys.
func TestConfigYAML(t *testing.T) {
	src := `
project: my-project-123
topic_id_prefix: edge-prod-
credentials_file: /etc/gcp/sa.json
emulator_host: localhost:8085
endpoint: https://europe-west1-pubsub.googleapis.com
timeout: 15s
`
	c := NewConfig()
	dec := yaml.NewDecoder(bytes.NewBufferString(src))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(c))
	require.Equal(t, &Config{
		Project: "my-project-123", TopicIDPrefix: "edge-prod-", CredentialsFile: "/etc/gcp/sa.json",
		EmulatorHost: "localhost:8085", Endpoint: "https://europe-west1-pubsub.googleapis.com", Timeout: 15 * time.Second,
	}, c)

	dec = yaml.NewDecoder(bytes.NewBufferString("projekt: x\n"))
	dec.KnownFields(true)
	require.Error(t, dec.Decode(NewConfig()))
}

// TestSecrets: the key, the client secret and the refresh token of the file.
func TestSecrets(t *testing.T) {
	good, _ := testKeys(t)
	c := NewConfig()
	c.Project, c.CredentialsFile = "p-1", serviceAccountFile(t, good, false, GoogleTokenURL)
	require.Equal(t, []string{keyPEM(t, good, false)}, c.Secrets())

	c.CredentialsFile = authorizedUserFile(t, t.TempDir(), GoogleTokenURL)
	require.ElementsMatch(t, []string{testClientSecret, testRefresh}, c.Secrets())

	c.EmulatorHost = "localhost:8085"
	require.Empty(t, c.Secrets(), "the emulator uses no credentials")
}
