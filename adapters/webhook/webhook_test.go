package webhook

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

func newSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg, testDeps())
	require.NoError(t, err)
	require.NoError(t, s.Connect(context.Background()))
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func event() *adapters.Event {
	return &adapters.Event{
		ID: adapters.NewID(), Kind: adapters.KindAlert, Key: "pump-7", Source: "plant-mqtt",
		Topic: "plant/pump/7", Payload: []byte(`{"summary":"pump 7 down"}`), Received: time.Now(),
	}
}

func TestMethodHeadersAndBody(t *testing.T) {
	p := newPeer(t)
	cfg := DefaultConfig()
	cfg.URL = p.URL() + "/alerts?x=1"
	cfg.Method = "put"
	cfg.ContentType = "application/vnd.alert+json"
	cfg.Headers = map[string]string{"X-Site": "plant-7", "x-shared": "from-config"}
	s := newSink(t, cfg)
	cfg.Headers = map[string]string{"User-Agent": "custom/1"}
	custom := newSink(t, cfg)
	require.NoError(t, custom.Send(context.Background(), event()))
	require.Equal(t, "custom/1", p.lastRequest(t).Header.Get("User-Agent"), "a static User-Agent wins")

	e := event()
	e.Attrs = map[string]string{
		"header.X-Alerta-Loop":        "gw-1",
		"header.x-shared":             "from-event",   // static headers win
		"header.Host":                 "evil.example", // reserved
		"header.X-Edgerelay-Event-Id": "forged",       // reserved
		"header.Authorization":        "forged",       // the auth header
		"header.Bad Name":             "x",            // not a token
		"header.X-Multiline":          "a\r\nInjected: yes",
		"mqtt.qos":                    "1", // not a header attribute
	}
	e.Topic = "plant/pump\n7"
	require.NoError(t, s.Send(context.Background(), e))

	r := p.lastRequest(t)
	require.Equal(t, http.MethodPut, r.Method)
	require.Equal(t, "/alerts", r.URL.Path)
	require.Equal(t, "x=1", r.URL.RawQuery)
	require.Equal(t, "application/vnd.alert+json", r.Header.Get("Content-Type"))
	require.Equal(t, "edgerelay/test", r.Header.Get("User-Agent"))
	require.Equal(t, "plant-7", r.Header.Get("X-Site"))
	require.Equal(t, "from-config", r.Header.Get("X-Shared"))
	require.Equal(t, "gw-1", r.Header.Get("X-Alerta-Loop"))
	require.Equal(t, "a  Injected: yes", r.Header.Get("X-Multiline"))
	require.Empty(t, r.Header.Get("Injected"))
	require.Empty(t, r.Header.Get("Authorization"))
	require.Empty(t, r.Header.Get("Mqtt.qos"))
	require.NotEqual(t, "evil.example", r.Host)
	require.Equal(t, e.ID, r.Header.Get(HeaderEventID))
	require.Equal(t, "pump-7", r.Header.Get(HeaderKey))
	require.Equal(t, "plant-mqtt", r.Header.Get(HeaderSource))
	require.Equal(t, "plant/pump 7", r.Header.Get(HeaderTopic))
	got := p.received()
	require.Equal(t, e.Payload, got[len(got)-1].Payload)

	e2 := event()
	e2.Key = ""
	require.NoError(t, s.Send(context.Background(), e2))
	_, hasKey := p.lastRequest(t).Header[HeaderKey]
	require.False(t, hasKey, "no key header for an event without a key")
}

func TestAuthValueSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(file, []byte("Bearer from-file\n"), 0o600))
	t.Setenv("WEBHOOK_TEST_TOKEN", "from-env")

	tests := []struct {
		name   string
		modify func(*Config)
		header string
		want   string
	}{
		{"literal", func(c *Config) { c.AuthValue = "Bearer literal" }, "Authorization", "Bearer literal"},
		{"file", func(c *Config) { c.AuthValueFile = file }, "Authorization", "Bearer from-file"},
		{"env with custom header", func(c *Config) { c.AuthHeader = "x-api-key"; c.AuthValueEnv = "WEBHOOK_TEST_TOKEN" }, "X-Api-Key", "from-env"},
		{"none", func(*Config) {}, "Authorization", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t)
			cfg := DefaultConfig()
			cfg.URL = p.URL()
			tc.modify(&cfg)
			s := newSink(t, cfg)
			require.NoError(t, s.Send(context.Background(), event()))
			require.Equal(t, tc.want, p.lastRequest(t).Header.Get(tc.header))
		})
	}
}

func TestURLUserinfoIsBasicAuth(t *testing.T) {
	p := newPeer(t)
	cfg := DefaultConfig()
	cfg.URL = "http://alice:pw-123@" + strings.TrimPrefix(p.URL(), "http://")
	s := newSink(t, cfg)
	require.NoError(t, s.Send(context.Background(), event()))
	user, pass, ok := p.lastRequest(t).BasicAuth()
	require.True(t, ok)
	require.Equal(t, "alice", user)
	require.Equal(t, "pw-123", pass)
}

func TestConnectFailsOnMissingAuthSource(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(*Config)
		wantErr string
	}{
		{"missing file", func(c *Config) { c.AuthValueFile = filepath.Join(t.TempDir(), "nope") }, "no such file"},
		{"unset env", func(c *Config) { c.AuthValueEnv = "WEBHOOK_TEST_UNSET_VARIABLE" }, "WEBHOOK_TEST_UNSET_VARIABLE is not set"},
		{"missing ca file", func(c *Config) { c.TLS.CAFile = filepath.Join(t.TempDir(), "ca.pem") }, "tls.ca_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.URL = "https://hooks.example.com/"
			tc.modify(&cfg)
			s, err := New(cfg, testDeps())
			require.NoError(t, err)
			err = s.Connect(context.Background())
			require.ErrorContains(t, err, tc.wantErr)
			err = s.Send(context.Background(), event())
			require.ErrorIs(t, err, adapters.ErrNotConnected)
			require.NoError(t, s.Close(context.Background()))
		})
	}
}

func TestStatusClassification(t *testing.T) {
	tests := []struct {
		code      int
		ok        bool
		permanent bool
	}{
		{200, true, false}, {201, true, false}, {202, true, false}, {204, true, false},
		{301, false, true}, {400, false, true}, {401, false, true}, {403, false, true},
		{404, false, true}, {413, false, true}, {422, false, true},
		{408, false, false}, {429, false, false}, {500, false, false},
		{502, false, false}, {503, false, false}, {504, false, false},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.code)
				_, _ = w.Write([]byte("answer body"))
			}))
			t.Cleanup(srv.Close)
			cfg := DefaultConfig()
			cfg.URL = srv.URL
			err := newSink(t, cfg).Send(context.Background(), event())
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.permanent, adapters.IsPermanent(err), "%v", err)
			require.Contains(t, err.Error(), "POST "+srv.URL)
			var se *httpc.StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.code, se.StatusCode)
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	tests := []struct {
		name     string
		code     int
		value    string
		min, max time.Duration
	}{
		{"429 seconds", 429, "7", 7 * time.Second, 7 * time.Second},
		{"503 http date", 503, time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), 60 * time.Second, 90 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t)
			cfg := DefaultConfig()
			cfg.URL = p.URL()
			s := newSink(t, cfg)
			p.fail(1, tc.code, http.Header{"Retry-After": {tc.value}})
			err := s.Send(context.Background(), event())
			require.Error(t, err)
			require.False(t, adapters.IsPermanent(err))
			d, ok := adapters.RetryDelay(err)
			require.True(t, ok, "Retry-After hint kept: %v", err)
			require.GreaterOrEqual(t, d, tc.min)
			require.LessOrEqual(t, d, tc.max)
		})
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	cfg := DefaultConfig()
	cfg.URL = srv.URL
	cfg.Timeout = 100 * time.Millisecond
	err := newSink(t, cfg).Send(context.Background(), event())
	require.Error(t, err)
	require.False(t, adapters.IsPermanent(err))
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "want a timeout, got %v", err)
}

func TestTLSWithCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	t.Run("trusted via ca_file", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.URL = srv.URL
		cfg.TLS.CAFile = ca
		require.NoError(t, newSink(t, cfg).Send(context.Background(), event()))
	})
	t.Run("server_name checked", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.URL = srv.URL
		cfg.TLS = httpc.TLSConfig{CAFile: ca, ServerName: "example.com"} // httptest's certificate names example.com
		require.NoError(t, newSink(t, cfg).Send(context.Background(), event()))
		cfg.TLS.ServerName = "other.example"
		err := newSink(t, cfg).Send(context.Background(), event())
		require.Error(t, err)
	})
	t.Run("unknown authority is retryable", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.URL = srv.URL
		err := newSink(t, cfg).Send(context.Background(), event())
		require.Error(t, err)
		require.False(t, adapters.IsPermanent(err))
		require.Contains(t, err.Error(), "certificate")
	})
	t.Run("insecure_skip_verify", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.URL = srv.URL
		cfg.TLS.InsecureSkipVerify = true
		require.NoError(t, newSink(t, cfg).Send(context.Background(), event()))
	})
}

func TestSendBeforeConnectAndAfterClose(t *testing.T) {
	p := newPeer(t)
	cfg := DefaultConfig()
	cfg.URL = p.URL()
	s, err := New(cfg, testDeps())
	require.NoError(t, err)
	require.ErrorIs(t, s.Send(context.Background(), event()), adapters.ErrNotConnected)
	require.NoError(t, s.Connect(context.Background()))
	require.NoError(t, s.Send(context.Background(), event()))
	require.NoError(t, s.Close(context.Background()))
	require.ErrorIs(t, s.Send(context.Background(), event()), adapters.ErrNotConnected)
}

func TestNoSecretInErrors(t *testing.T) {
	const token = "tok-0123456789abcdef"
	p := newPeer(t)
	hostPort := strings.TrimPrefix(p.URL(), "http://")

	// The peer echoes the Authorization header in its error body.
	cfg := DefaultConfig()
	cfg.URL = p.URL()
	cfg.AuthValue = "Bearer " + token
	s := newSink(t, cfg)
	p.fail(1, http.StatusUnauthorized, nil)
	err := s.Send(context.Background(), event())
	require.True(t, adapters.IsPermanent(err))
	require.Contains(t, err.Error(), "Authorization=***")
	require.NotContains(t, err.Error(), token)

	// A transport error names the URL, without its userinfo.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg = DefaultConfig()
	cfg.URL = "http://alice:" + token + "@" + closed + "/hook"
	err = newSink(t, cfg).Send(context.Background(), event())
	require.Error(t, err)
	require.NotContains(t, err.Error(), token)
	require.NotContains(t, err.Error(), "alice")
	require.Contains(t, err.Error(), closed+"/hook")

	// A token given as the URL's user name.
	cfg.URL = "http://" + token + "@" + hostPort + "/"
	p.fail(1, http.StatusForbidden, nil)
	err = newSink(t, cfg).Send(context.Background(), event())
	require.Error(t, err)
	require.NotContains(t, err.Error(), token)

	// Validation errors do not echo userinfo either.
	cfg.URL = "ftp://alice:" + token + "@host/"
	_, err = New(cfg, testDeps())
	require.Error(t, err)
	require.NotContains(t, err.Error(), token)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(*Config)
		wantErr []string // empty: valid
	}{
		{"defaults with url", func(*Config) {}, nil},
		{"put lower case", func(c *Config) { c.Method = "put" }, nil},
		{"zero values take defaults", func(c *Config) { *c = Config{URL: c.URL} }, nil},
		{"missing url", func(c *Config) { c.URL = "" }, []string{"url: required"}},
		{"bad scheme", func(c *Config) { c.URL = "ftp://x/" }, []string{`url: scheme must be http or https, not "ftp"`}},
		{"no host", func(c *Config) { c.URL = "http:///path" }, []string{"url: no host"}},
		{"bad method", func(c *Config) { c.Method = "GET" }, []string{"method: must be POST or PUT"}},
		{"two auth ways", func(c *Config) { c.AuthValue = "x"; c.AuthValueEnv = "Y" }, []string{"set at most one"}},
		{"bad auth header", func(c *Config) { c.AuthHeader = "X Token" }, []string{"auth_header"}},
		{"reserved header", func(c *Config) { c.Headers = map[string]string{"content-type": "text/plain"} }, []string{"headers: Content-Type is set by the sink"}},
		{"edgerelay header", func(c *Config) { c.Headers = map[string]string{"X-Edgerelay-Key": "k"} }, []string{"headers: X-Edgerelay-Key"}},
		{"auth in headers", func(c *Config) { c.Headers = map[string]string{"authorization": "Bearer x"} }, []string{"headers: Authorization is the auth header"}},
		{"header value with newline", func(c *Config) { c.Headers = map[string]string{"X-A": "a\nb"} }, []string{"control characters"}},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, []string{"timeout: must not be negative"}},
		{"max in flight too big", func(c *Config) { c.MaxInFlight = 1000 }, []string{"max_in_flight"}},
		{"cert without key", func(c *Config) { c.TLS.CertFile = "c.pem" }, []string{"tls.cert_file and tls.key_file"}},
		{"several at once", func(c *Config) { c.URL = ""; c.Method = "GET"; c.MaxInFlight = -1 },
			[]string{"url: required", "method:", "max_in_flight:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.URL = "https://hooks.example.com/x"
			tc.modify(&cfg)
			err := cfg.Validate()
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				_, err = New(cfg, testDeps())
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.wantErr {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestSampleThroughRegistry(t *testing.T) {
	f, ok := adapters.Lookup(adapters.DirSink, "webhook")
	require.True(t, ok, "webhook is registered")
	require.Equal(t, DefaultMaxInFlight, f.Info.MaxInFlight)
	require.Equal(t, sample, f.Sample)

	cfg := f.NewConfig()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(f.Sample)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(cfg))
	require.NoError(t, f.Validate(cfg))
	s, err := f.BuildSink(cfg, testDeps())
	require.NoError(t, err)
	lim, ok := s.(interface{ MaxInFlight() int })
	require.True(t, ok, "the sink exposes its configured MaxInFlight")
	require.Equal(t, 8, lim.MaxInFlight())
	require.NoError(t, s.Close(context.Background()))

	var c Config
	dec = yaml.NewDecoder(strings.NewReader("url: http://x/\nmax_in_flight: 3\nbogus: 1\n"))
	dec.KnownFields(true)
	require.Error(t, dec.Decode(&c), "unknown keys are rejected")
}

func TestREADMEListsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for _, h := range []string{"# webhook\n", "## Description\n", "## Configuration\n", "## Delivery semantics\n", "## Metrics\n", "## Example\n"} {
		require.Contains(t, string(readme), h)
	}
	conf := string(readme)[strings.Index(string(readme), "## Configuration"):]
	conf = conf[:strings.Index(conf, "\n## Delivery semantics")]
	keys := regexp.MustCompile("yaml:\"([a-z_]+)\"")
	for _, src := range []string{"config.go", "../internal/httpc/tls.go"} {
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		for _, m := range keys.FindAllStringSubmatch(string(b), -1) {
			require.Contains(t, conf, "`"+m[1]+"`", "README configuration lists %s", m[1])
		}
	}
}

func TestCloseClosesIdleConnections(t *testing.T) {
	states := make(chan http.ConnState, 16)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew || s == http.StateClosed {
			states <- s
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.URL = srv.URL
	s, err := New(cfg, testDeps())
	require.NoError(t, err)
	require.NoError(t, s.Connect(context.Background()))
	for range 3 {
		require.NoError(t, s.Send(context.Background(), event()))
	}
	require.Equal(t, http.StateNew, <-states, "one connection for every request")
	require.NoError(t, s.Close(context.Background()))
	select {
	case st := <-states:
		require.Equal(t, http.StateClosed, st)
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection is still open after Close")
	}
	// Every request was accepted before its Send returned: a second connection would
	// have left its StateNew here.
	require.Empty(t, states, "one connection for every request")
}

// TestStaticHeaderValuesAreSecrets: a static header's value is redacted everywhere,
// except for the standard headers that never carry a credential.
func TestStaticHeaderValuesAreSecrets(t *testing.T) {
	c := DefaultConfig()
	c.URL = "http://127.0.0.1:9/hook"
	c.Headers = map[string]string{
		"X-Api-Key": "hdr-key-5f1c9e",
		"accept":    "application/vnd.plant+json",
		"X-Site":    "plant-7-north",
	}
	require.NoError(t, c.Validate())
	for _, tc := range []struct{ value, want string }{
		{"hdr-key-5f1c9e", secret.Redacted},
		{"plant-7-north", secret.Redacted},
		{"application/vnd.plant+json", "application/vnd.plant+json"},
	} {
		require.Equal(t, tc.want, secret.Redact(tc.value), tc.value)
	}
}
