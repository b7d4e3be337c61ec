package awssns

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testRegion = "eu-west-1"
	testKeyID  = "AKIAEDGERELAYTEST01"
	testSecret = "s3cr3t/KeyForTheFakeSNS+x9ZZZZZZZZZZZZZZ"
)

// newTestClient is an HTTP client whose idle connections are closed when the test
// ends, so that goleak sees no keep-alive goroutines.
func newTestClient(t testing.TB) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// env is a test's environment: HOME points at an empty directory and instance
// metadata is off unless a test turns it on, so nothing of the machine leaks in.
func env(t testing.TB, kv ...string) map[string]string {
	m := map[string]string{"HOME": t.TempDir(), EnvIMDSDisabled: "true"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func deps(t testing.TB, e map[string]string) lifecycle.Deps {
	return lifecycle.Deps{
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock:   clock.Real,
		Version: "test",
		Env:     lifecycle.MapEnv(e),
		HTTP:    newTestClient(t),
	}
}

// build makes a publisher for endpoint from the environment e, the way the core
// does: defaults, ApplyEnv, Validate, Build.
func build(t testing.TB, endpoint string, e map[string]string, d *lifecycle.Deps) lifecycle.Publisher {
	t.Helper()
	spec, ok := lifecycle.Lookup(Name)
	require.True(t, ok)
	cfg := spec.NewConfig()
	all := map[string]string{EnvRegion: testRegion, EnvTopicARNPrefix: fakePrefix(testRegion), EnvEndpointSNS: endpoint}
	for k, v := range e {
		all[k] = v
	}
	require.NoError(t, cfg.ApplyEnv(lifecycle.MapEnv(all)))
	require.NoError(t, cfg.Validate())
	dd := deps(t, e)
	if d != nil {
		dd = *d
	}
	p, err := cfg.Build(dd)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func staticEnv(t testing.TB) map[string]string {
	return env(t, EnvAccessKeyID, testKeyID, EnvSecretAccessKey, testSecret)
}

func TestConformance(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	f.addKey(testKeyID, fakeKey{secret: testSecret})
	lifecycletest.Run(t, lifecycletest.Harness{
		New:       func(t *testing.T) lifecycle.Publisher { return build(t, f.srv.URL, staticEnv(t), nil) },
		Subscribe: func(t *testing.T) <-chan lifecycletest.Received { return f.subscribe() },
		Where:     func(m lifecycle.Message) string { return fakePrefix(testRegion) + lifecycle.DomainTopic(m.Type) },
		Promoted: func(m lifecycle.Message) map[string]string {
			return map[string]string{"type": m.Type, "corename": m.CoreName}
		},
		Unreachable: func(t *testing.T) lifecycle.Publisher {
			return build(t, "http://"+lifecycletest.FreeAddr(t)+"/", staticEnv(t), nil)
		},
	})
}

func publishOne(t *testing.T, p lifecycle.Publisher, id string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	return p.Publish(ctx, lifecycletest.Message("edge.node.started", id, "plant-7"))
}

func TestSessionTokenIsSent(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	f.addKey("ASIATEMP", fakeKey{secret: testSecret, token: "tok/en+session=="})
	ch := f.subscribe()
	p := build(t, f.srv.URL, env(t, EnvAccessKeyID, "ASIATEMP", EnvSecretAccessKey, testSecret, EnvSessionToken, "tok/en+session=="), nil)
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, publishOne(t, p, "s-1"))
	r := <-ch
	require.Equal(t, fakePrefix(testRegion)+lifecycle.TopicNodes, r.Where)
}

func TestEndpointDownAtStart(t *testing.T) {
	addr := lifecycletest.FreeAddr(t)
	p := build(t, "http://"+addr+"/", staticEnv(t), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := p.Connect(ctx)
	require.Error(t, err)
	require.Contains(t, err.Error(), "GetTopicAttributes on "+fakePrefix(testRegion)+"edge-nodes-events")
	require.Contains(t, err.Error(), "connection refused")
	require.NoError(t, ctx.Err(), "Connect failed fast")

	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	f := newFakeSNS(t, testRegion, l)
	f.addKey(testKeyID, fakeKey{secret: testSecret})
	require.NoError(t, p.Connect(ctx), "Connect once the endpoint is up")
	require.NoError(t, publishOne(t, p, "d-1"))
}

func TestEndpointRestartedMidRun(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	f.addKey(testKeyID, fakeKey{secret: testSecret})
	ch := f.subscribe()
	proxy := lifecycletest.NewProxy(t, f.srv.Listener.Addr().String())
	p := build(t, "http://"+proxy.Addr+"/", staticEnv(t), nil)
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, publishOne(t, p, "r-1"))
	<-ch

	proxy.Down()
	err := publishOne(t, p, "r-2")
	require.Error(t, err, "Publish while the endpoint is away")
	require.Error(t, p.Connect(t.Context()), "Connect while the endpoint is away")

	proxy.Up()
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, publishOne(t, p, "r-2"))
	r := <-ch
	require.Contains(t, string(r.Body), `"r-2"`)
}

func TestWrongSecretKey(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	f.addKey(testKeyID, fakeKey{secret: testSecret})
	const wrong = "wrongSecretKeyValue/abcdefghijklmnopqrstu"
	p := build(t, f.srv.URL, env(t, EnvAccessKeyID, testKeyID, EnvSecretAccessKey, wrong), nil)
	err := p.Connect(t.Context())
	require.Error(t, err)
	for _, e := range []error{err, publishOne(t, p, "w-1")} {
		require.Error(t, e)
		var ae *APIError
		require.True(t, errors.As(e, &ae), "%v", e)
		require.Equal(t, 403, ae.Status)
		require.Equal(t, "SignatureDoesNotMatch", ae.Code)
		require.True(t, ae.IsAuth())
		require.Contains(t, e.Error(), "AWS rejected the credentials from the environment, access key id "+testKeyID)
		require.NotContains(t, e.Error(), wrong)
		require.NotContains(t, e.Error(), testSecret)
	}
}

func TestUnknownKeyAndSessionTokenNotShown(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	const tok = "FwoGZXIvYXdzEXAMPLESESSIONTOKENVALUE"
	p := build(t, f.srv.URL, env(t, EnvAccessKeyID, "ASIAUNKNOWN", EnvSecretAccessKey, testSecret, EnvSessionToken, tok), nil)
	err := p.Connect(t.Context())
	require.Error(t, err)
	require.Contains(t, err.Error(), "InvalidClientTokenId")
	require.NotContains(t, err.Error(), tok)
	require.NotContains(t, err.Error(), testSecret)
}

func TestConnectVerify(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	f.addKey("AKIAPUBLISHONLY", fakeKey{secret: testSecret, denied: true})
	f.addKey(testKeyID, fakeKey{secret: testSecret})

	t.Run("PublishOnlyPolicyIsFine", func(t *testing.T) {
		p := build(t, f.srv.URL, env(t, EnvAccessKeyID, "AKIAPUBLISHONLY", EnvSecretAccessKey, testSecret), nil)
		require.NoError(t, p.Connect(t.Context()))
		require.NoError(t, publishOne(t, p, "v-1"))
	})
	t.Run("MissingTopic", func(t *testing.T) {
		e := staticEnv(t)
		e[EnvTopicARNPrefix] = fakePrefix(testRegion) + "prod-"
		p := build(t, f.srv.URL, e, nil)
		err := p.Connect(t.Context())
		require.Error(t, err)
		require.Contains(t, err.Error(), "NotFound")
		require.Contains(t, err.Error(), fakePrefix(testRegion)+"prod-edge-nodes-events")
		require.Contains(t, err.Error(), EnvTopicARNPrefix)
	})
	t.Run("Off", func(t *testing.T) {
		spec, _ := lifecycle.Lookup(Name)
		cfg := spec.NewConfig().(*Config)
		cfg.VerifyOnConnect = false
		e := staticEnv(t)
		require.NoError(t, cfg.ApplyEnv(lifecycle.MapEnv(map[string]string{
			EnvRegion: testRegion, EnvTopicARNPrefix: fakePrefix(testRegion), EnvEndpointSNS: f.srv.URL,
		})))
		p, err := cfg.Build(deps(t, e))
		require.NoError(t, err)
		defer p.Close()
		before := f.requestCount()
		require.NoError(t, p.Connect(t.Context()))
		require.Equal(t, before, f.requestCount(), "no request on Connect")
	})
}

func (f *fakeSNS) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func TestPublishAfterCloseAndCancel(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	f.addKey(testKeyID, fakeKey{secret: testSecret})
	p := build(t, f.srv.URL, staticEnv(t), nil)
	require.NoError(t, p.Connect(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "c", "c")), context.Canceled)
	require.NoError(t, p.Close())
	require.ErrorIs(t, publishOne(t, p, "x"), ErrClosed)
	require.ErrorIs(t, p.Connect(t.Context()), ErrClosed)
}

// TestHangingEndpointHonoursContext: an endpoint that accepts and never answers
// does not hold Publish past its context.
func TestHangingEndpointHonoursContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	var conns []net.Conn
	go func() { // exits when l is closed
		for {
			c, err := l.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	p := build(t, "http://"+l.Addr().String()+"/", staticEnv(t), nil)
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() { res <- p.Publish(ctx, lifecycletest.Message("edge.node.started", "h", "c")) }()
	time.Sleep(50 * time.Millisecond) // let it reach the socket; not an assertion
	cancel()
	select {
	case err := <-res:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(20 * time.Second):
		t.Fatal("Publish did not return when its context ended")
	}
}

// TestOwnHTTPClient: without Deps.HTTP the publisher uses a client of its own,
// whose connections Close releases (goleak checks at the end).
func TestOwnHTTPClient(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	f.addKey(testKeyID, fakeKey{secret: testSecret})
	d := deps(t, staticEnv(t))
	d.HTTP = nil
	p := build(t, f.srv.URL, staticEnv(t), &d)
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, publishOne(t, p, "own-1"))
	require.NoError(t, p.Close())
}
