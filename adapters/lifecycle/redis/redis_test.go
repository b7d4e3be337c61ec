package redis

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles/tlsfilestest"
)

// TestDocumentedSubscriptions checks the README's subscriber commands: SUBSCRIBE on
// one type gets exactly it, PSUBSCRIBE edge.* every type, PSUBSCRIBE
// edge.command_execution.* the command events only.
func TestDocumentedSubscriptions(t *testing.T) {
	needRedis(t)
	exact := subscribe(t, machineRedis, "SUBSCRIBE", "edge.node.registered")
	all := subscribe(t, machineRedis, "PSUBSCRIBE", "edge.*")
	cmds := subscribe(t, machineRedis, "PSUBSCRIBE", "edge.command_execution.*")
	p := byURL(t, "redis://"+machineRedis)
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	reg := lifecycletest.Message("edge.node.registered", "doc-1", "docs")
	done := lifecycletest.Message("edge.command_execution.completed", "doc-2", "docs")
	require.NoError(t, p.Publish(ctx, reg))
	require.NoError(t, p.Publish(ctx, done))

	r := receive(t, exact)
	require.Equal(t, "edge.node.registered", r.Where)
	require.JSONEq(t, string(reg.Body), string(r.Body))
	require.Equal(t, "edge.node.registered", receive(t, all).Where)
	require.Equal(t, "edge.command_execution.completed", receive(t, all).Where)
	r = receive(t, cmds)
	require.Equal(t, "edge.command_execution.completed", r.Where)
	require.JSONEq(t, string(done.Body), string(r.Body))
}

// TestPublishWithoutSubscribers: Redis keeps nothing for absent subscribers, and a
// reply of 0 receivers is success.
func TestPublishWithoutSubscribers(t *testing.T) {
	needRedis(t)
	p := byURL(t, "redis://"+machineRedis)
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.nobody_listens_"+t.Name(), "n-1", "c")))
}

// TestSelectDB: the URL's /db makes Connect SELECT it (Pub/Sub channels are not per
// database, so the subscriber still sees the message); a db the server does not
// have fails Connect with the server's reason.
func TestSelectDB(t *testing.T) {
	needRedis(t)
	ch := subscribe(t, machineRedis, "SUBSCRIBE", "edge.node.started")
	p := byURL(t, "redis://"+machineRedis+"/3")
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "db-1", "c")))
	require.Equal(t, "edge.node.started", receive(t, ch).Where)

	p = byURL(t, "redis://"+machineRedis+"/100000")
	err := p.Connect(ctx)
	require.Error(t, err)
	require.Contains(t, err.Error(), "SELECT")
	var se *ServerError
	require.ErrorAs(t, err, &se)
}

// TestServerDownAtStart: Connect fails at once with the address in the error, and
// works once the server is there.
func TestServerDownAtStart(t *testing.T) {
	needRedis(t)
	px := lifecycletest.NewProxy(t, machineRedis)
	px.Down()
	p := byURL(t, "redis://"+px.Addr)
	ctx := ctx30(t)
	err := p.Connect(ctx)
	require.Error(t, err)
	require.Contains(t, err.Error(), px.Addr)
	require.NoError(t, ctx.Err(), "Connect waited for the whole context")
	require.ErrorIs(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "d-0", "c")), ErrNotConnected)

	px.Up()
	ch := subscribe(t, machineRedis, "SUBSCRIBE", "edge.node.started")
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "d-1", "c")))
	require.Equal(t, "edge.node.started", receive(t, ch).Where)
}

// TestServerRestart: the connection is cut mid-run; Publish fails, Connect fails
// while the server is away, and after it is back Connect and Publish work.
func TestServerRestart(t *testing.T) {
	needRedis(t)
	ch := subscribe(t, machineRedis, "SUBSCRIBE", "edge.node.status_changed")
	px := lifecycletest.NewProxy(t, machineRedis)
	p := byURL(t, "redis://"+px.Addr)
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	m := lifecycletest.Message("edge.node.status_changed", "r-1", "c")
	require.NoError(t, p.Publish(ctx, m))
	require.Equal(t, "r-1", idOf(t, receive(t, ch)))

	px.Down()
	m2 := lifecycletest.Message("edge.node.status_changed", "r-2", "c")
	require.Error(t, p.Publish(ctx, m2), "Publish on a cut connection")
	require.Error(t, p.Connect(ctx), "Connect while the server is away")

	px.Up()
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, p.Publish(ctx, m2))
	require.Equal(t, "r-2", idOf(t, receive(t, ch)))
}

func idOf(t *testing.T, r lifecycletest.Received) string {
	t.Helper()
	var doc struct{ ID string }
	require.NoError(t, json.Unmarshal(r.Body, &doc))
	return doc.ID
}

// TestAuth runs a private redis-server with a password for the default user and an
// ACL user alice, and checks every way the URL gives credentials, the YAML password
// keys, and that a wrong or missing password fails Connect clearly, without the
// password in the error.
func TestAuth(t *testing.T) {
	addr := redisServer(t, false, "--requirepass", "s3cret-default-pw",
		"--user", "alice", "on", ">alice-pw-4711", "~*", "&*", "+@all")
	ok := func(t *testing.T, p lifecycle.Publisher) {
		t.Helper()
		ctx := ctx30(t)
		require.NoError(t, p.Connect(ctx))
		require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "a-1", "c")))
	}
	t.Run("PasswordOnly", func(t *testing.T) { ok(t, byURL(t, "redis://:s3cret-default-pw@"+addr)) })
	t.Run("DefaultUser", func(t *testing.T) { ok(t, byURL(t, "redis://default:s3cret-default-pw@"+addr+"/2")) })
	t.Run("ACLUser", func(t *testing.T) { ok(t, byURL(t, "redis://alice:alice-pw-4711@"+addr)) })
	t.Run("EscapedPassword", func(t *testing.T) {
		// A second ACL user whose password needs escaping in a URL.
		a2 := redisServer(t, false, "--user", "bob", "on", ">p@ss:w/rd%", "~*", "&*", "+@all")
		ok(t, byURL(t, "redis://bob:p%40ss%3Aw%2Frd%25@"+a2))
	})
	t.Run("PasswordKey", func(t *testing.T) {
		ok(t, build(t, func(c *Config) { c.URL = "redis://" + addr; c.Password = "s3cret-default-pw" }, nil))
	})
	t.Run("PasswordFileWithUser", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "pw")
		require.NoError(t, os.WriteFile(f, []byte("alice-pw-4711\n"), 0o600))
		ok(t, build(t, func(c *Config) { c.URL = "redis://alice@" + addr; c.PasswordFile = f }, nil))
	})
	t.Run("PasswordEnv", func(t *testing.T) {
		t.Setenv("TEST_REDIS_PW", "s3cret-default-pw")
		ok(t, build(t, func(c *Config) { c.URL = "redis://" + addr; c.PasswordEnv = "TEST_REDIS_PW" }, nil))
	})
	t.Run("EnvURLWinsOverYAMLPassword", func(t *testing.T) {
		ok(t, build(t, func(c *Config) { c.Password = "not-the-password" },
			map[string]string{EnvURL: "redis://:s3cret-default-pw@" + addr}))
	})

	fails := func(t *testing.T, url, password, want string) {
		t.Helper()
		p := byURL(t, url)
		err := p.Connect(ctx30(t))
		require.Error(t, err)
		t.Log(err)
		require.Contains(t, err.Error(), want)
		require.Contains(t, err.Error(), EnvURL, "the error says where to fix it")
		require.Contains(t, err.Error(), p.(*Publisher).t.display, "and which server refused")
		require.NotContains(t, err.Error(), password)
		var se *ServerError
		require.ErrorAs(t, err, &se)
		require.ErrorIs(t, p.Publish(ctx30(t), lifecycletest.Message("edge.node.started", "a-x", "c")), ErrNotConnected)
	}
	t.Run("WrongPassword", func(t *testing.T) {
		fails(t, "redis://:wrong-pw-12345@"+addr, "wrong-pw-12345", "WRONGPASS")
	})
	t.Run("WrongUserPassword", func(t *testing.T) {
		fails(t, "redis://alice:wrong-pw-12345@"+addr, "wrong-pw-12345", `user "alice"`)
	})
	t.Run("UnknownUser", func(t *testing.T) {
		fails(t, "redis://mallory:alice-pw-4711@"+addr, "alice-pw-4711", "WRONGPASS")
	})
	t.Run("WrongPasswordFile", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "pw")
		require.NoError(t, os.WriteFile(f, []byte("wrong-file-pw-99\n"), 0o600))
		p := build(t, func(c *Config) { c.URL = "redis://" + addr; c.PasswordFile = f }, nil)
		err := p.Connect(ctx30(t))
		require.ErrorContains(t, err, keyPasswordFile)
		require.NotContains(t, err.Error(), "wrong-file-pw-99")
	})
	t.Run("NoPassword", func(t *testing.T) {
		fails(t, "redis://"+addr, "s3cret-default-pw", "NOAUTH")
	})
}

// TestTLS runs a private redis-server with a TLS port and a test CA: rediss:// and
// redis:// with EVENT_BROKER_REDIS_SSL=true both work with ca_file; without it the
// server's certificate is not trusted; a plain connection to the TLS port fails.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlsfilestest.NewCA(t, "test redis CA")
	leaf := ca.Issue(t, "127.0.0.1", true)
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM, 0o600))
	require.NoError(t, os.WriteFile(certFile, leaf.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(keyFile, leaf.KeyPEM, 0o600))
	addr := redisServer(t, true, "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", "no", "--requirepass", "tls-pw-0815")

	ok := func(t *testing.T, p lifecycle.Publisher) {
		t.Helper()
		ctx := ctx30(t)
		require.NoError(t, p.Connect(ctx))
		require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "t-1", "c")))
	}
	withCA := func(c *Config) { c.CAFile = caFile }
	t.Run("Rediss", func(t *testing.T) {
		ok(t, build(t, withCA, map[string]string{EnvURL: "rediss://:tls-pw-0815@" + addr}))
	})
	t.Run("SSLVariable", func(t *testing.T) {
		ok(t, build(t, withCA, map[string]string{EnvURL: "redis://:tls-pw-0815@" + addr + "/1", EnvSSL: "true"}))
	})
	t.Run("UntrustedCertificate", func(t *testing.T) {
		p := build(t, nil, map[string]string{EnvURL: "rediss://:tls-pw-0815@" + addr})
		err := p.Connect(ctx30(t))
		require.Error(t, err)
		t.Log(err)
		require.Contains(t, err.Error(), "tls handshake")
		require.Contains(t, err.Error(), "certificate")
		require.Contains(t, err.Error(), keyCAFile, "says what to set")
		require.NotContains(t, err.Error(), "tls-pw-0815")
	})
	t.Run("PlainToTLSPort", func(t *testing.T) {
		p := byURL(t, "redis://:tls-pw-0815@"+addr)
		err := p.Connect(ctx30(t))
		require.Error(t, err)
		require.NotContains(t, err.Error(), "tls-pw-0815")
	})
}

// TestMalformedReplies runs a fake server of the test's own that answers PING well
// and then PUBLISH (or the handshake) with bytes a Redis server never sends: each is
// an error, not a hang and not a large allocation, and drops the connection.
func TestMalformedReplies(t *testing.T) {
	huge := append([]byte("+"), []byte(strings.Repeat("a", 1<<20))...) // no CRLF within the bound
	for _, tc := range []struct {
		name    string
		publish []byte
		want    string
	}{
		{"LongLine", huge, "longer than"},
		{"HugeBulk", []byte("$99999999999\r\n"), "bulk string of 99999999999 bytes"},
		{"BulkTooLong", []byte("$5000\r\n"), "bulk string of 5000 bytes"},
		{"BadBulkLength", []byte("$-7\r\n"), "bulk length"},
		{"BadInteger", []byte(":12x\r\n"), "integer"},
		{"UnknownType", []byte("?1\r\n"), "unknown type byte"},
		{"Array", []byte("*2\r\n:1\r\n:2\r\n"), "array"},
		{"NoCR", []byte(":1\n"), "CRLF"},
		{"Status", []byte("+OK\r\n"), "instead of an integer"},
		{"Bulk", []byte("$2\r\nhi\r\n"), "instead of an integer"},
		{"BulkWithoutCRLF", []byte("$2\r\nhiXY"), "CRLF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, []byte("+PONG\r\n"), tc.publish)
			p := byURL(t, "redis://"+addr)
			ctx := ctx30(t)
			require.NoError(t, p.Connect(ctx))
			err := p.Publish(ctx, lifecycletest.Message("edge.node.started", "m-1", "c"))
			require.Error(t, err)
			require.ErrorIs(t, err, ErrProtocol)
			require.Contains(t, err.Error(), tc.want)
			require.NoError(t, ctx.Err())
			require.ErrorIs(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "m-2", "c")), ErrNotConnected,
				"the connection is dropped")
		})
	}
	t.Run("ErrorReply", func(t *testing.T) {
		addr := fakeServer(t, []byte("+PONG\r\n"), []byte("-ERR something odd\r\n"), []byte(":0\r\n"))
		p := byURL(t, "redis://"+addr)
		ctx := ctx30(t)
		require.NoError(t, p.Connect(ctx))
		err := p.Publish(ctx, lifecycletest.Message("edge.node.started", "m-1", "c"))
		var se *ServerError
		require.ErrorAs(t, err, &se)
		require.Equal(t, "PUBLISH", se.Command)
		require.Equal(t, "ERR", se.Code())
		require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "m-2", "c")),
			"an error reply leaves the connection in step")
	})
	t.Run("NotRedis", func(t *testing.T) {
		addr := fakeServer(t, []byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		err := byURL(t, "redis://"+addr).Connect(ctx30(t))
		require.ErrorIs(t, err, ErrProtocol)
		require.Contains(t, err.Error(), "PING")
	})
	t.Run("PingNotPong", func(t *testing.T) {
		addr := fakeServer(t, []byte(":1\r\n"))
		err := byURL(t, "redis://"+addr).Connect(ctx30(t))
		require.ErrorIs(t, err, ErrProtocol)
	})
}

// TestSilentServer: a server that accepts and never answers makes Connect fail when
// its context ends, and Publish return when its context is cancelled.
func TestSilentServer(t *testing.T) {
	t.Run("Connect", func(t *testing.T) {
		addr := fakeServer(t, nil)
		ctx, cancel := context.WithCancel(t.Context())
		p := byURL(t, "redis://"+addr)
		errc := make(chan error, 1)
		go func() { errc <- p.Connect(ctx) }()
		cancel()
		err := <-errc
		require.Error(t, err)
		require.True(t, errors.Is(err, context.Canceled), "%v", err)
	})
	t.Run("Publish", func(t *testing.T) {
		addr, reads := fakeServerReads(t, []byte("+PONG\r\n"), nil)
		p := byURL(t, "redis://"+addr)
		require.NoError(t, p.Connect(ctx30(t)))
		<-reads // the handshake
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- p.Publish(ctx, lifecycletest.Message("edge.node.started", "s-1", "c")) }()
		<-reads // the PUBLISH, now waiting for its reply
		cancel()
		err := <-errc
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, p.Publish(ctx30(t), lifecycletest.Message("edge.node.started", "s-2", "c")), ErrNotConnected)
	})
	t.Run("Timeout", func(t *testing.T) {
		addr := fakeServer(t, []byte("+PONG\r\n"), nil)
		p := build(t, func(c *Config) { c.URL = "redis://" + addr; c.Timeout = 50 * time.Millisecond }, nil)
		require.NoError(t, p.Connect(ctx30(t)))
		err := p.Publish(ctx30(t), lifecycletest.Message("edge.node.started", "s-1", "c"))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Contains(t, err.Error(), "deadline")
	})
}

// TestCloseDuringUse: Close while connected makes Publish and Connect fail with
// ErrClosed.
func TestCloseDuringUse(t *testing.T) {
	needRedis(t)
	p := byURL(t, "redis://"+machineRedis)
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "c-1", "c")), ErrClosed)
	require.ErrorIs(t, p.Connect(ctx), ErrClosed)
}

// TestLargeBodyAndDebugLog: a large envelope arrives whole, and each PUBLISH logs
// the number of receivers at debug level.
func TestLargeBodyAndDebugLog(t *testing.T) {
	needRedis(t)
	ch := subscribe(t, machineRedis, "SUBSCRIBE", "edge.node.started")
	var logs strings.Builder
	c := NewConfig()
	c.URL = "redis://" + machineRedis
	pub, err := c.Build(lifecycle.Deps{Log: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	ctx := ctx30(t)
	require.NoError(t, pub.Connect(ctx))
	m := lifecycletest.Message("edge.node.started", "big-1", strings.Repeat("x", 300<<10))
	require.NoError(t, pub.Publish(ctx, m))
	r := receive(t, ch)
	require.Equal(t, m.Body, r.Body)
	require.NoError(t, pub.Publish(ctx, lifecycletest.Message("edge.node.started", "small-2", "c")), "after a large one")
	require.Equal(t, "small-2", idOf(t, receive(t, ch)))
	require.Contains(t, logs.String(), "receivers=1")
	require.Contains(t, logs.String(), "channel=edge.node.started")
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex // guards w
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
