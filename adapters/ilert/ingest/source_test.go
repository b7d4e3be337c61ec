package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/ilert/ingest"
)

func newSourceServer(t *testing.T, cfg ingest.Config) (*ingest.Source, string) {
	t.Helper()
	m := adaptertest.NewMux()
	src, err := ingest.NewSource(cfg, adapters.Deps{Name: "proxy", HTTP: m, Now: time.Now})
	require.NoError(t, err)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return src, srv.URL
}

func post(t *testing.T, url, token string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+ingest.PathEvents, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestSourceConformance(t *testing.T) {
	var mu sync.Mutex
	var url string
	adaptertest.RunSource(t, adaptertest.SourceHarness{
		New: func(t *testing.T) adapters.Source {
			src, u := newSourceServer(t, ingest.DefaultConfig())
			mu.Lock()
			url = u
			mu.Unlock()
			return src
		},
		Inject: func(t *testing.T, payload []byte) {
			mu.Lock()
			u := url
			mu.Unlock()
			body := fmt.Appendf(nil, `{"integrationKey":"k","eventType":"ALERT","summary":"s","customDetails":%s}`, payload)
			// The upstream is the HTTP client: a refused event is answered 503, and
			// the client sends it again, as ilert's clients do.
			for range 100 {
				if post(t, u, "", body) != http.StatusServiceUnavailable {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Errorf("the source answered 503 to 100 posts of %s", payload)
		},
		Redelivers: true,
	})
}

func TestSourceServesOnlyWhileRunning(t *testing.T) {
	cfg := ingest.DefaultConfig()
	cfg.Token = "s3cret"
	src, url := newSourceServer(t, cfg)
	body := []byte(`{"apiKey":"il1api123","eventType":"ALERT","summary":"Server down","alertKey":"host-1"}`)

	require.Equal(t, http.StatusServiceUnavailable, post(t, url, "s3cret", body), "not running yet")

	rec := adaptertest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, rec) }()
	require.Eventually(t, func() bool { return post(t, url, "s3cret", body) == http.StatusOK }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, http.StatusUnauthorized, post(t, url, "wrong", body))
	require.Equal(t, http.StatusUnauthorized, post(t, url, "", body))
	evs := rec.Accepted()
	require.NotEmpty(t, evs)
	require.Equal(t, "proxy", evs[0].Source)
	require.Equal(t, "host-1", evs[0].Key)

	cancel()
	require.NoError(t, <-done)
	require.Equal(t, http.StatusServiceUnavailable, post(t, url, "s3cret", body), "stopped")
}

func TestSourceMountsOnce(t *testing.T) {
	m := adaptertest.NewMux()
	_, err := ingest.NewSource(ingest.DefaultConfig(), adapters.Deps{Name: "a", HTTP: m})
	require.NoError(t, err)
	_, err = ingest.NewSource(ingest.DefaultConfig(), adapters.Deps{Name: "b", HTTP: m})
	require.ErrorContains(t, err, "only one ilert_http source")
	_, err = ingest.NewSource(ingest.DefaultConfig(), adapters.Deps{Name: "c"})
	require.ErrorContains(t, err, "http.listen")
}
