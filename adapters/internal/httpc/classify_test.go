package httpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
)

func TestClassify(t *testing.T) {
	future := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		code       int
		header     http.Header
		body       string
		wantNil    bool
		permanent  bool
		wantDelay  bool
		minDelay   time.Duration
		maxDelay   time.Duration
		wantInText string
	}{
		{name: "200", code: 200, wantNil: true},
		{name: "201", code: 201, wantNil: true},
		{name: "202", code: 202, wantNil: true},
		{name: "204", code: 204, wantNil: true},
		{name: "299", code: 299, wantNil: true},
		{name: "100 unhandled", code: 100, permanent: true, wantInText: "status 100"},
		{name: "301 not followed", code: 301, header: http.Header{"Location": {"https://u:pw@other.example/x"}},
			permanent: true, wantInText: "status 301 Moved Permanently to https://other.example/x"},
		{name: "302", code: 302, permanent: true},
		{name: "304", code: 304, permanent: true},
		{name: "307", code: 307, permanent: true},
		{name: "400", code: 400, body: `{"error":"bad field"}`, permanent: true,
			wantInText: `status 400 Bad Request: {"error":"bad field"}`},
		{name: "401", code: 401, permanent: true, wantInText: "status 401 Unauthorized"},
		{name: "403", code: 403, permanent: true},
		{name: "404", code: 404, permanent: true},
		{name: "409", code: 409, permanent: true},
		{name: "413", code: 413, permanent: true, wantInText: "status 413 Request Entity Too Large"},
		{name: "422", code: 422, permanent: true},
		{name: "408 retryable", code: 408},
		{name: "429 retryable", code: 429},
		{name: "429 retry-after seconds", code: 429, header: http.Header{"Retry-After": {"30"}},
			wantDelay: true, minDelay: 30 * time.Second, maxDelay: 30 * time.Second},
		{name: "429 retry-after date", code: 429, header: http.Header{"Retry-After": {future}},
			wantDelay: true, minDelay: time.Minute, maxDelay: 2 * time.Minute},
		{name: "429 retry-after garbage ignored", code: 429, header: http.Header{"Retry-After": {"soon"}}},
		{name: "500", code: 500, body: "boom", wantInText: "status 500 Internal Server Error: boom"},
		{name: "502", code: 502},
		{name: "503 retry-after zero", code: 503, header: http.Header{"Retry-After": {"0"}},
			wantDelay: true, minDelay: 0, maxDelay: 0},
		{name: "503 retry-after capped", code: 503, header: http.Header{"Retry-After": {"99999999"}},
			wantDelay: true, minDelay: MaxRetryAfter, maxDelay: MaxRetryAfter},
		{name: "504", code: 504},
		{name: "599", code: 599, wantInText: "status 599"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			err := Classify(&http.Response{StatusCode: tc.code, Header: h}, []byte(tc.body))
			if tc.wantNil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.permanent, adapters.IsPermanent(err), "permanent")
			var se *StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.code, se.StatusCode)
			d, ok := adapters.RetryDelay(err)
			require.Equal(t, tc.wantDelay, ok, "retry-after hint present")
			if tc.wantDelay {
				require.GreaterOrEqual(t, d, tc.minDelay)
				require.LessOrEqual(t, d, tc.maxDelay)
			}
			if tc.wantInText != "" {
				require.Contains(t, err.Error(), tc.wantInText)
			}
			require.NotContains(t, err.Error(), "pw")
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"  ", 0, false},
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"Sat, 01 Mar 2025 12:01:30 GMT", 90 * time.Second, true},
		{"Saturday, 01-Mar-25 12:00:10 GMT", 10 * time.Second, true}, // RFC 850
		{"Sat Mar  1 12:00:20 2025", 20 * time.Second, true},         // ANSI C asctime
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0, true},                   // in the past
		{"Sun, 02 Mar 2025 13:00:00 GMT", MaxRetryAfter, true},
		{"tomorrow", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParseRetryAfter(tc.in, now)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain", "hello", "hello"},
		{"whitespace collapses", "  a\n\n\tb\r\n", "a b"},
		{"control and invalid utf8", "a\x00\x1b[31mb\xff\xfec", "a [31mb c"},
		{"exactly limit", strings.Repeat("b", 256), strings.Repeat("b", 256)},
		{"long is cut", long, strings.Repeat("a", 253) + "..."},
		{"rune not split", strings.Repeat("a", 252) + strings.Repeat("é", 10), strings.Repeat("a", 252) + "..."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Excerpt([]byte(tc.in), MaxExcerpt)
			require.Equal(t, tc.want, got)
			require.LessOrEqual(t, len(got), MaxExcerpt)
		})
	}
}

func TestClassifyTransport(t *testing.T) {
	require.NoError(t, ClassifyTransport(nil))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now: connection refused

	c, err := NewClient(5*time.Second, TLSConfig{})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, "http://alice:hunter2@"+addr+"/hook", nil)
	require.NoError(t, err)
	_, err = c.Do(req)
	require.Error(t, err)
	cerr := ClassifyTransport(err)
	require.False(t, adapters.IsPermanent(cerr))
	require.NotContains(t, cerr.Error(), "hunter2")
	require.NotContains(t, cerr.Error(), "alice")
	require.Contains(t, cerr.Error(), "http://"+addr+"/hook")
	var opErr *net.OpError
	require.ErrorAs(t, cerr, &opErr, "the cause stays reachable")

	cerr = ClassifyTransport(fmt.Errorf("wrapped: %w", context.Canceled))
	require.ErrorIs(t, cerr, context.Canceled)
	require.False(t, adapters.IsPermanent(cerr))
}

func TestDoTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	c, err := NewClient(50*time.Millisecond, TLSConfig{})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	_, _, err = Do(c, req, 1024)
	require.Error(t, err)
	require.False(t, adapters.IsPermanent(err))
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "a timeout: %v", err)
}

func TestDoDoesNotFollowRedirects(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(target.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	t.Cleanup(srv.Close)

	c, err := NewClient(5*time.Second, TLSConfig{})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("x"))
	require.NoError(t, err)
	resp, _, err := Do(c, req, 1024)
	require.Error(t, err)
	require.True(t, adapters.IsPermanent(err))
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Contains(t, err.Error(), "redirects are not followed")
	require.Zero(t, hits.Load())
}
