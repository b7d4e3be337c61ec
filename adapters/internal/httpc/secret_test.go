package httpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters"
)

func TestSecretRedacts(t *testing.T) {
	s := Secret("hunter2")
	for _, got := range []string{
		s.String(),
		fmt.Sprint(s),
		fmt.Sprintf("%v %s %q %d %x %#v %+v", s, s, s, s, s, s, s),
		fmt.Sprintf("%v", struct{ S Secret }{s}),
		fmt.Sprintf("%+v", &struct{ S Secret }{s}),
	} {
		require.NotContains(t, got, "hunter2")
		require.Contains(t, got, Redacted)
	}
	require.Equal(t, "hunter2", s.Reveal())
	require.Equal(t, "", Secret("").String(), "an unset secret shows as empty")

	type cfg struct {
		Token Secret `yaml:"token" json:"token"`
	}
	y, err := yaml.Marshal(cfg{Token: s})
	require.NoError(t, err)
	require.Equal(t, "token: '***'\n", string(y))
	j, err := json.Marshal(cfg{Token: s})
	require.NoError(t, err)
	require.JSONEq(t, `{"token":"***"}`, string(j))

	var back cfg
	require.NoError(t, yaml.Unmarshal([]byte("token: hunter2\n"), &back))
	require.Equal(t, "hunter2", back.Token.Reveal(), "a secret decodes from YAML as a plain string")
}

func TestResolveSecret(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(good, []byte("  s3cret\n"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	t.Setenv("HTTPC_TEST_TOKEN", "from-env")
	t.Setenv("HTTPC_TEST_EMPTY", "")

	tests := []struct {
		name             string
		value, file, env string
		want             string
		wantErr          string
	}{
		{name: "none", want: ""},
		{name: "literal", value: "lit", want: "lit"},
		{name: "file trimmed", file: good, want: "s3cret"},
		{name: "env", env: "HTTPC_TEST_TOKEN", want: "from-env"},
		{name: "two ways", value: "lit", env: "HTTPC_TEST_TOKEN", wantErr: "more than one way"},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "read secret file"},
		{name: "empty file", file: empty, wantErr: "is empty"},
		{name: "unset env", env: "HTTPC_TEST_UNSET_VARIABLE", wantErr: "HTTPC_TEST_UNSET_VARIABLE is not set"},
		{name: "empty env", env: "HTTPC_TEST_EMPTY", wantErr: "HTTPC_TEST_EMPTY is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveSecret(tc.value, tc.file, tc.env)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), "s3cret")
				require.NotContains(t, err.Error(), "from-env")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Reveal())
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"https://example.com/hook?x=1", "https://example.com/hook?x=1"},
		{"https://alice:hunter2@example.com/hook", "https://example.com/hook"},
		{"https://alice@example.com:8443/", "https://example.com:8443/"},
		{"http://a:b@[::1]:80/p", "http://[::1]:80/p"},
		{"http://a b:hunter2@%zz", "<unparsable url>"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, RedactURL(tc.in))
		})
	}
}

func TestScrub(t *testing.T) {
	require.NoError(t, Scrub(nil, "x"))
	base := errors.New("plain")
	require.Same(t, base, Scrub(base, "hunter2", ""), "untouched when no secret occurs")

	perm := adapters.Permanent(fmt.Errorf("server said: bad token hunter2"))
	got := Scrub(perm, "", "hunter2")
	require.Equal(t, "server said: bad token ***", got.Error())
	require.True(t, adapters.IsPermanent(got), "classification survives")

	retry := adapters.RetryAfter(errors.New("hunter2 throttled"), 7)
	got = Scrub(retry, "hunter2")
	d, ok := adapters.RetryDelay(got)
	require.True(t, ok)
	require.EqualValues(t, 7, d)
	require.NotContains(t, got.Error(), "hunter2")
}
