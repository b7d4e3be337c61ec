package kafka

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// ctx30 is a context bounding one step of a test against hangs.
func ctx30(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// receive waits for one message.
func receive(t *testing.T, ch <-chan lifecycletest.Received) lifecycletest.Received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no message arrived")
		return lifecycletest.Received{}
	}
}

// returns waits for f, failing the test if it hangs.
func returns(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

func TestRecordShape(t *testing.T) {
	m := lifecycletest.Message("edge.command_execution.failed", "id-9", "plant-9")
	r := Record(m)
	require.Equal(t, lifecycle.TopicCommands, r.Topic)
	k, err := r.Key.Encode()
	require.NoError(t, err)
	require.Equal(t, "plant-9", string(k))
	v, err := r.Value.Encode()
	require.NoError(t, err)
	require.Equal(t, m.Body, v)
	got := map[string]string{}
	for _, h := range r.Headers {
		got[string(h.Key)] = string(h.Value)
	}
	require.Equal(t, map[string]string{
		"type": "edge.command_execution.failed", "corename": "plant-9", "content-type": "application/cloudevents+json",
	}, got)
}

func TestPublishBeforeConnect(t *testing.T) {
	p := newPub(t, []string{lifecycletest.FreeAddr(t)}, auth{})
	require.ErrorIs(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "a", "c")), ErrNotConnected)
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Connect(t.Context()), ErrClosed)
	require.ErrorIs(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "a", "c")), ErrClosed)
}

// TestBrokerDownAtStart: Connect to a broker that is not there fails with an error
// naming it; once the broker is up, Connect again works.
func TestBrokerDownAtStart(t *testing.T) {
	addr := lifecycletest.FreeAddr(t)
	p := newPub(t, []string{addr}, auth{})
	err := returns(t, "Connect", func() error { return p.Connect(ctx30(t)) })
	require.Error(t, err)
	require.Contains(t, err.Error(), addr)
	require.NotErrorIs(t, err, context.DeadlineExceeded)

	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	c := startCluster(t, auth{}, kfake.Ports(n))
	ch := subscribe(t, c.ListenAddrs(), auth{})
	require.NoError(t, p.Connect(ctx30(t)))
	m := lifecycletest.Message("edge.node.started", "id-late", "plant-1")
	require.NoError(t, p.Publish(ctx30(t), m))
	r := receive(t, ch)
	require.JSONEq(t, string(m.Body), string(r.Body))
}

// TestBrokerRestarted cuts every connection through a proxy (kfake advertises the
// proxy's address, so the produce connections run through it too): Publish fails,
// and once the broker is back Connect and Publish work, with nothing lost.
func TestBrokerRestarted(t *testing.T) {
	c, px := startProxiedCluster(t, auth{})
	require.Equal(t, []string{px.Addr}, c.ListenAddrs())
	ch := subscribe(t, c.ListenAddrs(), auth{})
	p := newPub(t, []string{px.Addr}, auth{})
	require.NoError(t, p.Connect(ctx30(t)))
	m1 := lifecycletest.Message("edge.node.started", "id-1", "plant-1")
	require.NoError(t, p.Publish(ctx30(t), m1))
	require.JSONEq(t, string(m1.Body), string(receive(t, ch).Body))

	px.Down()
	m2 := lifecycletest.Message("edge.node.status_changed", "id-2", "plant-1")
	err := returns(t, "Publish to a broker that went away", func() error { return p.Publish(ctx30(t), m2) })
	require.Error(t, err)
	require.Contains(t, err.Error(), lifecycle.TopicNodes)
	require.Error(t, returns(t, "Connect while down", func() error { return p.Connect(ctx30(t)) }))

	px.Up()
	require.NoError(t, p.Connect(ctx30(t)))
	require.NoError(t, p.Publish(ctx30(t), m2))
	// The subscriber went through the proxy too and reconnects by itself.
	require.JSONEq(t, string(m2.Body), string(receive(t, ch).Body))
}

// TestBrokerReplaced stops kfake and starts a new one on the same port (a restart
// that loses the broker's state): Publish fails, Connect again, Publish works.
func TestBrokerReplaced(t *testing.T) {
	first := startCluster(t, auth{})
	addrs := first.ListenAddrs()
	p := newPub(t, addrs, auth{})
	require.NoError(t, p.Connect(ctx30(t)))
	require.NoError(t, p.Publish(ctx30(t), lifecycletest.Message("edge.node.started", "id-1", "plant-1")))
	first.Close()

	m := lifecycletest.Message("edge.node.stopping", "id-2", "plant-1")
	require.Error(t, returns(t, "Publish to a stopped broker", func() error { return p.Publish(ctx30(t), m) }))

	_, port, _ := net.SplitHostPort(addrs[0])
	n, _ := strconv.Atoi(port)
	second := startCluster(t, auth{}, kfake.Ports(n))
	ch := subscribe(t, second.ListenAddrs(), auth{})
	require.NoError(t, p.Connect(ctx30(t)))
	require.NoError(t, p.Publish(ctx30(t), m))
	require.JSONEq(t, string(m.Body), string(receive(t, ch).Body))
}

// TestWrongPassword: a refused login is a clear Connect error without the password.
func TestWrongPassword(t *testing.T) {
	for _, mech := range []string{MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			good := auth{mechanism: mech, user: "edge", pass: "the-right-s3cret"}
			c := startCluster(t, good)
			bad := good
			bad.pass = "wrong-pa55word-" + mech
			p := newPub(t, c.ListenAddrs(), bad)
			err := returns(t, "Connect", func() error { return p.Connect(ctx30(t)) })
			require.Error(t, err)
			t.Log(err)
			require.NotContains(t, err.Error(), bad.pass)
			require.NotContains(t, err.Error(), good.pass)
			require.Contains(t, err.Error(), "SASL")
			require.Contains(t, err.Error(), VarPassword)
		})
	}
}

// TestNoSASLAgainstSASLBroker: a broker that wants a login refuses a client
// without one with an error that says so.
func TestNoSASLAgainstSASLBroker(t *testing.T) {
	c := startCluster(t, auth{mechanism: MechanismPlain, user: "edge", pass: "the-right-s3cret"})
	p := newPub(t, c.ListenAddrs(), auth{})
	err := returns(t, "Connect", func() error { return p.Connect(ctx30(t)) })
	require.Error(t, err)
	t.Log(err)
}

// TestTLS: without the test CA the broker's certificate is refused; TLS on the
// broker only is an error with a hint; TLS on the client only fails too.
func TestTLS(t *testing.T) {
	a := withTLS(t, auth{})
	c := startCluster(t, a)

	t.Run("UnknownCA", func(t *testing.T) {
		cfg := config(t, c.ListenAddrs(), a)
		cfg.CAFile = ""
		p, err := cfg.Build(lifecycle.Deps{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Close() })
		err = returns(t, "Connect", func() error { return p.Connect(ctx30(t)) })
		require.Error(t, err)
		require.Contains(t, err.Error(), "certificate")
	})
	t.Run("PlainClient", func(t *testing.T) {
		p := newPub(t, c.ListenAddrs(), auth{})
		err := returns(t, "Connect", func() error { return p.Connect(ctx30(t)) })
		require.Error(t, err)
		t.Log(err)
	})
	t.Run("TLSClientPlainBroker", func(t *testing.T) {
		plain := startCluster(t, auth{})
		// kfake reads the ClientHello as the start of a huge request and waits; a
		// real broker closes at once (over socket.request.max.bytes).
		cfg := config(t, plain.ListenAddrs(), a)
		cfg.Timeout = time.Second
		p, err := cfg.Build(lifecycle.Deps{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Close() })
		err = returns(t, "Connect", func() error { return p.Connect(ctx30(t)) })
		require.Error(t, err)
		t.Log(err)
	})
}

// TestTopics: a broker without the domain topics and without auto-creation makes
// Connect fail naming the topic; one that auto-creates gets both at Connect.
func TestTopics(t *testing.T) {
	t.Run("MissingNotCreated", func(t *testing.T) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		require.NoError(t, err)
		t.Cleanup(c.Close)
		p := newPub(t, c.ListenAddrs(), auth{})
		err = returns(t, "Connect", func() error { return p.Connect(ctx30(t)) })
		require.Error(t, err)
		require.Contains(t, err.Error(), lifecycle.TopicNodes)
		require.Contains(t, err.Error(), "create")
	})
	t.Run("AutoCreated", func(t *testing.T) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
		require.NoError(t, err)
		t.Cleanup(c.Close)
		p := newPub(t, c.ListenAddrs(), auth{})
		require.NoError(t, p.Connect(ctx30(t)))
		require.NotNil(t, c.TopicInfo(lifecycle.TopicNodes))
		require.NotNil(t, c.TopicInfo(lifecycle.TopicCommands))
		require.NoError(t, p.Publish(ctx30(t), lifecycletest.Message("edge.command_execution.created", "id-1", "c1")))
	})
}

// TestCancelledMidFlight: a Publish whose produce the broker never answers returns
// when its context ends; the connection is given up, Connect makes a new one.
func TestCancelledMidFlight(t *testing.T) {
	c := startCluster(t, auth{})
	cfg := config(t, c.ListenAddrs(), auth{})
	cfg.Timeout = time.Second // the abandoned request's read timeout, for Close
	pub, err := cfg.Build(lifecycle.Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	require.NoError(t, pub.Connect(ctx30(t)))

	held := make(chan struct{}, 1)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		held <- struct{}{}
		return nil, nil, true // no answer
	})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-held
		cancel()
	}()
	err = returns(t, "Publish", func() error {
		return pub.Publish(ctx, lifecycletest.Message("edge.node.started", "id-1", "c"))
	})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, pub.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-2", "c")), ErrNotConnected)

	require.NoError(t, pub.Connect(ctx30(t)))
	require.NoError(t, pub.Publish(ctx30(t), lifecycletest.Message("edge.node.started", "id-3", "c")))
}

// TestConnectCancelled: a Connect to a broker that accepts and never answers
// returns when its context ends.
func TestConnectCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	conns := make(chan net.Conn, 10)
	// Accepts until the listener closes; the test closes what it accepted.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for c := range conns {
			_ = c.Close()
		}
	})
	cfg := config(t, []string{ln.Addr().String()}, auth{})
	cfg.Timeout = time.Second
	p, err := cfg.Build(lifecycle.Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		c := <-conns
		conns <- c // for the cleanup
		cancel()
	}()
	err = returns(t, "Connect", func() error { return p.Connect(ctx) })
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
}

// TestSCRAMVector checks the SCRAM client against the SCRAM-SHA-256 exchange of
// RFC 7677, section 3.
func TestSCRAMVector(t *testing.T) {
	s := newSCRAM(sha256Hash)
	require.NoError(t, s.Begin("user", "pencil", ""))
	s.nonce = "rOprNGfwEbeRWgbNEkqO"
	first, err := s.Step("")
	require.NoError(t, err)
	require.Equal(t, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", first)
	final, err := s.Step("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	require.NoError(t, err)
	require.Equal(t, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", final)
	require.False(t, s.Done())
	_, err = s.Step("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
	require.NoError(t, err)
	require.True(t, s.Done())
}

func TestSCRAMRefusesAForgedServer(t *testing.T) {
	s := newSCRAM(sha256Hash)
	require.NoError(t, s.Begin("user", "pencil", ""))
	s.nonce = "rOprNGfwEbeRWgbNEkqO"
	_, _ = s.Step("")
	_, err := s.Step("r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	require.ErrorContains(t, err, "nonce")

	require.NoError(t, s.Begin("user", "pencil", ""))
	s.nonce = "rOprNGfwEbeRWgbNEkqO"
	_, _ = s.Step("")
	_, err = s.Step("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	require.NoError(t, err)
	_, err = s.Step("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
	require.ErrorContains(t, err, "signature")
	require.False(t, s.Done())
	require.Equal(t, "n=a=3Db=2Cc", "n="+saslName("a=b,c"))
}

// TestIdempotenceRefused: brokers that refuse an idempotent producer (an old
// broker, a user without IdempotentWrite) get a plain one, with a warning.
func TestIdempotenceRefused(t *testing.T) {
	c := startCluster(t, auth{})
	var refused atomic.Int32
	c.ControlKey(int16(kmsg.InitProducerID), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		refused.Add(1)
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode = 31 // CLUSTER_AUTHORIZATION_FAILED
		return resp, nil, true
	})
	var logs strings.Builder
	cfg := config(t, c.ListenAddrs(), auth{})
	p, err := cfg.Build(lifecycle.Deps{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	ch := subscribe(t, c.ListenAddrs(), auth{})
	require.NoError(t, p.Connect(ctx30(t)))
	m := lifecycletest.Message("edge.node.started", "id-1", "plant-1")
	require.NoError(t, p.Publish(ctx30(t), m))
	require.JSONEq(t, string(m.Body), string(receive(t, ch).Body))
	require.Contains(t, logs.String(), "refuse the idempotent producer")
	require.Contains(t, logs.String(), "idempotent=false")
	require.Positive(t, refused.Load())
}
