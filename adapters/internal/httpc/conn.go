package httpc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The fast path: an HTTP/1.1 exchange on a persistent connection, written and read
// on the caller's goroutine. http.Transport hands every request to two goroutines of
// its connection (a writer and a reader) and back, which costs about thirty
// allocations and a few scheduler wake-ups per request; a sink's worker only ever
// waits for its one answer, so it may as well read it itself. The pool keeps idle
// connections per host (at most maxIdleConnsPerHost, as the transport does) and
// hands each caller its own. Hosts the fast path does not serve (a proxy, a server
// that speaks only HTTP/2, a scheme other than http and https) go through the
// transport.

// pool holds the fast path's idle connections by host.
type pool struct {
	tr     *http.Transport
	tlsCfg *tls.Config // the transport's, or nil for the defaults

	mu    sync.Mutex
	hosts map[hostKey]*host
	gen   uint64 // bumped by closeIdle: older connections are not kept
}

type hostKey struct{ scheme, host string }

// host is one scheme and host:port the pool talks to.
type host struct {
	addr   string      // host:port to dial
	tlsCfg *tls.Config // nil for http; ALPN offers only http/1.1
	slow   bool        // the transport serves this host (guarded by pool.mu)
	idle   []*conn     // guarded by pool.mu; the most recently used last
}

// conn is one persistent connection. Only the caller that took it from the pool
// uses it.
type conn struct {
	nc     net.Conn
	cr     countReader
	br     *bufio.Reader
	bw     *bufio.Writer
	gen    uint64
	used   time.Time // when it went idle
	reused bool

	// A sink's worker sends every request under one long-lived context, so the
	// connection watches a context's end once (armed, disarm) rather than once per
	// request: the watch interrupts the connection only while a request under that
	// context is in flight (busy).
	armed  <-chan struct{} // the Done channel watched, or nil
	disarm func() bool

	mu      sync.Mutex      // guards busy and aborted, against the watch
	busy    <-chan struct{} // the Done channel of the request in flight, or nil
	aborted bool            // the watch interrupted the request in flight
}

// maxAnswerHeader bounds the bytes read while an answer's header is parsed (status
// line, headers, 1xx answers before it): a hostile server cannot fill the memory of a
// small device with one endless header line.
const maxAnswerHeader = 1 << 20

// max1xx bounds the informational answers skipped before the final one.
const max1xx = 5

var (
	errAnswerHeaderTooLarge = fmt.Errorf("answer header over %d bytes", maxAnswerHeader)
	errTooMany1xx           = fmt.Errorf("more than %d informational (1xx) answers", max1xx)
)

// countReader counts the bytes read from the connection, so that a failure can tell
// whether any of the answer arrived, and refuses to read past max while it is set.
type countReader struct {
	nc  net.Conn
	n   int64
	max int64 // when not zero, no read goes past this count
}

func (r *countReader) Read(p []byte) (int, error) {
	if r.max > 0 {
		if r.n >= r.max {
			return 0, errAnswerHeaderTooLarge
		}
		if room := r.max - r.n; int64(len(p)) > room {
			p = p[:room]
		}
	}
	n, err := r.nc.Read(p)
	r.n += int64(n)
	return n, err
}

func newPool(tr *http.Transport) *pool {
	return &pool{tr: tr, tlsCfg: tr.TLSClientConfig, hosts: make(map[hostKey]*host)}
}

// route returns the host that serves requests to u on the fast path, or nil when
// the transport must serve them.
func (p *pool) route(u *url.URL) *host {
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil
	}
	k := hostKey{u.Scheme, u.Host}
	p.mu.Lock()
	h, ok := p.hosts[k]
	if !ok {
		h = p.newHost(u)
		p.hosts[k] = h
	}
	slow := h.slow
	p.mu.Unlock()
	if slow {
		return nil
	}
	return h
}

// newHost decides once per host whether the fast path applies: the proxy from the
// environment is read once per process by net/http, so its answer for a host does
// not change.
func (p *pool) newHost(u *url.URL) *host {
	h := &host{}
	if p.tr.Proxy != nil {
		if pu, err := p.tr.Proxy(&http.Request{URL: u}); pu != nil || err != nil {
			h.slow = true
			return h
		}
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	h.addr = net.JoinHostPort(u.Hostname(), port)
	if u.Scheme == "https" {
		cfg := &tls.Config{}
		if p.tlsCfg != nil {
			cfg = p.tlsCfg.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		cfg.NextProtos = []string{"http/1.1"}
		h.tlsCfg = cfg
	}
	return h
}

// get returns an idle connection to h, or nil.
func (p *pool) get(h *host) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := len(h.idle); n > 0; n = len(h.idle) {
		c := h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		if time.Since(c.used) < idleConnTimeout {
			c.reused = true
			return c
		}
		c.close()
	}
	return nil
}

// put keeps c for the next request to h, or closes it when h has enough idle
// connections or c predates a closeIdle.
func (p *pool) put(h *host, c *conn) {
	c.used = time.Now()
	p.mu.Lock()
	if c.gen == p.gen && len(h.idle) < maxIdleConnsPerHost {
		h.idle = append(h.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// closeIdle closes every idle connection; connections in use are closed when their
// request ends instead of going back to the pool.
func (p *pool) closeIdle() {
	p.mu.Lock()
	var idle []*conn
	for _, h := range p.hosts {
		idle = append(idle, h.idle...)
		clear(h.idle)
		h.idle = h.idle[:0]
	}
	p.gen++
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// dial opens a connection to h by the deadline, with the TLS handshake for https.
func (p *pool) dial(ctx context.Context, h *host, deadline time.Time) (*conn, error) {
	p.mu.Lock()
	gen := p.gen // a closeIdle while dialling means the connection is not kept
	p.mu.Unlock()
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second, Deadline: deadline}
	nc, err := d.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, err
	}
	if h.tlsCfg != nil {
		hsDeadline := time.Now().Add(tlsHandshakeTimeout)
		if !deadline.IsZero() && deadline.Before(hsDeadline) {
			hsDeadline = deadline
		}
		tc := tls.Client(nc, h.tlsCfg)
		hctx, cancel := context.WithDeadline(ctx, hsDeadline)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = nc.Close()
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = fmt.Errorf("tls handshake timeout: %w", err)
			}
			return nil, err
		}
		nc = tc
	}
	c := &conn{nc: nc, gen: gen}
	c.cr.nc = nc
	c.br = bufio.NewReader(&c.cr)
	c.bw = bufio.NewWriter(nc)
	return c, nil
}

// close closes c and ends its watch.
func (c *conn) close() {
	if c.disarm != nil {
		c.disarm()
	}
	_ = c.nc.Close()
}

// aLongTimeAgo is a deadline in the past, to interrupt a blocked read or write.
var aLongTimeAgo = time.Unix(1, 0)

// errH2Only reports a server that refused HTTP/1.1 in the TLS handshake.
func errH2Only(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no application protocol")
}

// fastDo is Do on the fast path for host h (see Do for the contract). The client's
// Timeout bounds the whole exchange, as on the transport path.
func (p *pool) fastDo(c *http.Client, h *host, req *http.Request, limit int64) (*http.Response, []byte, error) {
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	if u := req.URL.User; u != nil && req.Header.Get("Authorization") == "" {
		password, _ := u.Password()
		req.SetBasicAuth(u.Username(), password)
	}
	ctx := req.Context()
	a, body, rerr, err := p.exchange(ctx, h, req, nil, exchangeDeadline(ctx, c), limit)
	if err != nil {
		if errH2Only(err) {
			p.mu.Lock()
			h.slow = true
			p.mu.Unlock()
			if rewind(req) {
				return slowDo(c, req, limit)
			}
		}
		return nil, nil, ClassifyTransport(&url.Error{Op: opName(req.Method), URL: RedactURL(req.URL.String()), Err: ctxCause(ctx, err)})
	}
	resp := a.response(req)
	if cerr := Classify(resp, body); cerr != nil {
		return resp, body, fmt.Errorf("%s %s: %w", req.Method, RedactURL(req.URL.String()), cerr)
	}
	if rerr != nil {
		return resp, body, fmt.Errorf("%s %s: read answer: %w", req.Method, RedactURL(req.URL.String()), ClassifyTransport(ctxCause(ctx, rerr)))
	}
	return resp, body, nil
}

// exchangeDeadline is the deadline of an exchange under ctx with c: the earlier of
// ctx's and c's Timeout from now.
func exchangeDeadline(ctx context.Context, c *http.Client) time.Time {
	deadline, _ := ctx.Deadline()
	if c.Timeout > 0 {
		if d := time.Now().Add(c.Timeout); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	return deadline
}

// response returns a as the *http.Response to req that http.ReadResponse reads
// (its body already read).
func (a *answer) response(req *http.Request) *http.Response {
	if a.resp != nil {
		a.resp.Request = req
		return a.resp
	}
	line, _, _ := strings.Cut(a.raw, "\r\n")
	resp := &http.Response{Status: line[9:], StatusCode: a.code, Proto: line[:8], ProtoMajor: 1,
		ProtoMinor: int(line[7] - '0'), Header: rawHeader(a.raw), Body: http.NoBody,
		ContentLength: a.length, Close: a.close, Request: req}
	if req.Method == http.MethodHead { // the length the header gives, as net/http reports it
		resp.ContentLength = -1
		if cl := resp.Header.Get("Content-Length"); cl != "" {
			resp.ContentLength, _ = parseLength([]byte(cl))
		}
	}
	return resp
}

// The exchange sends either an *http.Request (std, from Do) or a Request (light,
// from Send), the other nil. They are two parameters, not one interface, so that
// escape analysis keeps a Request (and its fields) on its caller's stack.

// requestMethod returns the method of the request sent.
func requestMethod(std *http.Request, light *Request) string {
	if light != nil {
		return light.Target.method
	}
	return std.Method
}

// keeps reports what of an answer with this status to keep: everything for Do, and
// for Send what the Request asks of a 2xx answer.
func keeps(light *Request, code int) (header, body bool) {
	if light == nil || code < 200 || code > 299 {
		return true, true
	}
	return light.KeepHeader, light.KeepBody
}

// ctxCause returns err, or the context's error naming err when the context ended:
// the connection then failed because its deadline was moved to the past.
func ctxCause(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// exchange sends the request on a connection to h and reads the answer and at most limit
// bytes of its body, all by deadline and until ctx ends. err is a failure before the
// answer's header was read; rerr one while reading its body. A reused connection
// that fails before any byte of the answer arrived was most likely closed by the
// server while idle: a replayable request is then sent once more, at once, on a new
// connection, rather than failing into the caller's backoff.
func (p *pool) exchange(ctx context.Context, h *host, std *http.Request, light *Request, deadline time.Time, limit int64) (a answer, body []byte, rerr, err error) {
	cn := p.get(h)
	for {
		if cn == nil {
			if cn, err = p.dial(ctx, h, deadline); err != nil {
				return answer{}, nil, nil, err
			}
		}
		cn.begin(ctx, deadline)
		before := cn.cr.n
		a, err = cn.roundTrip(std, light)
		if err == nil {
			break
		}
		cn.end()
		cn.close()
		stale := cn.reused && cn.cr.n == before && !isTimeout(err) && ctx.Err() == nil
		if !stale || (light == nil && !rewind(std)) { // a Request's body is a byte slice
			return answer{}, nil, nil, err
		}
		cn = nil
	}
	keep := !a.close && !a.http10 && (light != nil || !std.Close) && a.code != http.StatusSwitchingProtocols
	reuse := true
	switch _, keepBody := keeps(light, a.code); {
	case a.resp != nil:
		if a.resp.ContentLength != 0 { // a known empty body needs no reading (nor a buffer)
			body, reuse, rerr = readBody(a.resp.Body, limit)
		}
	case a.length > 0:
		body, reuse, rerr = readFixed(cn.br, a.length, limit, keepBody)
	case a.length < 0:
		body, reuse, rerr = readBody(cn.br, limit)
	}
	if !cn.end() || !reuse || rerr != nil {
		keep = false // a context that ended has moved the deadline to the past
	}
	if !keep {
		// Closed before the body: closing an answer body reads what is left of it,
		// which for an endless answer would never end.
		cn.close()
	}
	if a.resp != nil {
		_ = a.resp.Body.Close()
	}
	if keep && cn.br.Buffered() == 0 {
		p.put(h, cn)
	} else if keep {
		cn.close()
	}
	return a, body, rerr, nil
}

// roundTrip writes the request and reads the answer's header, skipping 1xx answers.
func (c *conn) roundTrip(std *http.Request, light *Request) (answer, error) {
	var err error
	if light != nil {
		err = writeLight(c.bw, light)
	} else {
		err = writeRequest(c.bw, std)
	}
	if err != nil {
		return answer{}, err
	}
	if err := c.bw.Flush(); err != nil {
		return answer{}, err
	}
	c.cr.max = c.cr.n + int64(c.br.Buffered()) + maxAnswerHeader
	defer func() { c.cr.max = 0 }()
	for range max1xx + 1 {
		a, err := readAnswer(c.br, std, light)
		if err != nil {
			return answer{}, err
		}
		if a.code >= 200 || a.code == http.StatusSwitchingProtocols {
			return a, nil
		}
	}
	return answer{}, errTooMany1xx
}

// begin sets c's deadline for a request under ctx and makes ctx's end interrupt it.
// A context whose end c already watches costs no new watch.
func (c *conn) begin(ctx context.Context, deadline time.Time) {
	_ = c.nc.SetDeadline(deadline)
	done := ctx.Done()
	if done == nil {
		return
	}
	c.mu.Lock()
	c.busy, c.aborted = done, false
	c.mu.Unlock()
	if done != c.armed {
		if c.disarm != nil {
			c.disarm()
		}
		c.armed = done
		c.disarm = context.AfterFunc(ctx, func() { c.interrupt(done) })
	}
	if ctx.Err() != nil {
		c.interrupt(done) // it ended before the request began, the watch may have run already
	}
}

// interrupt interrupts a blocked read or write of the request in flight under the
// context whose Done channel is done.
func (c *conn) interrupt(done <-chan struct{}) {
	c.mu.Lock()
	if c.busy == done {
		c.aborted = true
		_ = c.nc.SetDeadline(aLongTimeAgo)
	}
	c.mu.Unlock()
}

// end ends the request begin began and reports whether its context's end did not
// interrupt it.
func (c *conn) end() bool {
	if c.armed == nil {
		return true
	}
	c.mu.Lock()
	aborted := c.aborted
	c.busy, c.aborted = nil, false
	c.mu.Unlock()
	return !aborted
}

// rewind makes req's body readable again for a second attempt and reports whether
// it could.
func rewind(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	if req.GetBody == nil {
		return false
	}
	b, err := req.GetBody()
	if err != nil {
		return false
	}
	req.Body = b
	return true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// opName is the method as *url.Error names it: "Post", "Get".
func opName(method string) string {
	if method == "" {
		method = http.MethodGet
	}
	return method[:1] + strings.ToLower(method[1:])
}
