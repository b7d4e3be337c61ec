package awssns

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// redirector answers every request with status to target; target counts the
// requests that reach it (none may).
func redirector(t *testing.T, status int) (from *httptest.Server, reached *atomic.Int32) {
	reached = new(atomic.Int32)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(target.Close)
	from = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", status)
	}))
	t.Cleanup(from.Close)
	return from, reached
}

// TestSNSRedirectNotFollowed is the reviewer's finding: the adapter's client
// followed redirects, resending X-Amz-Security-Token (and on 307/308 the body) to
// another address. A 3xx is now an error naming the status; the target sees
// nothing, with the daemon's client and with the adapter's own.
func TestSNSRedirectNotFollowed(t *testing.T) {
	for _, own := range []bool{false, true} {
		for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			from, reached := redirector(t, status)
			e := env(t, EnvAccessKeyID, testKeyID, EnvSecretAccessKey, testSecret, EnvSessionToken, "session-token-not-to-leak")
			d := deps(t, e)
			if own {
				d.HTTP = nil
			}
			p := build(t, from.URL, e, &d)
			err := p.Connect(t.Context())
			require.Error(t, err)
			require.Contains(t, err.Error(), "HTTP "+strconv.Itoa(status))
			require.Contains(t, err.Error(), "redirect, not followed")
			err = publishOne(t, p, "r-1")
			require.Error(t, err)
			require.Contains(t, err.Error(), "HTTP "+strconv.Itoa(status))
			require.Zero(t, reached.Load(), "own client %v, status %d: the redirect was followed", own, status)
		}
	}
}

// TestSTSRedirectNotFollowed: the STS AssumeRoleWithWebIdentity POST, whose body
// is the web identity token, is not resent on a 307.
func TestSTSRedirectNotFollowed(t *testing.T) {
	from, reached := redirector(t, http.StatusTemporaryRedirect)
	tokFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokFile, []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJndyJ9.c2ln\n"), 0o600))
	e := env(t, EnvWebIdentityTokenFile, tokFile, EnvRoleARN, "arn:aws:iam::123456789012:role/gw", EnvEndpointSTS, from.URL)
	p := build(t, "http://127.0.0.1:1/", e, nil)
	err := p.Connect(t.Context())
	require.Error(t, err)
	require.Contains(t, err.Error(), "HTTP 307 (a redirect, not followed")
	require.NotContains(t, err.Error(), "c2ln")
	require.Zero(t, reached.Load())
}

// TestIMDSRedirectNotFollowed: the instance metadata token request is not resent.
func TestIMDSRedirectNotFollowed(t *testing.T) {
	from, reached := redirector(t, http.StatusTemporaryRedirect)
	e := env(t, EnvIMDSDisabled, "false", EnvIMDSEndpoint, from.URL)
	p := build(t, "http://127.0.0.1:1/", e, nil)
	err := p.Connect(t.Context())
	require.Error(t, err)
	require.Contains(t, err.Error(), "instance metadata token: HTTP 307 (a redirect, not followed")
	require.Zero(t, reached.Load())
}
