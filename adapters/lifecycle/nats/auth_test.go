package nats

import (
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// operatorServer starts a server in operator (JWT) mode with one account and
// returns it, with a user JWT and seed of that account.
func operatorServer(t *testing.T) (s *server.Server, userJWT, userSeed string) {
	t.Helper()
	op, err := nkeys.CreateOperator()
	require.NoError(t, err)
	opPub, _ := op.PublicKey()
	opClaims := jwt.NewOperatorClaims(opPub)
	_, err = opClaims.Encode(op)
	require.NoError(t, err)

	acc, err := nkeys.CreateAccount()
	require.NoError(t, err)
	accPub, _ := acc.PublicKey()
	accJWT, err := jwt.NewAccountClaims(accPub).Encode(op)
	require.NoError(t, err)

	sys, err := nkeys.CreateAccount()
	require.NoError(t, err)
	sysPub, _ := sys.PublicKey()
	sysJWT, err := jwt.NewAccountClaims(sysPub).Encode(op)
	require.NoError(t, err)

	user, err := nkeys.CreateUser()
	require.NoError(t, err)
	userPub, _ := user.PublicKey()
	uc := jwt.NewUserClaims(userPub)
	userJWT, err = uc.Encode(acc)
	require.NoError(t, err)
	seed, err := user.Seed()
	require.NoError(t, err)

	res := &server.MemAccResolver{}
	require.NoError(t, res.Store(accPub, accJWT))
	require.NoError(t, res.Store(sysPub, sysJWT))
	s = runServer(t, &server.Options{
		TrustedOperators: []*jwt.OperatorClaims{opClaims},
		AccountResolver:  res,
		SystemAccount:    sysPub,
	})
	return s, userJWT, string(seed)
}

func newUserKey(t *testing.T) (seed, pub string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	s, err := kp.Seed()
	require.NoError(t, err)
	pub, err = kp.PublicKey()
	require.NoError(t, err)
	return string(s), pub
}

// TestAuth connects and publishes with every credential of the seed, and with
// several set (the precedence), each against a server that accepts only it.
func TestAuth(t *testing.T) {
	seed, pub := newUserKey(t)
	jwtServer, userJWT, userSeed := operatorServer(t)
	tokenServer := runServer(t, &server.Options{Authorization: "s3cret-token-1"})
	userServer := runServer(t, &server.Options{Username: "edge", Password: "s3cret-password-1"})
	nkeyServer := runServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	addr := func(s *server.Server) string { return s.ClientURL() }
	for _, tc := range []struct {
		name string
		srv  *server.Server
		cfg  Config
		auth Auth
	}{
		{"Token", tokenServer, Config{Token: "s3cret-token-1"}, AuthToken},
		{"UserPassword", userServer, Config{Username: "edge", Password: "s3cret-password-1"}, AuthPassword},
		{"NKeySeed", nkeyServer, Config{NKeySeed: secretOf(seed)}, AuthNKey},
		{"JWTAndSeed", jwtServer, Config{JWT: secretOf(userJWT), NKeySeed: secretOf(userSeed)}, AuthJWT},
		{"TokenWinsOverUserPassword", tokenServer,
			Config{Token: "s3cret-token-1", Username: "edge", Password: "wrong-password-1"}, AuthToken},
		{"TokenWinsOverJWT", tokenServer,
			Config{Token: "s3cret-token-1", JWT: secretOf(userJWT), NKeySeed: secretOf(userSeed)}, AuthToken},
		{"JWTWinsOverUserPassword", jwtServer,
			Config{JWT: secretOf(userJWT), NKeySeed: secretOf(userSeed), Username: "edge", Password: "wrong-password-1"}, AuthJWT},
		{"SeedWinsOverUserPassword", nkeyServer,
			Config{NKeySeed: secretOf(seed), Username: "edge", Password: "wrong-password-1"}, AuthNKey},
		// The variables win over the URL's userinfo, which nats.go would prefer.
		{"TokenWinsOverURLUserinfo", tokenServer,
			Config{URLs: []string{strings.Replace(addr(tokenServer), "nats://", "nats://old:stale@", 1)}, Token: "s3cret-token-1"}, AuthToken},
		{"TokenWinsOverURLToken", tokenServer,
			Config{URLs: []string{strings.Replace(addr(tokenServer), "nats://", "nats://stale-token@", 1)}, Token: "s3cret-token-1"}, AuthToken},
		{"PasswordWinsOverURLUserinfo", userServer,
			Config{URLs: []string{strings.Replace(addr(userServer), "nats://", "nats://old:stale@", 1)}, Username: "edge", Password: "s3cret-password-1"}, AuthPassword},
		{"SeedWinsOverURLUserinfo", nkeyServer,
			Config{URLs: []string{strings.Replace(addr(nkeyServer), "nats://", "nats://old:stale@", 1)}, NKeySeed: secretOf(seed)}, AuthNKey},
		// A half pair that loses to the token does not stop it.
		{"TokenWinsOverHalfPair", tokenServer, Config{Token: "s3cret-token-1", Username: "edge"}, AuthToken},
		{"URLUserinfo", userServer, Config{URLs: []string{strings.Replace(addr(userServer), "nats://", "nats://edge:s3cret-password-1@", 1)}}, AuthNone},
		{"URLToken", tokenServer, Config{URLs: []string{strings.Replace(addr(tokenServer), "nats://", "nats://s3cret-token-1@", 1)}}, AuthNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.URLs == nil {
				cfg.URLs = []string{addr(tc.srv)}
			}
			require.Equal(t, tc.auth, cfg.Auth())
			p := newPublisher(t, &cfg)
			require.NoError(t, p.Connect(t.Context()))
			require.NoError(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-1", "c")))
		})
	}
}

// TestWrongCredentials: a refused login is a clear error without the secret.
func TestWrongCredentials(t *testing.T) {
	seed, _ := newUserKey(t)
	jwtServer, userJWT, _ := operatorServer(t)
	otherSeed, _ := newUserKey(t)
	tokenServer := runServer(t, &server.Options{Authorization: "right-token-1"})
	userServer := runServer(t, &server.Options{Username: "edge", Password: "right-password-1"})
	_, pub := newUserKey(t)
	nkeyServer := runServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	for _, tc := range []struct {
		name   string
		srv    *server.Server
		cfg    Config
		secret string
	}{
		{"Token", tokenServer, Config{Token: "wrong-token-12345"}, "wrong-token-12345"},
		{"Password", userServer, Config{Username: "edge", Password: "wrong-password-12345"}, "wrong-password-12345"},
		{"URLPassword", userServer, Config{URLs: []string{strings.Replace(userServer.ClientURL(), "nats://", "nats://edge:wrong-url-pass-123@", 1)}}, "wrong-url-pass-123"},
		{"NKeySeed", nkeyServer, Config{NKeySeed: secretOf(seed)}, seed},
		{"JWTWithAnotherSeed", jwtServer, Config{JWT: secretOf(userJWT), NKeySeed: secretOf(otherSeed)}, otherSeed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.URLs == nil {
				cfg.URLs = []string{tc.srv.ClientURL()}
			}
			p := newPublisher(t, &cfg)
			err := p.Connect(t.Context())
			require.Error(t, err)
			t.Log(err)
			require.Contains(t, strings.ToLower(err.Error()), "authorization violation")
			require.NotContains(t, err.Error(), tc.secret)
			if cfg.JWT != "" {
				require.NotContains(t, err.Error(), cfg.JWT.Reveal())
			}
		})
	}
}
