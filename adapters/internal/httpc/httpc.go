// Package httpc is the HTTP client configuration every HTTP-speaking adapter shares
// (webhook now, ilert and alerta later): TLS settings, a client with a sane transport,
// the status-to-retry classification, and the redaction of secrets and URL userinfo
// from anything that may reach a log line or a dead-letter reason.
//
// Classification follows one rule so that every HTTP sink agrees: 2xx is success;
// 408, 429 and 5xx are retryable (with the Retry-After hint when the server sent one);
// every other status is [adapters.Permanent]. Transport errors and timeouts are
// retryable.
package httpc

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Transport tuning shared by every client NewClient builds.
const (
	maxIdleConnsPerHost = 16
	idleConnTimeout     = 90 * time.Second
	dialTimeout         = 10 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
)

// NewClient returns a client whose requests are bounded by timeout (zero means no
// bound beyond the request's context), that uses the proxy from the environment
// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), the TLS settings in tc, and that never follows
// redirects: a 3xx answer reaches Classify, which makes it permanent. Following a
// redirect would turn a POST into a GET and could forward credentials to another host.
func NewClient(timeout time.Duration, tc TLSConfig) (*http.Client, error) {
	tlsCfg, err := tc.Build()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		MaxIdleConns:          4 * maxIdleConnsPerHost,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		IdleConnTimeout:       idleConnTimeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: &transport{Transport: tr, fast: newPool(tr)},
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// Do sends req with c and returns the response (its body already closed) with at
// most limit bytes of the body, and the classified outcome: nil for 2xx, a retryable
// or [adapters.Permanent] error otherwise (see Classify and ClassifyTransport). The
// error names the method and the URL with its userinfo removed. A body that breaks off
// after a 2xx status is a retryable error: the caller cannot know the answer was
// complete. The rest of the body, up to a bound, is drained so that the connection can
// be reused. A client NewClient built sends HTTP/1.1 requests on its own persistent
// connections, on the caller's goroutine (see pool), wherever no proxy or HTTP/2 is
// needed; otherwise the request goes straight to its transport (see send). Either
// way the client's Timeout bounds the whole exchange, reading the answer included.
// A sink's per-event requests use Send, which builds no *http.Request on that path.
func Do(c *http.Client, req *http.Request, limit int64) (*http.Response, []byte, error) {
	if tr, ours := c.Transport.(*transport); ours && c.Jar == nil {
		if h := tr.fast.route(req.URL); h != nil {
			return tr.fast.fastDo(c, h, req, limit)
		}
	}
	return slowDo(c, req, limit)
}

// slowDo is Do through the client's transport.
func slowDo(c *http.Client, req *http.Request, limit int64) (*http.Response, []byte, error) {
	if _, ours := c.Transport.(*transport); ours && c.Timeout > 0 {
		ctx, cancel := context.WithTimeout(req.Context(), c.Timeout)
		defer cancel() // after the answer is read: the timeout covers it, as Client.Timeout does
		req = req.WithContext(ctx)
	}
	resp, err := send(c, req)
	if err != nil {
		return nil, nil, ClassifyTransport(err)
	}
	defer resp.Body.Close()
	var body []byte
	var rerr error
	if resp.ContentLength != 0 { // a known empty body needs no reading (nor a buffer)
		body, rerr = io.ReadAll(io.LimitReader(resp.Body, limit))
		if int64(len(body)) >= limit {
			_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
		}
	}
	if cerr := Classify(resp, body); cerr != nil {
		return resp, body, fmt.Errorf("%s %s: %w", req.Method, RedactURL(req.URL.String()), cerr)
	}
	if rerr != nil {
		return resp, body, fmt.Errorf("%s %s: read answer: %w", req.Method, RedactURL(req.URL.String()), ClassifyTransport(rerr))
	}
	return resp, body, nil
}

// drainLimit bounds how much of an unread response body Do discards to keep the
// connection reusable; a longer body costs a new connection instead.
const drainLimit = 64 << 10

// Header builds a request header in two allocations (the map and one array for
// every value) instead of one per Set. Keys must be in canonical form
// (http.CanonicalHeaderKey); a later Set of a key replaces its value. Each value
// slice is capped at length one, so an Add on the header later copies instead of
// overwriting a neighbour.
type Header struct {
	h    http.Header
	vals []string
}

// NewHeader returns a builder sized for n keys. Up to 8 keys the map is one small
// allocation; more need a larger map and Set grows past n as needed.
func NewHeader(n int) Header {
	return Header{h: make(http.Header, n), vals: make([]string, 0, n)}
}

// Set sets key, canonical, to the single value v.
func (b *Header) Set(key, v string) {
	b.vals = append(b.vals, v)
	n := len(b.vals)
	b.h[key] = b.vals[n-1 : n : n]
}

// Header returns the header built.
func (b *Header) Header() http.Header { return b.h }

// transport marks the transport of a client NewClient built, for send, and holds
// the fast path's connections.
type transport struct {
	*http.Transport
	fast *pool
}

// CloseIdleConnections closes the idle connections of the fast path and of the
// transport; http.Client.CloseIdleConnections calls it.
func (t *transport) CloseIdleConnections() {
	t.fast.closeIdle()
	t.Transport.CloseIdleConnections()
}

// send is c.Do for a client NewClient built, straight through its transport: such a
// client follows no redirect and keeps no cookies, so what http.Client does per
// request (a copy of the headers for redirects, a timer and contexts of its own for
// Timeout, which Do replaces with one context) buys nothing and costs a dozen
// allocations per event. It does what http.Client does that matters here: basic auth
// from URL userinfo, and errors as *url.Error. Any other client goes through c.Do.
func send(c *http.Client, req *http.Request) (*http.Response, error) {
	tr, ours := c.Transport.(*transport)
	if !ours || c.Jar != nil {
		return c.Do(req)
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	if u := req.URL.User; u != nil && req.Header.Get("Authorization") == "" {
		password, _ := u.Password()
		req.SetBasicAuth(u.Username(), password)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, &url.Error{Op: opName(req.Method), URL: RedactURL(req.URL.String()), Err: err}
	}
	return resp, nil
}
