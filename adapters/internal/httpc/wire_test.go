package httpc

import (
	"bufio"
	"bytes"
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
