package httpc

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
)

// countingServer is an httptest server that counts the connections it accepted.
type countingServer struct {
	*httptest.Server
	conns atomic.Int32
}

// newCountingServer starts a plain server, or a TLS one after tlsSetup ran.
func newCountingServer(t *testing.T, h http.HandlerFunc, tlsSetup func(*httptest.Server)) *countingServer {
	t.Helper()
	cs := &countingServer{Server: httptest.NewUnstartedServer(h)}
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cs.conns.Add(1)
		}
	}
	if tlsSetup != nil {
		tlsSetup(cs.Server)
		cs.StartTLS()
	} else {
		cs.Start()
	}
	t.Cleanup(cs.Close)
	return cs
}

func post(t *testing.T, c *http.Client, u, body string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	require.NoError(t, err)
	return Do(c, req, 1024)
}

func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	_, _ = w.Write(b)
}

func TestFastPathKeepsOneConnection(t *testing.T) {
	srv := newCountingServer(t, echo, nil)
	c, err := NewClient(5*time.Second, TLSConfig{})
	require.NoError(t, err)
	for i := range 50 {
		resp, body, err := post(t, c, srv.URL, fmt.Sprint("event ", i))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, fmt.Sprint("event ", i), string(body))
	}
	require.EqualValues(t, 1, srv.conns.Load(), "one connection for every request")

	// Concurrent callers each get a connection of their own, kept for the next round.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				_, _, err := post(t, c, srv.URL, "x")
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, srv.conns.Load(), int32(5))

	c.CloseIdleConnections()
	_, _, err = post(t, c, srv.URL, "after close")
	require.NoError(t, err)
	require.Greater(t, srv.conns.Load(), int32(1), "CloseIdleConnections closed the idle connections")
}

func TestFastPathServerClosedIdleConnection(t *testing.T) {
	srv := newCountingServer(t, echo, nil)
	c, err := NewClient(5*time.Second, TLSConfig{})
	require.NoError(t, err)
	_, _, err = post(t, c, srv.URL, "one")
	require.NoError(t, err)
	srv.CloseClientConnections() // as a server's idle timeout does
	time.Sleep(20 * time.Millisecond)
	resp, body, err := post(t, c, srv.URL, "two")
	require.NoError(t, err, "the stale connection is replaced without an error")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "two", string(body))
	require.EqualValues(t, 2, srv.conns.Load())
}

func TestFastPathConnectionClose(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		echo(w, r)
	}, nil)
	c, err := NewClient(5*time.Second, TLSConfig{})
	require.NoError(t, err)
	for range 3 {
		_, body, err := post(t, c, srv.URL, "x")
		require.NoError(t, err)
		require.Equal(t, "x", string(body))
	}
	require.EqualValues(t, 3, srv.conns.Load(), "a connection the server closes is not reused")
}

func TestFastPathChunkedAnswer(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusOK
		if r.URL.Path == "/fail" {
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		for i := range 3 {
			fmt.Fprintf(w, "part%d ", i)
			w.(http.Flusher).Flush()
		}
	}, nil)
	c, err := NewClient(5*time.Second, TLSConfig{})
	require.NoError(t, err)
	resp, body, err := post(t, c, srv.URL, "x")
	require.NoError(t, err)
	require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	require.Equal(t, "part0 part1 part2 ", string(body))

	_, _, err = post(t, c, srv.URL+"/fail", "x")
	require.Error(t, err)
	require.False(t, adapters.IsPermanent(err))
	require.Contains(t, err.Error(), "status 503 Service Unavailable: part0 part1 part2")
	require.EqualValues(t, 1, srv.conns.Load())
}

func TestFastPathLongAnswerIsCut(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("a", 4096)))
	}, nil)
	c, err := NewClient(5*time.Second, TLSConfig{})
	require.NoError(t, err)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	_, body, err := Do(c, req, 100)
	require.NoError(t, err)
	require.Len(t, body, 100)
	req, _ = http.NewRequest(http.MethodGet, srv.URL, nil)
	_, _, err = Do(c, req, 100)
	require.NoError(t, err)
	require.EqualValues(t, 1, srv.conns.Load(), "a drained answer keeps the connection")
}

func TestFastPathTimeoutMidAnswer(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("the start"))
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		echo(w, r)
	}, nil)
	c, err := NewClient(100*time.Millisecond, TLSConfig{})
	require.NoError(t, err)
	_, _, err = post(t, c, srv.URL, "x")
	require.NoError(t, err)

	start := time.Now()
	_, _, err = post(t, c, srv.URL+"/slow", "x")
	require.Error(t, err)
	require.Less(t, time.Since(start), 2*time.Second)
	require.False(t, adapters.IsPermanent(err))
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "a timeout: %v", err)

	_, body, err := post(t, c, srv.URL, "after")
	require.NoError(t, err)
	require.Equal(t, "after", string(body))
	require.EqualValues(t, 2, srv.conns.Load(), "the connection of the timed-out answer was discarded")
}

func TestFastPathHTTP10Answer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	var accepted atomic.Int32
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer func() { _ = nc.Close() }()
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(nc, "HTTP/1.0 200 OK\r\n\r\nold server")
			}()
		}
	}()
	c, err := NewClient(5*time.Second, TLSConfig{})
	require.NoError(t, err)
	for range 2 {
		_, body, err := post(t, c, "http://"+ln.Addr().String(), "x")
		require.NoError(t, err)
		require.Equal(t, "old server", string(body))
	}
	require.EqualValues(t, 2, accepted.Load())
}

func TestFastPathTLS(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusForbidden)
			return
		}
		require.Equal(t, "HTTP/1.1", r.Proto)
		echo(w, r)
	}, func(s *httptest.Server) {
		s.EnableHTTP2 = true // the fast path still speaks HTTP/1.1 to it
		s.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	})

	ca, dir := serverCA(t, srv.Server), t.TempDir()
	cert, key := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	writeKeyPair(t, srv.TLS.Certificates[0], cert, key)

	c, err := NewClient(5*time.Second, TLSConfig{CAFile: ca})
	require.NoError(t, err)
	_, _, err = post(t, c, srv.URL, "x")
	require.Error(t, err, "no client certificate")
	require.False(t, adapters.IsPermanent(err))

	c, err = NewClient(5*time.Second, TLSConfig{CAFile: ca, CertFile: cert, KeyFile: key})
	require.NoError(t, err)
	before := srv.conns.Load()
	for i := range 5 {
		_, body, err := post(t, c, srv.URL, fmt.Sprint(i))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(i), string(body))
	}
	require.Equal(t, before+1, srv.conns.Load(), "one TLS connection")

	// Without the CA file the server's certificate is not trusted.
	c, err = NewClient(5*time.Second, TLSConfig{CertFile: cert, KeyFile: key})
	require.NoError(t, err)
	_, _, err = post(t, c, srv.URL, "x")
	require.Error(t, err)
	var ue x509.UnknownAuthorityError
	require.ErrorAs(t, err, &ue)
}

func TestFastPathHTTP2OnlyServerUsesTransport(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	var refused atomic.Int32
	srv.TLS = &tls.Config{GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		if slices.Contains(hi.SupportedProtos, "h2") {
			return nil, nil
		}
		refused.Add(1)
		cfg := srv.TLS.Clone() // no protocol in common: the handshake fails
		cfg.NextProtos = []string{"h2-only"}
		return cfg, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := serverCA(t, srv)
	c, err := NewClient(5*time.Second, TLSConfig{CAFile: ca})
	require.NoError(t, err)
	for range 2 {
		_, body, err := post(t, c, srv.URL, "x")
		require.NoError(t, err)
		require.Equal(t, "HTTP/2.0", string(body))
	}
	require.EqualValues(t, 1, refused.Load(), "the fast path tried once, then left the host to the transport")
}

func TestFastPathProxyUsesTransport(t *testing.T) {
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		require.True(t, r.URL.IsAbs(), "a proxy request names the whole URL")
		_, _ = io.WriteString(w, "via proxy")
	}))
	t.Cleanup(proxy.Close)
	c, err := NewClient(5*time.Second, TLSConfig{})
	require.NoError(t, err)
	pu, _ := url.Parse(proxy.URL)
	c.Transport.(*transport).Proxy = http.ProxyURL(pu)
	_, body, err := post(t, c, "http://alerts.invalid/hook", "x")
	require.NoError(t, err)
	require.Equal(t, "via proxy", string(body))
	require.EqualValues(t, 1, proxied.Load())
}

func TestFastPathBasicAuthAndNoSecretsInErrors(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "relay" || p != "s3cret-pw" {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/drop" {
			nc, _, _ := w.(http.Hijacker).Hijack()
			_ = nc.Close()
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}, nil)
	su, _ := url.Parse(srv.URL)
	c, err := NewClient(5*time.Second, TLSConfig{})
	require.NoError(t, err)

	resp, _, err := post(t, c, "http://relay:s3cret-pw@"+su.Host+"/", "x")
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	for _, u := range []string{
		"http://relay:s3cret-pw@" + su.Host + "/drop",    // connection lost without an answer
		"http://relay:wrong-s3cret@" + su.Host + "/",     // 401
		"http://relay:s3cret-pw@127.0.0.1:1/unreachable", // refused
	} {
		_, _, err := post(t, c, u, "x")
		require.Error(t, err, u)
		require.NotContains(t, err.Error(), "s3cret", u)
		require.Contains(t, strings.ToLower(err.Error()), "post", u)
	}
}
