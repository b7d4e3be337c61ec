package redis

import (
	"bufio"
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
	s, ok := lifecycle.Lookup("redis")
	require.True(t, ok)
	require.Equal(t, []string{EnvURL, EnvSSL}, s.Variables)
	c, ok := s.NewConfig().(*Config)
	require.True(t, ok)
	require.Equal(t, DefaultURL, c.URL)
	require.Equal(t, DefaultTimeout, c.Timeout)
	require.NoError(t, c.Validate(), "the defaults are valid")
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pwFile, []byte("file-secret-pw\n"), 0o600))
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, []byte("not a certificate"), 0o600))

	for _, tc := range []struct {
		name string
		yaml string            // events.redis
		env  map[string]string // wins over yaml
		// want is what the resolved target must be (only the fields set), or wantErr
		// the substrings every error must have.
		want    target
		tls     bool
		wantErr []string
		secret  string // must not appear in the error
	}{
		{name: "defaults", want: target{addr: "127.0.0.1:6379", timeout: DefaultTimeout}},
		{name: "env url", env: map[string]string{EnvURL: "redis://cache.local"},
			want: target{addr: "cache.local:6379"}},
		{name: "env url with password and db", env: map[string]string{EnvURL: "redis://:pw-1234@cache:6380/4"},
			want: target{addr: "cache:6380", password: "pw-1234", db: 4}},
		{name: "user and password", env: map[string]string{EnvURL: "redis://alice:pw-1234@cache"},
			want: target{addr: "cache:6379", user: "alice", password: "pw-1234"}},
		{name: "ipv6", env: map[string]string{EnvURL: "redis://[::1]:7000/0"}, want: target{addr: "[::1]:7000"}},
		{name: "rediss", env: map[string]string{EnvURL: "rediss://cache.example"}, tls: true,
			want: target{addr: "cache.example:6379"}},
		{name: "ssl variable", env: map[string]string{EnvURL: "redis://cache", EnvSSL: "yes"}, tls: true,
			want: target{addr: "cache:6379"}},
		{name: "ssl yaml, env says off", yaml: "ssl: true", env: map[string]string{EnvSSL: "false"},
			want: target{addr: "127.0.0.1:6379"}},
		{name: "yaml url and timeout", yaml: "url: redis://yaml-host:1234/2\ntimeout: 3s",
			want: target{addr: "yaml-host:1234", db: 2, timeout: 3 * time.Second}},
		{name: "env url wins over yaml", yaml: "url: redis://yaml-host", env: map[string]string{EnvURL: "redis://env-host"},
			want: target{addr: "env-host:6379"}},
		{name: "yaml password", yaml: "url: redis://h\npassword: yaml-pw-1", want: target{addr: "h:6379", password: "yaml-pw-1"}},
		{name: "yaml password file with url user", yaml: "url: redis://bob@h\npassword_file: " + pwFile,
			want: target{addr: "h:6379", user: "bob", password: "file-secret-pw"}},
		{name: "env url password wins over yaml password", yaml: "password: yaml-pw-1",
			env: map[string]string{EnvURL: "redis://:env-pw-1@h"}, want: target{addr: "h:6379", password: "env-pw-1"}},

		{name: "bad ssl", env: map[string]string{EnvSSL: "maybe"}, wantErr: []string{EnvSSL, `"maybe"`}},
		{name: "empty url", env: map[string]string{EnvURL: ""}, wantErr: []string{EnvURL, keyURL, "empty"}},
		{name: "bad scheme", env: map[string]string{EnvURL: "http://:pw-9876@h"}, wantErr: []string{EnvURL, keyURL, `"http"`}, secret: "pw-9876"},
		{name: "no scheme", env: map[string]string{EnvURL: "cache:6379"}, wantErr: []string{EnvURL, keyURL, "scheme"}},
		{name: "no host", env: map[string]string{EnvURL: "redis://:pw-9876@/1"}, wantErr: []string{EnvURL, "no host"}, secret: "pw-9876"},
		{name: "unparsable", env: map[string]string{EnvURL: "redis://:pw-9876@h:po rt"}, wantErr: []string{EnvURL, "invalid"}, secret: "pw-9876"},
		{name: "bad port", env: map[string]string{EnvURL: "redis://h:70000"}, wantErr: []string{EnvURL, "port"}},
		{name: "bad db", env: map[string]string{EnvURL: "redis://:pw-9876@h/zero"}, wantErr: []string{EnvURL, keyURL, `"zero"`}, secret: "pw-9876"},
		{name: "negative db", env: map[string]string{EnvURL: "redis://h/-1"}, wantErr: []string{EnvURL, "database"}},
		{name: "query", env: map[string]string{EnvURL: "redis://:pw-9876@h?db=2"}, wantErr: []string{EnvURL, "query"}, secret: "pw-9876"},
		{name: "user without password", env: map[string]string{EnvURL: "redis://alice@h"}, wantErr: []string{EnvURL, `"alice"`, "no password"}},
		{name: "yaml url password and password key", yaml: "url: redis://:pw-9876@h\npassword: other-pw-1",
			wantErr: []string{keyURL, keyPassword, "one place"}, secret: "pw-9876"},
		{name: "two password keys", yaml: "password: pw-9876\npassword_file: " + pwFile, wantErr: []string{keyPassword, "only one"}, secret: "pw-9876"},
		{name: "password env unset", yaml: "password_env: TEST_REDIS_NOT_SET_ANYWHERE", wantErr: []string{keyPasswordEnv, "TEST_REDIS_NOT_SET_ANYWHERE"}},
		{name: "missing password file", yaml: "password_file: " + filepath.Join(dir, "nope"), wantErr: []string{keyPasswordFile}},
		{name: "ca file without tls", yaml: "ca_file: " + caFile, wantErr: []string{keyCAFile, "needs TLS", EnvSSL}},
		{name: "ca file not pem", yaml: "ca_file: " + caFile + "\nssl: true", wantErr: []string{keyCAFile, "no PEM certificate"}},
		{name: "negative timeout", yaml: "timeout: -1s", wantErr: []string{keyTimeout, "negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			if tc.yaml != "" {
				dec := yaml.NewDecoder(strings.NewReader(tc.yaml))
				dec.KnownFields(true)
				require.NoError(t, dec.Decode(c))
			}
			err := c.ApplyEnv(lifecycle.MapEnv(tc.env))
			if err == nil {
				err = c.Validate()
			}
			if tc.wantErr != nil {
				require.Error(t, err)
				for _, w := range tc.wantErr {
					require.Contains(t, err.Error(), w)
				}
				if tc.secret != "" {
					require.NotContains(t, err.Error(), tc.secret)
				}
				return
			}
			require.NoError(t, err)
			got, err := c.resolve()
			require.NoError(t, err)
			require.Equal(t, tc.want.addr, got.addr)
			require.Equal(t, tc.want.user, got.user)
			require.Equal(t, tc.want.password, got.password)
			require.Equal(t, tc.want.db, got.db)
			if tc.want.timeout != 0 {
				require.Equal(t, tc.want.timeout, got.timeout)
			}
			require.Equal(t, tc.tls, got.tls != nil, "TLS")
			require.NotContains(t, got.display, "@", "the display URL has no userinfo")
			if got.password != "" {
				require.Contains(t, c.Secrets(), got.password)
			}
		})
	}
}

// TestAllErrorsAtOnce: Validate reports every problem, joined.
func TestAllErrorsAtOnce(t *testing.T) {
	c := NewConfig()
	c.URL = "ftp://h"
	c.Timeout = -time.Second
	c.Password, c.PasswordEnv = "x-pw-1", "Y"
	err := c.Validate()
	require.Error(t, err)
	for _, w := range []string{EnvURL, keyTimeout, keyPassword} {
		require.Contains(t, err.Error(), w)
	}
}

// TestBuildDoesNotDial: Build on an address nothing listens on succeeds.
func TestBuildDoesNotDial(t *testing.T) {
	p := byURL(t, "redis://127.0.0.1:1")
	require.NoError(t, p.Close())
}

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want reply
		err  string
	}{
		{in: "+OK\r\n", want: reply{kind: '+', str: "OK"}},
		{in: "-ERR no\r\n", want: reply{kind: '-', str: "ERR no"}},
		{in: ":42\r\n", want: reply{kind: ':', n: 42}},
		{in: ":-1\r\n", want: reply{kind: ':', n: -1}},
		{in: "$3\r\na\r\n\r\n", want: reply{kind: '$', str: "a\r\n"}},
		{in: "$0\r\n\r\n", want: reply{kind: '$'}},
		{in: "$-1\r\n", want: reply{kind: '$', null: true}},
		{in: "\r\n", err: "empty line"},
		{in: "$4097\r\n", err: "4097 bytes"},
		{in: "$x\r\n", err: "bulk length"},
		{in: ":\r\n", err: "integer"},
		{in: ":99999999999999999999\r\n", err: "integer"},
		{in: "*1\r\n:1\r\n", err: "array"},
		{in: "%1\r\n", err: "unknown type"},
		{in: "+" + strings.Repeat("x", maxLine) + "\r\n", err: "longer than"},
		{in: "+OK\n", err: "CRLF"},
		{in: "+OK", err: "EOF"},
		{in: "$5\r\nab", err: "EOF"},
	} {
		got, err := readReply(bufio.NewReaderSize(strings.NewReader(tc.in), maxLine))
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		require.Equal(t, tc.want, got, "%q", tc.in)
	}
}

func TestAppendCommand(t *testing.T) {
	got := appendCommand(nil, []byte("PUBLISH"), []byte("edge.node.started"), []byte("{}\r\n"))
	require.Equal(t, "*3\r\n$7\r\nPUBLISH\r\n$17\r\nedge.node.started\r\n$4\r\n{}\r\n\r\n", string(got))
}

// TestSample: sample.yaml decodes strictly and is valid.
func TestSample(t *testing.T) {
	f, err := os.Open("sample.yaml")
	require.NoError(t, err)
	defer f.Close()
	c := NewConfig()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(c))
	require.NoError(t, c.Validate())
}
