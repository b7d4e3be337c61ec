package googlepubsub

import (
	"context"
	"encoding/base64"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup is one publisher's surroundings: its env, its endpoint, its HTTP client.
type setup struct {
	f        *fakeGoogle
	env      map[string]string
	endpoint string
	client   *http.Client
}

// newSetup gives a service account's key file pointing at the fake's token
// endpoint, an empty $HOME and no metadata server.
func newSetup(t *testing.T, f *fakeGoogle) *setup {
	good, _ := testKeys(t)
	return &setup{f: f, endpoint: f.srv.URL, client: f.srv.Client(), env: map[string]string{
		EnvProject:      testProject,
		EnvCredentials:  serviceAccountFile(t, good, false, f.tokenURL()),
		EnvHome:         t.TempDir(),
		EnvMetadataHost: lifecycletest.FreeAddr(t),
	}}
}

func (s *setup) build(t *testing.T) lifecycle.Publisher {
	t.Helper()
	cfg := NewConfig()
	cfg.Endpoint = s.endpoint
	env := lifecycle.MapEnv(maps.Clone(s.env))
	require.NoError(t, cfg.ApplyEnv(env))
	require.NoError(t, cfg.Validate())
	p, err := cfg.Build(lifecycle.Deps{
		Log: slog.New(slog.DiscardHandler), Clock: s.f.clock, Version: "test", Env: env, HTTP: s.client,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func promoted(m lifecycle.Message) map[string]string {
	return map[string]string{"type": m.Type, "corename": m.CoreName}
}

func TestRegistered(t *testing.T) {
	s, ok := lifecycle.Lookup(Name)
	require.True(t, ok)
	require.Contains(t, s.Variables, EnvProject)
	require.Contains(t, s.Variables, EnvTopicIDPrefix)
	require.Contains(t, s.Variables, EnvCredentials)
	require.Contains(t, s.Variables, EnvEmulatorHost)
	_, ok = s.NewConfig().(*Config)
	require.True(t, ok)
}

// TestConformance runs the suite against the fake with a service account's key:
// every token is a verified JWT exchange, every publish carries it.
func TestConformance(t *testing.T) {
	f := newFake(t)
	s := newSetup(t, f)
	s.env[EnvTopicIDPrefix] = "edge-prod-"
	lifecycletest.Run(t, lifecycletest.Harness{
		New:       s.build,
		Subscribe: func(*testing.T) <-chan lifecycletest.Received { return f.subscribe() },
		Where:     func(m lifecycle.Message) string { return "edge-prod-" + lifecycle.DomainTopic(m.Type) },
		Promoted:  promoted,
		Unreachable: func(t *testing.T) lifecycle.Publisher {
			u := newSetup(t, f)
			u.endpoint = "https://" + lifecycletest.FreeAddr(t)
			return u.build(t)
		},
	})
	require.Positive(t, f.tokenCount())
}

// TestConformanceEmulator runs the suite in emulator mode: plain HTTP, no
// Authorization header (the fake refuses one), the adapter's own HTTP client.
func TestConformanceEmulator(t *testing.T) {
	f := newFake(t)
	emu := func(t *testing.T, host string) lifecycle.Publisher {
		s := newSetup(t, f)
		s.client = nil
		s.env[EnvEmulatorHost] = host
		s.env[EnvCredentials] = filepath.Join(t.TempDir(), "not-there.json") // ignored
		return s.build(t)
	}
	lifecycletest.Run(t, lifecycletest.Harness{
		New:         func(t *testing.T) lifecycle.Publisher { return emu(t, f.plainHost()) },
		Subscribe:   func(*testing.T) <-chan lifecycletest.Received { return f.subscribe() },
		Where:       func(m lifecycle.Message) string { return lifecycle.DomainTopic(m.Type) },
		Promoted:    promoted,
		Unreachable: func(t *testing.T) lifecycle.Publisher { return emu(t, lifecycletest.FreeAddr(t)) },
	})
	require.Zero(t, f.tokenCount(), "the emulator needs no token")
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.authSeen)
	for _, a := range f.authSeen {
		require.Empty(t, a, "an Authorization header sent to the emulator")
	}
}

func publishOne(t *testing.T, p lifecycle.Publisher, ch <-chan lifecycletest.Received, typ string) lifecycletest.Received {
	t.Helper()
	m := lifecycletest.Message(typ, "id-"+typ, "site-a")
	require.NoError(t, p.Publish(t.Context(), m))
	select {
	case r := <-ch:
		require.JSONEq(t, string(m.Body), string(r.Body))
		require.Equal(t, promoted(m), r.Attrs)
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the message did not arrive")
		return lifecycletest.Received{}
	}
}

// TestServiceAccountKeyForms: a PKCS#8 and a PKCS#1 key both sign a JWT the
// token endpoint verifies.
func TestServiceAccountKeyForms(t *testing.T) {
	good, _ := testKeys(t)
	for _, pkcs1 := range []bool{false, true} {
		t.Run(map[bool]string{false: "PKCS8", true: "PKCS1"}[pkcs1], func(t *testing.T) {
			f := newFake(t)
			s := newSetup(t, f)
			s.env[EnvCredentials] = serviceAccountFile(t, good, pkcs1, f.tokenURL())
			ch := f.subscribe()
			p := s.build(t)
			require.NoError(t, p.Connect(t.Context()))
			publishOne(t, p, ch, "edge.node.started")
			require.Equal(t, []string{"jwt-bearer"}, f.grants)
		})
	}
}

// TestTokenCachedAndRefreshed: one token serves until five minutes before it
// expires; then the next publish gets a new one (the fake checks its iat).
func TestTokenCachedAndRefreshed(t *testing.T) {
	f := newFake(t)
	s := newSetup(t, f)
	ch := f.subscribe()
	p := s.build(t)
	require.NoError(t, p.Connect(t.Context()))
	require.Equal(t, 1, f.tokenCount())
	publishOne(t, p, ch, "edge.node.started")
	require.NoError(t, p.Connect(t.Context()), "Connect again with a good token")
	f.clock.Advance(54 * time.Minute)
	publishOne(t, p, ch, "edge.node.status_changed")
	require.Equal(t, 1, f.tokenCount(), "the token is still good for 6 minutes")
	f.clock.Advance(2 * time.Minute)
	publishOne(t, p, ch, "edge.node.status_changed")
	require.Equal(t, 2, f.tokenCount(), "4 minutes left: refreshed")
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Equal(t, "Bearer ya29.fake-access-token-2-jwt-bearer", f.authSeen[len(f.authSeen)-1])
}

// TestAuthorizedUser: the refresh-token grant, from GOOGLE_APPLICATION_CREDENTIALS
// and from the gcloud well-known file under $HOME.
func TestAuthorizedUser(t *testing.T) {
	for _, viaHome := range []bool{false, true} {
		t.Run(map[bool]string{false: "GOOGLE_APPLICATION_CREDENTIALS", true: "WellKnownFile"}[viaHome], func(t *testing.T) {
			f := newFake(t)
			s := newSetup(t, f)
			home := t.TempDir()
			file := authorizedUserFile(t, filepath.Join(home, ".config", "gcloud"), f.tokenURL())
			s.env[EnvHome] = home
			if viaHome {
				delete(s.env, EnvCredentials)
			} else {
				s.env[EnvCredentials] = file
			}
			ch := f.subscribe()
			p := s.build(t)
			require.NoError(t, p.Connect(t.Context()))
			publishOne(t, p, ch, "edge.command_execution.created")
			require.Equal(t, []string{"refresh_token"}, f.grants)
		})
	}
}

// TestAuthorizedUserRefused: a revoked refresh token is a clear error without the
// client secret or the refresh token.
func TestAuthorizedUserRefused(t *testing.T) {
	f := newFake(t)
	s := newSetup(t, f)
	dir := t.TempDir()
	file := authorizedUserFile(t, dir, f.tokenURL())
	b := strings.Replace(string(mustRead(t, file)), testRefresh, "1//revoked-refresh-token", 1)
	writeFile(t, file, b)
	s.env[EnvCredentials] = file
	err := s.build(t).Connect(t.Context())
	require.ErrorIs(t, err, ErrCredentialsRefused)
	require.ErrorContains(t, err, "invalid_grant")
	require.NotContains(t, err.Error(), "1//revoked-refresh-token")
	require.NotContains(t, err.Error(), testClientSecret)
}

// TestMetadataServer: without a key file, the token comes from the metadata
// server (with Metadata-Flavor: Google, or the fake refuses).
func TestMetadataServer(t *testing.T) {
	f := newFake(t)
	s := newSetup(t, f)
	delete(s.env, EnvCredentials)
	s.env[EnvMetadataHost] = f.plainHost()
	ch := f.subscribe()
	p := s.build(t)
	require.NoError(t, p.Connect(t.Context()))
	publishOne(t, p, ch, "edge.node.stopping")
	require.Equal(t, []string{"metadata"}, f.grants)
}

// TestNoCredentials: nothing in the chain answers: Connect says what it tried.
func TestNoCredentials(t *testing.T) {
	f := newFake(t)
	s := newSetup(t, f)
	delete(s.env, EnvCredentials)
	err := s.build(t).Connect(t.Context())
	require.Error(t, err)
	require.ErrorContains(t, err, "no Google credentials")
	require.ErrorContains(t, err, EnvCredentials)
	require.ErrorContains(t, err, "metadata server "+s.env[EnvMetadataHost])
}

// TestWrongKey: a key Google does not know: the token endpoint answers 400
// invalid_grant; the error says so and holds no part of the key or the assertion.
func TestWrongKey(t *testing.T) {
	f := newFake(t)
	s := newSetup(t, f)
	_, wrong := testKeys(t)
	s.env[EnvCredentials] = serviceAccountFile(t, wrong, false, f.tokenURL())
	err := s.build(t).Connect(t.Context())
	require.ErrorIs(t, err, ErrCredentialsRefused)
	require.ErrorContains(t, err, "credentials refused")
	require.ErrorContains(t, err, "invalid_grant")
	require.ErrorContains(t, err, "Invalid JWT Signature")
	pemKey := keyPEM(t, wrong, false)
	require.NotContains(t, err.Error(), pemKey)
	for _, line := range strings.Split(pemKey, "\n")[1:5] {
		require.NotContains(t, err.Error(), line)
	}
	require.NotContains(t, err.Error(), "eyJ", "a JWT in the error")
	require.Zero(t, f.tokenCount())
}

// TestPermissionDenied: a 403 from Pub/Sub is "credentials refused", without the
// bearer token.
func TestPermissionDenied(t *testing.T) {
	f := newFake(t)
	s := newSetup(t, f)
	p := s.build(t)
	require.NoError(t, p.Connect(t.Context()))
	f.setDeny(true)
	err := p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-1", "c"))
	require.ErrorIs(t, err, ErrCredentialsRefused)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusForbidden, ae.Code)
	require.Equal(t, "PERMISSION_DENIED", ae.Status)
	require.ErrorContains(t, err, `topic "edge-nodes-events"`)
	require.ErrorContains(t, err, "credentials refused")
	require.NotContains(t, err.Error(), "ya29.")
}

// TestRevokedToken: a 401 drops the token; the next Connect gets a new one.
func TestRevokedToken(t *testing.T) {
	f := newFake(t)
	s := newSetup(t, f)
	ch := f.subscribe()
	p := s.build(t)
	require.NoError(t, p.Connect(t.Context()))
	f.revoke()
	err := p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-1", "c"))
	require.ErrorIs(t, err, ErrCredentialsRefused)
	require.ErrorContains(t, err, "UNAUTHENTICATED")
	require.NotContains(t, err.Error(), "ya29.")
	require.NoError(t, p.Connect(t.Context()))
	require.Equal(t, 2, f.tokenCount())
	publishOne(t, p, ch, "edge.node.started")
}

// TestUnknownTopic: a 404 names the topic and Google's message.
func TestUnknownTopic(t *testing.T) {
	f := newFake(t)
	s := newSetup(t, f)
	s.env[EnvProject] = "other-project"
	p := s.build(t)
	require.NoError(t, p.Connect(t.Context()))
	err := p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-1", "c"))
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "NOT_FOUND", ae.Status)
	require.NotErrorIs(t, err, ErrCredentialsRefused)
}

// TestEndpointDownAtStart: with Google unreachable, Connect fails at once with the
// address; once it is back, Connect and Publish work.
func TestEndpointDownAtStart(t *testing.T) {
	f := newFake(t)
	proxy := lifecycletest.NewProxy(t, f.srv.Listener.Addr().String())
	s := newSetup(t, f)
	good, _ := testKeys(t)
	s.env[EnvCredentials] = serviceAccountFile(t, good, false, "https://"+proxy.Addr+"/token")
	f.tokenURLOverride("https://" + proxy.Addr + "/token")
	s.endpoint = "https://" + proxy.Addr
	ch := f.subscribe()
	p := s.build(t)

	proxy.Down()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := p.Connect(ctx)
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "Connect waited for the whole context")
	require.ErrorContains(t, err, proxy.Addr)
	require.ErrorContains(t, err, "connection refused")

	proxy.Up()
	require.NoError(t, p.Connect(t.Context()))
	publishOne(t, p, ch, "edge.node.started")
}

// TestEndpointRestart: connections cut mid-run: Publish fails, Connect again,
// Publish works.
func TestEndpointRestart(t *testing.T) {
	f := newFake(t)
	proxy := lifecycletest.NewProxy(t, f.srv.Listener.Addr().String())
	s := newSetup(t, f)
	s.endpoint = "https://" + proxy.Addr
	ch := f.subscribe()
	p := s.build(t)
	require.NoError(t, p.Connect(t.Context()))
	publishOne(t, p, ch, "edge.node.started")

	proxy.Down()
	require.Error(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.status_changed", "id-2", "c")))
	require.Error(t, p.Connect(t.Context()), "still down")
	proxy.Up()
	require.NoError(t, p.Connect(t.Context()))
	publishOne(t, p, ch, "edge.node.status_changed")
}

// TestPublishBody checks the request byte for byte where the contract fixes it.
func TestPublishBody(t *testing.T) {
	m := lifecycletest.Message("edge.alert.relayed", "id-9", "plant 7/é")
	body := `{"messages":[{"data":"` + base64.StdEncoding.EncodeToString(m.Body) +
		`","attributes":{"corename":"plant 7/é","type":"edge.alert.relayed"}}]}`
	got := captureBody(t, m)
	require.JSONEq(t, body, got)
}

// TestPublishReturnsWhenContextEnds: a Pub/Sub that never answers holds Publish
// only until its context ends.
func TestPublishReturnsWhenContextEnds(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			arrived <- struct{}{}
			<-release
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the handler end
	cfg := NewConfig()
	cfg.Project, cfg.EmulatorHost = testProject, strings.TrimPrefix(srv.URL, "http://")
	p, err := cfg.Build(lifecycle.Deps{Log: slog.New(slog.DiscardHandler), Clock: clocktest.NewFake(time.Now()), Env: lifecycle.MapEnv(nil)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	require.NoError(t, p.Connect(t.Context()))

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Publish(ctx, lifecycletest.Message("edge.node.started", "id-1", "c")) }()
	<-arrived
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, `publish to topic "edge-nodes-events"`)
	case <-time.After(20 * time.Second):
		t.Fatal("Publish did not return after its context ended")
	}
}
