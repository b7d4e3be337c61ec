package googlepubsub

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// redirector answers every request with a 307 to another server, which counts the
// requests that reach it (none may).
func redirector(t *testing.T) (from *httptest.Server, reached *atomic.Int32) {
	reached = new(atomic.Int32)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(target.Close)
	from = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(from.Close)
	return from, reached
}

// TestTokenRedirectNotFollowed is the reviewer's finding: on a 307 the token
// request's body (the refresh token and client secret, or the signed assertion)
// was resent to another host. Now the 3xx is the error, naming the status.
func TestTokenRedirectNotFollowed(t *testing.T) {
	for _, user := range []bool{false, true} {
		f := newFake(t)
		s := newSetup(t, f)
		from, reached := redirector(t)
		if user {
			s.env[EnvCredentials] = authorizedUserFile(t, t.TempDir(), from.URL+"/token")
		} else {
			good, _ := testKeys(t)
			s.env[EnvCredentials] = serviceAccountFile(t, good, false, from.URL+"/token")
		}
		for _, own := range []bool{false, true} {
			if own {
				s.client = nil
			}
			err := s.build(t).Connect(t.Context())
			require.Error(t, err)
			require.ErrorContains(t, err, "307 Temporary Redirect (a redirect, not followed")
			require.NotContains(t, err.Error(), testClientSecret)
			require.NotContains(t, err.Error(), testRefresh)
			require.Zero(t, reached.Load(), "authorized user %v, own client %v", user, own)
		}
	}
}

// TestMetadataRedirectNotFollowed: the metadata server's answer is not followed.
func TestMetadataRedirectNotFollowed(t *testing.T) {
	f := newFake(t)
	s := newSetup(t, f)
	from, reached := redirector(t)
	delete(s.env, EnvCredentials)
	s.env[EnvMetadataHost] = strings.TrimPrefix(from.URL, "http://")
	err := s.build(t).Connect(t.Context())
	require.Error(t, err)
	require.ErrorContains(t, err, "307 Temporary Redirect (a redirect, not followed")
	require.Zero(t, reached.Load())
}

// TestPublishRedirectNotFollowed: the publish, with its bearer token, is not
// resent; the error names the status.
func TestPublishRedirectNotFollowed(t *testing.T) {
	f := newFake(t)
	s := newSetup(t, f)
	from, reached := redirector(t)
	s.endpoint = from.URL
	p := s.build(t)
	require.NoError(t, p.Connect(t.Context()))
	err := p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-r", "c"))
	require.Error(t, err)
	require.ErrorContains(t, err, ": 307: a redirect, not followed")
	require.Zero(t, reached.Load())
}

// TestMetadataHostCheckedAtConnect: GCE_METADATA_HOST is read when credentials
// are resolved (through Deps.Env): a value with user info, a scheme or a path is
// an error naming it there too, never sent.
func TestMetadataHostCheckedAtConnect(t *testing.T) {
	f := newFake(t)
	s := newSetup(t, f)
	delete(s.env, EnvCredentials)
	p := s.build(t)
	pp := p.(*Publisher)
	pp.d.Env = func(name string) (string, bool) {
		if name == EnvMetadataHost {
			return "md-s3cret@" + f.plainHost(), true
		}
		v, ok := s.env[name]
		return v, ok
	}
	err := p.Connect(t.Context())
	require.Error(t, err)
	require.ErrorContains(t, err, EnvMetadataHost+": \"***@")
	require.NotContains(t, err.Error(), "md-s3cret")
	require.Empty(t, f.grants)
}
