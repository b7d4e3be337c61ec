package nats

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// machineAddr is the machine's NATS server, JetStream enabled.
const machineAddr = "127.0.0.1:4222"

func needMachineNATS(t *testing.T) string {
	t.Helper()
	adaptertest.NeedService(t, "NATS", machineAddr)
	return "nats://" + machineAddr
}

// runServer starts an in-process nats-server on a free loopback port; opts may be
// nil. It stops when the test ends.
func runServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	if opts == nil {
		opts = &server.Options{}
	}
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.NoLog, opts.NoSigs = true, true
	if opts.JetStream && opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	require.True(t, s.ReadyForConnections(10*time.Second), "nats-server did not start")
	return s
}

// newPublisher builds a publisher from cfg with the defaults filled in.
func newPublisher(t *testing.T, cfg *Config) *Publisher {
	t.Helper()
	require.NoError(t, cfg.Validate())
	pub, err := cfg.Build(lifecycle.Deps{Log: testLog(t), Version: "test"})
	require.NoError(t, err)
	p := pub.(*Publisher)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// subscribe is a subscriber on edge.> at url, reading the headers; opts carry its
// credentials.
func subscribe(t *testing.T, url string, opts ...nats.Option) <-chan lifecycletest.Received {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	ch := make(chan lifecycletest.Received, 100)
	_, err = nc.Subscribe("edge.>", func(m *nats.Msg) {
		r := lifecycletest.Received{Where: m.Subject, Body: m.Data, Attrs: map[string]string{}}
		for k, v := range m.Header {
			if len(v) > 0 {
				r.Attrs[k] = v[0]
			}
		}
		select {
		case ch <- r:
		default:
		}
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	return ch
}

// receive waits for the message of id on ch, skipping others (the machine's
// server is shared).
func receive(t *testing.T, ch <-chan lifecycletest.Received, id string) lifecycletest.Received {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case r := <-ch:
			if r.Attrs["Nats-Msg-Id"] == id || jsonID(r.Body) == id {
				return r
			}
		case <-timeout:
			t.Fatalf("message %s did not arrive", id)
		}
	}
}

func secretOf(s string) secret.Value { return secret.Value(s) }
