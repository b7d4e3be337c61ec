package httpc

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWriteRequestAsRequestWrite checks that writeRequest's wire form reads back as
// the same request as http.Request.Write's, for the requests it writes itself and
// for those it leaves to req.Write.
func TestWriteRequestAsRequestWrite(t *testing.T) {
	mk := func(method, u string, body func() io.Reader, h http.Header) func() *http.Request {
		return func() *http.Request {
			var r io.Reader
			if body != nil {
				r = body()
			}
			req, err := http.NewRequest(method, u, r)
			require.NoError(t, err)
			for k, v := range h {
				req.Header[k] = v
			}
			return req
		}
	}
	for name, newReq := range map[string]func() *http.Request{
		"post json": mk(http.MethodPost, "http://alerts.example:8080/hook?x=1&y=%20", func() io.Reader { return bytes.NewReader([]byte(`{"a":1}`)) },
			http.Header{"Content-Type": {"application/json"}, "X-Many": {"a", "b c"}, "User-Agent": {"edgerelay/1"}}),
		"post empty":   mk(http.MethodPost, "http://[::1]:9/", nil, nil),
		"get":          mk(http.MethodGet, "http://alerts.example/a/b%2Fc", nil, http.Header{"Accept": {"*/*"}}),
		"put long":     mk(http.MethodPut, "http://h/", func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte("x"), 10000)) }, nil),
		"newline":      mk(http.MethodPost, "http://h/", func() io.Reader { return bytes.NewReader([]byte("x")) }, http.Header{"X-Bad": {"a\r\nInjected: 1"}}),
		"unknown size": mk(http.MethodPost, "http://h/", func() io.Reader { return io.MultiReader(strings.NewReader("chunked")) }, nil),
	} {
		t.Run(name, func(t *testing.T) {
			var want, got bytes.Buffer
			require.NoError(t, newReq().Write(&want))
			bw := bufio.NewWriter(&got)
			require.NoError(t, writeRequest(bw, newReq()))
			require.NoError(t, bw.Flush())
			a, err := http.ReadRequest(bufio.NewReader(&want))
			require.NoError(t, err)
			b, err := http.ReadRequest(bufio.NewReader(&got))
			require.NoError(t, err, got.String())
			require.Equal(t, a.Method, b.Method)
			require.Equal(t, a.RequestURI, b.RequestURI)
			require.Equal(t, a.Host, b.Host)
			require.Equal(t, a.Header, b.Header)
			require.Equal(t, a.ContentLength, b.ContentLength)
			require.Equal(t, a.TransferEncoding, b.TransferEncoding)
			ab, _ := io.ReadAll(a.Body)
			bb, _ := io.ReadAll(b.Body)
			require.Equal(t, ab, bb)
		})
	}
}

// TestWriteLightAsRequestWrite checks that writeLight writes a Request byte for byte
// as http.Request.Write writes the *http.Request the slow path builds from it (with
// the basic auth of the URL's userinfo, as send adds it).
func TestWriteLightAsRequestWrite(t *testing.T) {
	sh := NewStaticHeader(Field{"User-Agent", "edgerelay/1"}, Field{"Content-Type", "application/json"},
		Field{"X-Site", "plant 7"}, Field{"Accept", "*/*"}, Field{"X-Site", "plant-7"})
	for _, tc := range []struct {
		name, method, url string
		header            *StaticHeader
		fields            []Field
		body              string
	}{
		{"post", "POST", "http://alerts.example:8080/hook?x=1&y=%20", sh,
			[]Field{{"X-Edgerelay-Topic", "a/b"}, {"X-Edgerelay-Event-Id", "1"}, {"B-First", "b"}, {"Zz", "z"}}, `{"a":1}`},
		{"post empty", "POST", "http://[::1]:9/", sh, nil, ""},
		{"put long", "PUT", "http://h/", nil, nil, strings.Repeat("x", 10000)},
		{"get no header", "GET", "http://alerts.example/a/b%2Fc", nil, []Field{{"Accept", "*/*"}}, ""},
		{"head", "HEAD", "http://h/api/pings/p1", sh, nil, ""},
		{"empty port", "POST", "http://h:/x", sh, nil, "b"},
		{"no user agent", "POST", "http://h/", NewStaticHeader(Field{"User-Agent", ""}), nil, "b"},
		{"userinfo", "POST", "http://relay:s3cret@h/", sh, []Field{{"Aa", "1"}, {"Authorizatio", "2"}, {"B", "3"}}, "b"},
		{"userinfo only field", "POST", "http://relay:s3cret@h/", nil, nil, "b"},
		{"userinfo and auth field", "POST", "http://relay:s3cret@h/", nil, []Field{{"Authorization", "Bearer t"}}, "b"},
		{"userinfo and static auth", "POST", "http://relay@h/", NewStaticHeader(Field{"Authorization", "Bearer t"}), nil, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tgt, err := NewTarget(tc.method, tc.url)
			require.NoError(t, err)
			r := &Request{Target: tgt, Header: tc.header, Fields: tc.fields, Body: []byte(tc.body)}
			require.True(t, r.light())
			req, err := r.httpRequest(context.Background())
			require.NoError(t, err)
			if u := req.URL.User; u != nil && req.Header.Get("Authorization") == "" {
				password, _ := u.Password()
				req.SetBasicAuth(u.Username(), password)
			}
			var want, got bytes.Buffer
			require.NoError(t, req.Write(&want))
			sortFields(r.Fields)
			bw := bufio.NewWriter(&got)
			require.NoError(t, writeLight(bw, r))
			require.NoError(t, bw.Flush())
			require.Equal(t, want.String(), got.String())
		})
	}
}

// TestLightFallsBack: a Request writeLight cannot write goes as an *http.Request.
func TestLightFallsBack(t *testing.T) {
	tgt, err := NewTarget("POST", "http://h/")
	require.NoError(t, err)
	for _, r := range []*Request{
		{Target: tgt, Fields: []Field{{"X-Bad", "a\r\nInjected: 1"}}},
		{Target: tgt, Fields: []Field{{"X-Sp", " lead"}}},
		{Target: tgt, Fields: []Field{{"User-Agent", "own"}}},
		{Target: tgt, Fields: []Field{{"Content-Length", "5"}}},
		{Target: tgt, Header: NewStaticHeader(Field{"X-Utf8", "café"})},
	} {
		require.False(t, r.light(), r.Fields)
	}
}
