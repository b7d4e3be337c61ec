package kafka

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
)

func TestRegistered(t *testing.T) {
	s, ok := lifecycle.Lookup("kafka")
	require.True(t, ok)
	require.Equal(t, "kafka", s.Name)
	require.ElementsMatch(t, []string{
		"EVENT_BROKER_KAFKA_URLS", "EVENT_BROKER_KAFKA_USERNAME", "EVENT_BROKER_KAFKA_PASSWORD",
		"EVENT_BROKER_KAFKA_SASL_MECHANISM", "EVENT_BROKER_KAFKA_SSL",
	}, s.Variables)
	c, ok := s.NewConfig().(*Config)
	require.True(t, ok)
	require.Equal(t, MechanismPlain, c.SASLMechanism)
	require.Equal(t, DefaultTimeout, c.Timeout)
}

// decode decodes an events.kafka block strictly over the defaults, as the core does.
func decode(t *testing.T, y string) *Config {
	t.Helper()
	c := NewConfig()
	if y == "" {
		return c
	}
	d := yaml.NewDecoder(strings.NewReader(y))
	d.KnownFields(true)
	require.NoError(t, d.Decode(c))
	return c
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pwFile, []byte("file-s3cret-pw\n"), 0o600))
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, []byte("not a certificate"), 0o600))

	type want struct {
		urls     []string
		user     string
		mech     string
		ssl      bool
		secrets  []string
		envErr   string   // ApplyEnv's error names this
		problems []string // Validate's error contains each
		absent   []string // Validate's error contains none
	}
	for _, tc := range []struct {
		name string
		yaml string
		env  map[string]string
		want want
	}{
		{name: "env only", env: map[string]string{VarURLs: " k1:9092, k2:9093 ,"},
			want: want{urls: []string{"k1:9092", "k2:9093"}, mech: MechanismPlain}},
		{name: "yaml only", yaml: "urls: [k1:9092]\nusername: edge\npassword: yaml-s3cret\nsasl_mechanism: scram_sha_256\nssl: true\ntimeout: 3s\n",
			want: want{urls: []string{"k1:9092"}, user: "edge", mech: MechanismSCRAMSHA256, ssl: true, secrets: []string{"yaml-s3cret"}}},
		{name: "env wins", yaml: "urls: [yaml:9092]\nusername: y\npassword: yaml-s3cret\nssl: true\n",
			env:  map[string]string{VarURLs: "env:9092", VarUsername: "e", VarPassword: "env-s3cret", VarSSL: "false", VarSASLMechanism: "SCRAM-SHA-512"},
			want: want{urls: []string{"env:9092"}, user: "e", mech: MechanismSCRAMSHA512, secrets: []string{"env-s3cret"}}},
		{name: "password_file", yaml: "urls: [k:9092]\nusername: edge\npassword_file: " + pwFile + "\n",
			want: want{urls: []string{"k:9092"}, user: "edge", mech: MechanismPlain, secrets: []string{"file-s3cret-pw"}}},
		{name: "env password wins over password_file", yaml: "urls: [k:9092]\nusername: edge\npassword_file: /nonexistent\n",
			env:  map[string]string{VarPassword: "env-s3cret"},
			want: want{urls: []string{"k:9092"}, user: "edge", mech: MechanismPlain, secrets: []string{"env-s3cret"}}},
		{name: "password_env", yaml: "urls: [k:9092]\nusername: edge\npassword_env: EDGERELAY_TEST_KAFKA_PW\n",
			want: want{urls: []string{"k:9092"}, user: "edge", mech: MechanismPlain, secrets: []string{"envvar-s3cret"}}},
		{name: "no urls", want: want{mech: MechanismPlain, problems: []string{"EVENT_BROKER_KAFKA_URLS (events.kafka.urls): at least one"}}},
		{name: "scheme", env: map[string]string{VarURLs: "kafka://k:9092"},
			want: want{urls: []string{"kafka://k:9092"}, mech: MechanismPlain, problems: []string{"EVENT_BROKER_KAFKA_URLS (events.kafka.urls)", "has a scheme"}}},
		{name: "scheme with userinfo", env: map[string]string{VarURLs: "kafka://edge:url-s3cret@k:9092"},
			want: want{urls: []string{"kafka://edge:url-s3cret@k:9092"}, mech: MechanismPlain, problems: []string{"EVENT_BROKER_KAFKA_URLS (events.kafka.urls): \"***@k:9092\" has a scheme"}}},
		{name: "userinfo", env: map[string]string{VarURLs: "edge:url-s3cret@k:9092"},
			want: want{urls: []string{"edge:url-s3cret@k:9092"}, mech: MechanismPlain, problems: []string{"EVENT_BROKER_KAFKA_URLS (events.kafka.urls): \"***@k:9092\" holds credentials"}}},
		{name: "no port", env: map[string]string{VarURLs: "k"},
			want: want{urls: []string{"k"}, mech: MechanismPlain, problems: []string{"EVENT_BROKER_KAFKA_URLS (events.kafka.urls)", "not host:port"}}},
		{name: "bad port", env: map[string]string{VarURLs: "k:70000,:9092"},
			want: want{urls: []string{"k:70000", ":9092"}, mech: MechanismPlain, problems: []string{"EVENT_BROKER_KAFKA_URLS (events.kafka.urls): \"k:70000\": port", "has no host"}}},
		{name: "password without username", env: map[string]string{VarURLs: "k:9092", VarPassword: "lonely-s3cret"},
			want: want{urls: []string{"k:9092"}, mech: MechanismPlain, secrets: []string{"lonely-s3cret"},
				problems: []string{"EVENT_BROKER_KAFKA_PASSWORD (events.kafka.password): set without EVENT_BROKER_KAFKA_USERNAME"}}},
		{name: "username without password", env: map[string]string{VarURLs: "k:9092", VarUsername: "edge"},
			want: want{urls: []string{"k:9092"}, user: "edge", mech: MechanismPlain,
				problems: []string{"EVENT_BROKER_KAFKA_PASSWORD (events.kafka.password): required when EVENT_BROKER_KAFKA_USERNAME"}}},
		{name: "unknown mechanism", env: map[string]string{VarURLs: "k:9092", VarSASLMechanism: "gssapi"},
			want: want{urls: []string{"k:9092"}, mech: "gssapi",
				problems: []string{"EVENT_BROKER_KAFKA_SASL_MECHANISM (events.kafka.sasl_mechanism): \"gssapi\" is not plain, scram_sha_256 or scram_sha_512"}}},
		{name: "bad ssl", env: map[string]string{VarURLs: "k:9092", VarSSL: "maybe"},
			want: want{urls: []string{"k:9092"}, mech: MechanismPlain, envErr: VarSSL}},
		{name: "ca_file without ssl", yaml: "urls: [k:9092]\nca_file: " + caFile + "\n",
			want: want{urls: []string{"k:9092"}, mech: MechanismPlain, problems: []string{"EVENT_BROKER_KAFKA_SSL (events.kafka.ca_file): ca_file is set but SSL is off"}}},
		{name: "ca_file not a CA", yaml: "urls: [k:9092]\nssl: true\nca_file: " + caFile + "\n",
			want: want{urls: []string{"k:9092"}, mech: MechanismPlain, ssl: true, problems: []string{"events.kafka.ca_file: ", caFile}, absent: []string{VarSSL}}},
		// The reviewer's finding: a ca_file that cannot be read was reported under
		// EVENT_BROKER_KAFKA_SSL, a password_env or password_file under
		// EVENT_BROKER_KAFKA_PASSWORD (events.kafka.password).
		{name: "ca_file missing", yaml: "urls: [k:9092]\nssl: true\nca_file: " + filepath.Join(dir, "absent.pem") + "\n",
			want: want{urls: []string{"k:9092"}, mech: MechanismPlain, ssl: true,
				problems: []string{"events.kafka.ca_file: ", "absent.pem"}, absent: []string{VarSSL}}},
		{name: "password_file missing", yaml: "urls: [k:9092]\nusername: edge\npassword_file: " + filepath.Join(dir, "absent-pw") + "\n",
			want: want{urls: []string{"k:9092"}, user: "edge", mech: MechanismPlain,
				problems: []string{"events.kafka.password_file: read secret file"}, absent: []string{"events.kafka.password:", "(events.kafka.password)"}}},
		{name: "password_env unset", yaml: "urls: [k:9092]\nusername: edge\npassword_env: EDGERELAY_TEST_KAFKA_UNSET\n",
			want: want{urls: []string{"k:9092"}, user: "edge", mech: MechanismPlain,
				problems: []string{"events.kafka.password_env: environment variable EDGERELAY_TEST_KAFKA_UNSET is not set"}, absent: []string{"events.kafka.password:", "(events.kafka.password)"}}},
		{name: "password and password_file", yaml: "urls: [k:9092]\nusername: edge\npassword: both-s3cret\npassword_file: " + pwFile + "\n",
			want: want{urls: []string{"k:9092"}, user: "edge", mech: MechanismPlain,
				problems: []string{"events.kafka.password, events.kafka.password_file: secret given more than one way"}}},
		{name: "negative timeout", yaml: "urls: [k:9092]\ntimeout: -1s\n",
			want: want{urls: []string{"k:9092"}, mech: MechanismPlain, problems: []string{"events.kafka.timeout: -1s is outside"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("EDGERELAY_TEST_KAFKA_PW", "envvar-s3cret")
			c := decode(t, tc.yaml)
			err := c.ApplyEnv(lifecycle.MapEnv(tc.env))
			if tc.want.envErr != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.want.envErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want.urls, c.URLs)
			require.Equal(t, tc.want.user, c.Username)
			require.Equal(t, tc.want.mech, c.mechanism())
			require.Equal(t, tc.want.ssl, c.SSL)
			err = c.Validate()
			if len(tc.want.problems) == 0 {
				require.NoError(t, err)
				require.Equal(t, tc.want.secrets, c.Secrets())
				p, err := c.Build(lifecycle.Deps{})
				require.NoError(t, err)
				require.NoError(t, p.Close())
				return
			}
			require.Error(t, err)
			for _, s := range tc.want.problems {
				require.Contains(t, err.Error(), s)
			}
			for _, s := range tc.want.absent {
				require.NotContains(t, err.Error(), s)
			}
			for _, s := range []string{"lonely-s3cret", "both-s3cret", "file-s3cret-pw", "env-s3cret", "yaml-s3cret", "url-s3cret"} {
				require.NotContains(t, err.Error(), s)
			}
			_, err = c.Build(lifecycle.Deps{})
			require.Error(t, err, "Build refuses what Validate refuses")
		})
	}
}

func TestConfigStrict(t *testing.T) {
	d := yaml.NewDecoder(strings.NewReader("urls: [k:9092]\nbrokers: [k:9092]\n"))
	d.KnownFields(true)
	require.Error(t, d.Decode(NewConfig()), "an unknown key")
}

func TestConfigPasswordNotShown(t *testing.T) {
	c := decode(t, "urls: [k:9092]\nusername: edge\npassword: shown-s3cret\ntimeout: 2s\n")
	out, err := yaml.Marshal(c)
	require.NoError(t, err)
	require.NotContains(t, string(out), "shown-s3cret")
	require.Equal(t, 2*time.Second, c.Timeout)
}
