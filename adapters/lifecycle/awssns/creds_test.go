package awssns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
)

// issuer hands out temporary credentials, registering each pair with the fake
// SNS, so a test sees which issue signed a request.
type issuer struct {
	sns      *fakeSNS
	now      func() time.Time
	lifetime time.Duration
	prefix   string

	mu     sync.Mutex // guards n and broken
	n      int
	broken bool
}

func (is *issuer) issue() (id, key, token string, exp time.Time, ok bool) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.broken {
		return "", "", "", time.Time{}, false
	}
	is.n++
	id = fmt.Sprintf("%s%d", is.prefix, is.n)
	key = fmt.Sprintf("temporary/secret+%d-%s", is.n, is.prefix)
	token = fmt.Sprintf("IQoJb3JpZ2luX2VjE%dTOKEN%s==", is.n, is.prefix)
	is.sns.addKey(id, fakeKey{secret: key, token: token})
	return id, key, token, is.now().Add(is.lifetime), true
}

func (is *issuer) count() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.n
}

func (is *issuer) setBroken(b bool) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.broken = b
}

func (is *issuer) jsonCreds(w http.ResponseWriter) {
	id, key, tok, exp, ok := is.issue()
	if !ok {
		http.Error(w, "unavailable", http.StatusInternalServerError)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{
		"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": id, "SecretAccessKey": key,
		"Token": tok, "Expiration": exp.UTC().Format(time.RFC3339), "LastUpdated": is.now().UTC().Format(time.RFC3339),
	})
}

// fakeIMDS plays IMDSv2: a PUT for a session token, then the role list and the
// role's credentials with that token only.
func fakeIMDS(t *testing.T, is *issuer) *httptest.Server {
	const tok = "AQAEAimds-session-token=="
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
				http.Error(w, "missing ttl", http.StatusBadRequest)
				return
			}
			io.WriteString(w, tok)
		case r.Method != http.MethodGet:
			http.Error(w, "method", http.StatusMethodNotAllowed)
		case r.Header.Get("X-aws-ec2-metadata-token") != tok:
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
			io.WriteString(w, "edge-gateway-role\n")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/edge-gateway-role":
			is.jsonCreds(w)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// dialTo is a client that connects to target whatever address a request names,
// for the chain's fixed link-local addresses.
func dialTo(t *testing.T, target string) *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, target)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func depsClock(t *testing.T, e map[string]string, clk clock.Clock) *lifecycle.Deps {
	d := deps(t, e)
	d.Clock = clk
	return &d
}

func TestIMDSv2AndRefresh(t *testing.T) {
	clk := clocktest.NewFake(time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC))
	f := newFakeSNS(t, testRegion, nil)
	f.now = clk.Now
	is := &issuer{sns: f, now: clk.Now, lifetime: time.Hour, prefix: "ASIAIMDS"}
	imds := fakeIMDS(t, is)
	e := env(t, EnvIMDSDisabled, "false", EnvIMDSEndpoint, imds.URL)
	p := build(t, f.srv.URL, e, depsClock(t, e, clk))

	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, publishOne(t, p, "i-1"))
	require.Equal(t, 1, is.count())
	clk.Advance(50 * time.Minute) // 10 minutes left: still used
	require.NoError(t, publishOne(t, p, "i-2"))
	require.Equal(t, 1, is.count())
	clk.Advance(6 * time.Minute) // 4 minutes left: fetched again before Expiration
	require.NoError(t, publishOne(t, p, "i-3"))
	require.Equal(t, 2, is.count())
	require.Equal(t, []string{"ASIAIMDS1", "ASIAIMDS1", "ASIAIMDS1", "ASIAIMDS2"}, f.keysSeen(),
		"Connect's check and the first two publishes with the first issue, the third with the second")

	// A refresh that fails while the current credentials still work keeps them.
	clk.Advance(57 * time.Minute)
	is.setBroken(true)
	require.NoError(t, publishOne(t, p, "i-4"))
	require.Equal(t, "ASIAIMDS2", f.keysSeen()[4])
	// Once they have expired, Publish fails, saying why.
	clk.Advance(5 * time.Minute)
	err := publishOne(t, p, "i-5")
	require.Error(t, err)
	require.Contains(t, err.Error(), "instance metadata")
	require.Contains(t, err.Error(), "HTTP 500")
	is.setBroken(false)
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, publishOne(t, p, "i-6"))
}

func TestIMDSDefaultAddress(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	is := &issuer{sns: f, now: time.Now, lifetime: time.Hour, prefix: "ASIADEF"}
	imds := fakeIMDS(t, is)
	e := env(t, EnvIMDSDisabled, "")
	d := deps(t, e)
	// Every connection goes to the fake: the fake SNS too, via its Host.
	d.HTTP = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var dd net.Dialer
		if addr == "169.254.169.254:80" {
			return dd.DialContext(ctx, network, imds.Listener.Addr().String())
		}
		return dd.DialContext(ctx, network, addr)
	}}}
	t.Cleanup(d.HTTP.CloseIdleConnections)
	p := build(t, f.srv.URL, e, &d)
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, publishOne(t, p, "def-1"))
	require.Equal(t, 1, is.count())
}

func TestIMDSDisabled(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	is := &issuer{sns: f, now: time.Now, lifetime: time.Hour, prefix: "ASIANO"}
	imds := fakeIMDS(t, is)
	e := env(t, EnvIMDSDisabled, "true", EnvIMDSEndpoint, imds.URL)
	p := build(t, f.srv.URL, e, nil)
	err := p.Connect(t.Context())
	require.ErrorIs(t, err, ErrNoCredentials)
	for _, s := range []string{EnvAccessKeyID, EnvSecretAccessKey, "disabled by " + EnvIMDSDisabled, "shared credentials file"} {
		require.Contains(t, err.Error(), s)
	}
	require.Equal(t, 0, is.count())
}

func TestIMDSWithoutRole(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			io.WriteString(w, "tok")
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	e := env(t, EnvIMDSDisabled, "", EnvIMDSEndpoint, srv.URL)
	p := build(t, "http://127.0.0.1:1/", e, nil)
	err := p.Connect(t.Context())
	require.ErrorIs(t, err, ErrNoCredentials)
	require.Contains(t, err.Error(), "the instance has no IAM role")
}

func TestContainerCredentials(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	is := &issuer{sns: f, now: time.Now, lifetime: time.Hour, prefix: "ASIAECS"}
	const authz = "Bearer eks-pod-identity-token-0123456789"
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		if r.URL.Path != "/v2/credentials/abc" {
			http.NotFound(w, r)
			return
		}
		if a := r.Header.Get("Authorization"); a != "" && a != authz {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		is.jsonCreds(w)
	}))
	t.Cleanup(srv.Close)
	tokFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokFile, []byte(authz+"\n"), 0o600))

	for _, tc := range []struct {
		name string
		env  []string
		http *http.Client
		want string
	}{
		{"FullURIAndToken", []string{EnvContainerFullURI, srv.URL + "/v2/credentials/abc", EnvContainerToken, authz}, nil, "/v2/credentials/abc " + authz},
		{"FullURIAndTokenFile", []string{EnvContainerFullURI, srv.URL + "/v2/credentials/abc", EnvContainerTokenFile, tokFile, EnvContainerToken, "ignored"}, nil, "/v2/credentials/abc " + authz},
		{"RelativeURI", []string{EnvContainerRelativeURI, "/v2/credentials/abc"}, dialTo(t, srv.Listener.Addr().String()), "/v2/credentials/abc "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env(t, tc.env...)
			var d *lifecycle.Deps
			if tc.http != nil {
				dd := deps(t, e)
				// SNS and the container agent through one client: SNS by its
				// own address, the agent's fixed address to the fake.
				agent := srv.Listener.Addr().String()
				dd.HTTP = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					var nd net.Dialer
					if addr == containerHost+":80" {
						addr = agent
					}
					return nd.DialContext(ctx, network, addr)
				}}}
				t.Cleanup(dd.HTTP.CloseIdleConnections)
				d = &dd
			}
			before := is.count()
			p := build(t, f.srv.URL, e, d)
			require.NoError(t, p.Connect(t.Context()))
			require.NoError(t, publishOne(t, p, "c-"+tc.name))
			require.Equal(t, before+1, is.count())
			mu.Lock()
			require.Equal(t, tc.want, seen[len(seen)-1])
			mu.Unlock()
		})
	}
	t.Run("PlainHTTPElsewhereRefused", func(t *testing.T) {
		e := env(t, EnvContainerFullURI, "http://198.51.100.7/creds")
		p := build(t, f.srv.URL, e, nil)
		err := p.Connect(t.Context())
		require.Error(t, err)
		require.Contains(t, err.Error(), EnvContainerFullURI)
	})
	t.Run("WrongTokenNotShown", func(t *testing.T) {
		const bad = "Bearer not-the-right-token-987654321"
		e := env(t, EnvContainerFullURI, srv.URL+"/v2/credentials/abc", EnvContainerToken, bad)
		p := build(t, f.srv.URL, e, nil)
		err := p.Connect(t.Context())
		require.Error(t, err)
		require.Contains(t, err.Error(), "HTTP 403")
		require.NotContains(t, err.Error(), "not-the-right-token")
	})
}

func TestWebIdentity(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	is := &issuer{sns: f, now: time.Now, lifetime: time.Hour, prefix: "ASIASTS"}
	const role = "arn:aws:iam::123456789012:role/edge-gateway"
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJnYXRld2F5In0.c2lnbmF0dXJlLXZhbHVl"
	var mu sync.Mutex
	var sessions []string
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(body))
		fail := func(status int, code, msg string) {
			w.WriteHeader(status)
			fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>x</RequestId></ErrorResponse>`, code, html.EscapeString(msg))
		}
		switch {
		case err != nil || r.Method != http.MethodPost:
			fail(400, "MalformedQueryString", "bad form")
		case r.Header.Get("Authorization") != "":
			fail(400, "InvalidParameterCombination", "AssumeRoleWithWebIdentity is not signed")
		case form.Get("Action") != "AssumeRoleWithWebIdentity" || form.Get("Version") != "2011-06-15":
			fail(400, "InvalidAction", form.Get("Action"))
		case form.Get("RoleArn") != role:
			fail(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
		case form.Get("WebIdentityToken") != jwt:
			fail(400, "InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider for token "+form.Get("WebIdentityToken"))
		default:
			mu.Lock()
			sessions = append(sessions, form.Get("RoleSessionName"))
			mu.Unlock()
			id, key, tok, exp, _ := is.issue()
			fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials><SubjectFromWebIdentityToken>gateway</SubjectFromWebIdentityToken></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
				id, html.EscapeString(key), html.EscapeString(tok), exp.UTC().Format(time.RFC3339))
		}
	}))
	t.Cleanup(sts.Close)
	tokFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokFile, []byte(jwt+"\n"), 0o600))

	t.Run("Assumes", func(t *testing.T) {
		e := env(t, EnvWebIdentityTokenFile, tokFile, EnvRoleARN, role, EnvRoleSessionName, "gw-17", EnvEndpointSTS, sts.URL)
		p := build(t, f.srv.URL, e, nil)
		require.NoError(t, p.Connect(t.Context()))
		require.NoError(t, publishOne(t, p, "wi-1"))
		mu.Lock()
		require.Equal(t, []string{"gw-17"}, sessions)
		mu.Unlock()
		require.Equal(t, "ASIASTS1", f.keysSeen()[len(f.keysSeen())-1])
	})
	t.Run("DefaultSessionName", func(t *testing.T) {
		e := env(t, EnvWebIdentityTokenFile, tokFile, EnvRoleARN, role, EnvEndpointSTS, sts.URL)
		p := build(t, f.srv.URL, e, nil)
		require.NoError(t, p.Connect(t.Context()))
		mu.Lock()
		require.Regexp(t, `^edgerelay-\d+$`, sessions[len(sessions)-1])
		mu.Unlock()
	})
	t.Run("RejectedTokenNotShown", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad")
		require.NoError(t, os.WriteFile(bad, []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJldmUifQ.forged-signature"), 0o600))
		e := env(t, EnvWebIdentityTokenFile, bad, EnvRoleARN, role, EnvEndpointSTS, sts.URL)
		p := build(t, f.srv.URL, e, nil)
		err := p.Connect(t.Context())
		require.Error(t, err)
		require.Contains(t, err.Error(), "InvalidIdentityToken")
		require.NotContains(t, err.Error(), "forged-signature")
	})
	t.Run("RoleMissing", func(t *testing.T) {
		e := env(t, EnvWebIdentityTokenFile, tokFile, EnvEndpointSTS, sts.URL)
		p := build(t, f.srv.URL, e, nil)
		err := p.Connect(t.Context())
		require.Error(t, err)
		require.Contains(t, err.Error(), EnvRoleARN)
	})
}

func TestSharedCredentialsFile(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	f.addKey("AKIADEFAULTPROFILE", fakeKey{secret: "default/secret/key/value/0000000000000000"})
	f.addKey("ASIAOTHERPROFILE", fakeKey{secret: "other/secret/key/value/1111111111111111", token: "other-session-token=="})
	content := `# edge gateway credentials
[default]
aws_access_key_id = AKIADEFAULTPROFILE
aws_secret_access_key=default/secret/key/value/0000000000000000

; a second profile
[ other ]
aws_access_key_id     = ASIAOTHERPROFILE
aws_secret_access_key = other/secret/key/value/1111111111111111
aws_session_token     = other-session-token==
region = us-west-2
`
	home := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".aws"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte(content), 0o600))
	elsewhere := filepath.Join(t.TempDir(), "creds.ini")
	require.NoError(t, os.WriteFile(elsewhere, []byte(content), 0o600))

	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"HomeDefaultProfile", []string{"HOME", home}, "AKIADEFAULTPROFILE"},
		{"HomeNamedProfile", []string{"HOME", home, EnvProfile, "other"}, "ASIAOTHERPROFILE"},
		{"FileVariable", []string{EnvSharedCredentials, elsewhere, EnvProfile, "other"}, "ASIAOTHERPROFILE"},
		{"EnvironmentFirst", []string{"HOME", home, EnvAccessKeyID, testKeyID, EnvSecretAccessKey, testSecret}, testKeyID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.addKey(testKeyID, fakeKey{secret: testSecret})
			p := build(t, f.srv.URL, env(t, tc.env...), nil)
			require.NoError(t, p.Connect(t.Context()))
			require.NoError(t, publishOne(t, p, "sh-"+tc.name))
			require.Equal(t, tc.want, f.keysSeen()[len(f.keysSeen())-1])
		})
	}
	t.Run("NamedProfileMissing", func(t *testing.T) {
		p := build(t, f.srv.URL, env(t, EnvSharedCredentials, elsewhere, EnvProfile, "prod"), nil)
		err := p.Connect(t.Context())
		require.Error(t, err)
		require.Contains(t, err.Error(), "no profile [prod]")
		require.NotContains(t, err.Error(), "0000000000000000")
	})
	t.Run("ProfileFromYAML", func(t *testing.T) {
		spec, _ := lifecycle.Lookup(Name)
		cfg := spec.NewConfig().(*Config)
		cfg.Profile = "other"
		require.NoError(t, cfg.ApplyEnv(lifecycle.MapEnv(map[string]string{
			EnvRegion: testRegion, EnvTopicARNPrefix: fakePrefix(testRegion), EnvEndpointSNS: f.srv.URL,
		})))
		p, err := cfg.Build(deps(t, env(t, EnvSharedCredentials, elsewhere)))
		require.NoError(t, err)
		defer p.Close()
		require.NoError(t, p.Connect(t.Context()))
		require.Equal(t, "ASIAOTHERPROFILE", f.keysSeen()[len(f.keysSeen())-1])
	})
}

func TestStaticKeysFromYAML(t *testing.T) {
	f := newFakeSNS(t, testRegion, nil)
	f.addKey(testKeyID, fakeKey{secret: testSecret})
	spec, _ := lifecycle.Lookup(Name)
	cfg := spec.NewConfig().(*Config)
	cfg.AccessKeyID, cfg.SecretAccessKey = testKeyID, testSecret
	cfg.Region, cfg.TopicARNPrefix, cfg.Endpoint = testRegion, fakePrefix(testRegion), f.srv.URL
	require.NoError(t, cfg.Validate())
	require.Equal(t, []string{testSecret}, cfg.Secrets())
	p, err := cfg.Build(lifecycle.Deps{Log: slog.Default(), Clock: clock.Real, Env: lifecycle.MapEnv(env(t)), HTTP: newTestClient(t)})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, publishOne(t, p, "y-1"))
}

func TestPartialEnvironmentKeys(t *testing.T) {
	p := build(t, "http://127.0.0.1:1/", env(t), depsPtr(t, env(t, EnvAccessKeyID, testKeyID)))
	err := p.Connect(t.Context())
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrNoCredentials))
	require.Contains(t, err.Error(), EnvSecretAccessKey)
}

func depsPtr(t *testing.T, e map[string]string) *lifecycle.Deps { d := deps(t, e); return &d }
