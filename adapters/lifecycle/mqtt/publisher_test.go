package mqtt

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// receive waits for one message on ch.
func receive(t *testing.T, ch <-chan lifecycletest.Received) lifecycletest.Received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no message arrived")
	}
	return lifecycletest.Received{}
}

// TestWire: what the broker reads is MQTT 3.1.1 with a clean session, a 30s keep-alive,
// the edgerelay-events- client id, and every PUBLISH at the configured QoS with
// retain off on the type's topic.
func TestWire(t *testing.T) {
	for _, qos := range []byte{0, 1, 2} {
		t.Run("qos"+strconv.Itoa(int(qos)), func(t *testing.T) {
			b := startMochi(t, nil, nil)
			ch := subscribe(t, b.addr, nil)
			p := build(t, map[string]string{EnvURL: b.addr, EnvQoS: strconv.Itoa(int(qos))}, nil)
			require.NoError(t, p.Connect(t.Context()))
			m := lifecycletest.Message("edge.command_execution.failed", "id-w", "plant-1")
			require.NoError(t, p.Publish(t.Context(), m))
			r := receive(t, ch)
			require.Equal(t, "edge/command_execution/failed", r.Where)
			require.JSONEq(t, string(m.Body), string(r.Body))

			var cons []connected
			for _, c := range b.connects() {
				if c.clientID == p.ClientID() {
					cons = append(cons, c)
				}
			}
			require.Equal(t, []connected{{p.ClientID(), 4, true, 30}}, cons)
			require.Regexp(t, `^edgerelay-events-[0-9a-f]{6}$`, p.ClientID())
			require.Contains(t, b.published(), published{"edge/command_execution/failed", qos, false})
		})
	}
}

// TestClientIDFromConfig: client_id replaces the random one.
func TestClientIDFromConfig(t *testing.T) {
	b := startMochi(t, nil, nil)
	p := build(t, map[string]string{EnvURL: b.addr}, func(c *Config) { c.ClientID = "gw-17-events" })
	require.NoError(t, p.Connect(t.Context()))
	require.Equal(t, "gw-17-events", b.connects()[0].clientID)
}

// TestNotConnected: Publish before Connect is ErrNotConnected; after Close ErrClosed,
// and so is Connect.
func TestNotConnected(t *testing.T) {
	b := startMochi(t, nil, nil)
	p := build(t, map[string]string{EnvURL: b.addr}, nil)
	m := lifecycletest.Message("edge.node.started", "id-n", "c")
	require.ErrorIs(t, p.Publish(t.Context(), m), ErrNotConnected)
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Publish(t.Context(), m), ErrClosed)
	require.ErrorIs(t, p.Connect(t.Context()), ErrClosed)
}

// brokers runs f against Mochi and the machine's Mosquitto.
func brokers(t *testing.T, f func(t *testing.T, addr string)) {
	t.Run("mochi", func(t *testing.T) { f(t, startMochi(t, nil, nil).addr) })
	t.Run("mosquitto", func(t *testing.T) {
		adaptertest.NeedService(t, "Mosquitto", mosquittoAddr)
		f(t, mosquittoAddr)
	})
}

// TestBrokerDownAtStart: with the broker away Connect fails at once with an error
// naming the broker; once it is back Connect and Publish work.
func TestBrokerDownAtStart(t *testing.T) {
	brokers(t, func(t *testing.T, addr string) {
		px := lifecycletest.NewProxy(t, addr)
		px.Down()
		ch := subscribe(t, addr, nil)
		p := build(t, map[string]string{EnvURL: px.Addr}, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		err := p.Connect(ctx)
		require.ErrorContains(t, err, "connect to "+px.Addr)
		require.ErrorContains(t, err, "refused")
		require.NoError(t, ctx.Err(), "Connect waited for the whole context")

		px.Up()
		require.NoError(t, p.Connect(ctx))
		m := lifecycletest.Message("edge.node.started", "id-d", "c")
		require.NoError(t, p.Publish(ctx, m))
		require.JSONEq(t, string(m.Body), string(receive(t, ch).Body))
	})
}

// TestBrokerRestart: the connection is cut mid-run; Publish fails (at QoS 1 the
// PUBACK cannot come), Connect again works, and the next Publish arrives.
func TestBrokerRestart(t *testing.T) {
	brokers(t, func(t *testing.T, addr string) {
		px := lifecycletest.NewProxy(t, addr)
		ch := subscribe(t, addr, nil)
		p := build(t, map[string]string{EnvURL: px.Addr, EnvQoS: "1"}, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		require.NoError(t, p.Connect(ctx))
		first := lifecycletest.Message("edge.node.started", "id-1", "c")
		require.NoError(t, p.Publish(ctx, first))
		require.JSONEq(t, string(first.Body), string(receive(t, ch).Body))

		px.Down()
		err := p.Publish(ctx, lifecycletest.Message("edge.node.stopping", "id-2", "c"))
		require.ErrorIs(t, err, ErrNotConnected)
		require.NoError(t, ctx.Err())
		require.Error(t, p.Connect(ctx), "the broker is still away")

		px.Up()
		require.NoError(t, p.Connect(ctx))
		third := lifecycletest.Message("edge.node.status_changed", "id-3", "c")
		require.NoError(t, p.Publish(ctx, third))
		r := receive(t, ch)
		require.Equal(t, "edge/node/status_changed", r.Where)
		require.JSONEq(t, string(third.Body), string(r.Body))
	})
}

// TestAuth covers every login of the seed against a Mochi broker that checks it:
// user name and password, a JWT as the CONNECT password (with and without a user
// name, and over a password, which it takes precedence over), and the YAML file
// forms; wrong credentials give a clear refusal without the secret.
func TestAuth(t *testing.T) {
	const (
		user = "edge-gw"
		pass = "s3cret-pass-word"
		jwt  = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlZGdlIn0.c2lnbmF0dXJlLXRlc3Q"
	)
	dir := t.TempDir()
	jwtFile := writeFile(t, dir, "jwt", []byte(jwt+"\n"))
	passFile := writeFile(t, dir, "pass", []byte(pass+"\n"))
	auth := func(u, p string) bool { return (u == user && p == pass) || p == jwt }
	cases := []struct {
		name string
		env  map[string]string
		yaml func(*Config)
		want login
	}{
		{"username and password", map[string]string{EnvUsername: user, EnvPassword: pass}, nil,
			login{true, true, user, pass}},
		{"jwt alone", map[string]string{EnvJWT: jwt}, nil, login{true, true, "", jwt}},
		{"jwt with username", map[string]string{EnvJWT: jwt, EnvUsername: user}, nil, login{true, true, user, jwt}},
		{"jwt over password", map[string]string{EnvJWT: jwt, EnvUsername: user, EnvPassword: "not-sent-pw"}, nil,
			login{true, true, user, jwt}},
		{"yaml jwt_file", nil, func(c *Config) { c.JWTFile = jwtFile }, login{true, true, "", jwt}},
		{"yaml password_file", nil, func(c *Config) { c.Username, c.PasswordFile = user, passFile },
			login{true, true, user, pass}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := startMochi(t, nil, auth)
			ch := subscribe(t, b.addr, func(o *paho.ClientOptions) { o.SetUsername(user).SetPassword(pass) })
			env := map[string]string{EnvURL: b.addr}
			for k, v := range tc.env {
				env[k] = v
			}
			p := build(t, env, tc.yaml)
			require.NoError(t, p.Connect(t.Context()))
			m := lifecycletest.Message("edge.node.registered", "id-a", "c")
			require.NoError(t, p.Publish(t.Context(), m))
			require.JSONEq(t, string(m.Body), string(receive(t, ch).Body))
			require.Equal(t, tc.want, b.logins()[1], "the publisher's CONNECT (after the subscriber's)")
			require.Len(t, b.logins(), 2)
		})
	}

	wrong := []struct {
		name, secret string
		env          map[string]string
	}{
		{"wrong password", "wrong-pass-word", map[string]string{EnvUsername: user, EnvPassword: "wrong-pass-word"}},
		{"wrong jwt", "eyJ.wrong-token.sig", map[string]string{EnvJWT: "eyJ.wrong-token.sig"}},
		{"no credentials", "", nil},
	}
	for _, tc := range wrong {
		t.Run(tc.name, func(t *testing.T) {
			b := startMochi(t, nil, auth)
			env := map[string]string{EnvURL: b.addr}
			for k, v := range tc.env {
				env[k] = v
			}
			p := build(t, env, nil)
			err := p.Connect(t.Context())
			var re *RefusedError
			require.ErrorAs(t, err, &re)
			require.Contains(t, []byte{4, 5}, re.Code)
			require.ErrorContains(t, err, "connect to "+b.addr+": broker refused the connection")
			if tc.secret != "" {
				require.NotContains(t, err.Error(), tc.secret)
			}
			require.NotContains(t, err.Error(), pass)
			require.ErrorIs(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "x", "c")), ErrNotConnected)
		})
	}
}

// TestMosquittoLogin: the machine's Mosquitto (anonymous allowed) accepts a JWT sent
// with a zero-length user name, as the seed's JWT mode without a user name does.
func TestMosquittoLogin(t *testing.T) {
	adaptertest.NeedService(t, "Mosquitto", mosquittoAddr)
	ch := subscribe(t, mosquittoAddr, nil)
	p := build(t, map[string]string{EnvURL: mosquittoAddr, EnvJWT: "eyJhbGciOiJub25lIn0.e30."}, nil)
	require.NoError(t, p.Connect(t.Context()))
	m := lifecycletest.Message("edge.node.started", "id-mq", "c")
	require.NoError(t, p.Publish(t.Context(), m))
	require.JSONEq(t, string(m.Body), string(receive(t, ch).Body))
}

// TestFileErrors: a missing JWT file, CA file or key file fails Connect naming it.
func TestFileErrors(t *testing.T) {
	pki := newPKI(t)
	missing := t.TempDir() + "/missing.pem"
	for _, tc := range []struct {
		name string
		env  map[string]string
		yaml func(*Config)
		want string
	}{
		{"cacert not pem", map[string]string{EnvSSL: "1", EnvCACertFile: pki.keyFile}, nil, "no PEM certificate"},
		{"pair mismatch", map[string]string{EnvSSL: "1", EnvClientCertFile: pki.certFile, EnvClientKeyFile: pki.caFile}, nil, EnvClientCertFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{EnvURL: "127.0.0.1:1"}
			for k, v := range tc.env {
				env[k] = v
			}
			err := build(t, env, tc.yaml).Connect(t.Context())
			require.ErrorContains(t, err, tc.want)
			require.False(t, strings.Contains(err.Error(), "BEGIN"), "file content in the error")
		})
	}
	// A file that Validate found but that is gone at Connect: read again there.
	jwt := writeFile(t, t.TempDir(), "jwt", []byte("eyJ.a.b"))
	p := build(t, map[string]string{EnvURL: "127.0.0.1:1"}, func(c *Config) { c.JWTFile = jwt })
	require.NoError(t, os.Remove(jwt))
	require.ErrorContains(t, p.Connect(t.Context()), "events.mqtt.jwt_file")
	_ = missing
}

var _ lifecycle.Config = (*Config)(nil)
