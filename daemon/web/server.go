// Package web is edgerelay's HTTP surface: the liveness, readiness and metrics endpoints
// every supervisor and scraper expects, on 127.0.0.1:8977 by default, plus a mux on
// which the daemon and adapters mount more routes (ilagent's POST /api/events ingest).
//
// # Routes
//
//	GET /         200 text/plain "edgerelay/<version>" (as ilagent answers "ilagent/<version>");
//	              the status page to a browser (an Accept header preferring text/html)
//	GET /ui/{file}               the status page's CSS, script and icon (embedded)
//	GET /api/status              the status page's JSON document (Status)
//	GET /api/status/stream       the same as Server-Sent Events, at most MaxStreams at once
//	POST /api/dead-letters/retry retry dead letters {"sink": …, "seqs": […] | "all": true}
//	POST /api/dead-letters/drop  drop them; both need http.admin_token (see authorize)
//	GET /health   204 while running; 503 once the daemon is shutting down
//	GET /ready    204 when all is well; 200 with JSON when degraded; 503 with JSON when not ready
//	GET /metrics  Prometheus text (format 0.0.4) with a HELP and TYPE line per family: the daemon's
//	              metrics.Set, then Go and process metrics (help.go describes every family)
//
// A known path with the wrong method answers 405 with an Allow header; an unknown path
// answers 404. GET routes also answer HEAD.
//
// # Listeners and TLS
//
// The server binds http.listen, and with http.tls serves it over TLS 1.2 or later
// (mutual TLS with http.tls.client_ca_file). [Server.Listener] adds listeners of a
// source's own, each with its own address and TLS files, serving only the routes the
// source mounts on it: /, /health, /ready and /metrics stay on http.listen, so a
// receiver can be exposed to a plant network while the metrics stay on loopback. All
// listeners are bound before serving and are served and shut down together by
// [Server.Serve]. Certificate files are checked at every handshake and reloaded when
// they change; a change that does not load keeps the previous certificate in service
// and fails the listener's "tls" health condition (a warning: the daemon stays ready)
// until the files are fixed.
//
// # The /ready answer
//
// Readiness follows the health tracker's severities: a failing Critical condition makes
// the daemon not ready (503); a failing Degraded condition (a sink retrying, a
// quarantined store, a standby edge connector) is reported but keeps the node in
// service (200); 204 means every condition holds. A load balancer should treat any 2xx
// as ready.
//
// The 503 body follows ilagent's shape (behaviour spec §4). While shutting down:
//
//	{"component":"daemon","error":"shutting down"}
//
// Otherwise, for the first component (in name order) with a failing Critical condition,
// an object with "component" first, then one boolean per condition of that component
// (the condition's name, true when it holds) merged with the component's extra fields
// from health.Tracker.SetFields (which win on a clash), then "error": the details of its
// failing Critical conditions joined with "; ". For the MQTT source that gives ilagent's
//
//	{"component":"mqtt:plant","connected":true,"subscriptions_ready":false,"error":"…"}
//
// As an extension to ilagent, the same object also carries "components": an array with
// one such object for every component that has a failing condition, critical or
// degraded, in name order, the first one included, each with a "state" member after
// "component" ("critical" or "degraded"; its "error" joins the details of the failing
// conditions of that severity), so that a probe sees every reason at once. The 200 body
// is that list alone:
//
//	{"components":[{"component":"sink:hook","state":"degraded","connected":true,"delivering":false,"error":"retrying: HTTP 503"}]}
package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/logx"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles"
	"github.com/edgerelay/edgerelay/daemon/health"
)

// Server is the daemon's HTTP server. Its life is New, optionally Handle, Listen and
// Listener, then Serve until the context ends.
type Server struct {
	cfg     Config
	health  *health.Tracker
	metrics *metrics.Set
	log     *slog.Logger
	mux     *http.ServeMux
	main    *endpoint

	mu       sync.Mutex  // guards extra, serving, closed and onScrape
	extra    []*endpoint // the sources' own listeners, bound by Listener
	serving  bool        // Serve has started
	closed   bool        // Serve has returned or Close ran
	onScrape []func()

	lim atomic.Pointer[logx.Limiter] // rate-limits the net/http servers' error lines

	status   atomic.Pointer[StatusProvider] // the status page's source, set by SetStatus
	admin    *adminAuth
	streams  chan struct{} // one token per open status stream (MaxStreams)
	shutdown chan struct{} // closed when the main listener begins its shutdown
	stopOnce sync.Once
	// streamEvery and streamHeartbeat pace the status streams (shorter in tests).
	streamEvery, streamHeartbeat time.Duration
	// loopbackOnly: http.listen is a loopback address, so the page and its API
	// answer only requests whose Host names loopback (hostAllowed).
	loopbackOnly bool
}

// endpoint is one listener: its address and optional TLS material, and the
// http.Server that serves it.
type endpoint struct {
	key       string // the configuration key of the address, for messages
	section   string // prefixed to TLS errors: "http." for http.tls, "" for a source's tls
	component string // the health component of its TLS condition
	addr      string // as configured
	tlsCfg    tlsfiles.ServerConfig
	srv       *http.Server

	mu  sync.Mutex   // guards ln and tls
	ln  net.Listener // set by bind
	tls *tlsfiles.Server
}

// OnScrape registers f to run before every /metrics response, to copy running totals
// kept elsewhere (the store's commit counters) into the metrics set. f must be cheap.
func (s *Server) OnScrape(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onScrape = append(s.onScrape, f)
}

// New builds the server and its routes; it binds nothing. h feeds /health and /ready;
// set is the daemon's metrics, written by /metrics (nil writes only the Go and process
// metrics). Zero fields of cfg take their defaults. A nil log discards.
func New(cfg Config, h *health.Tracker, set *metrics.Set, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:     cfg,
		health:  h,
		metrics: set,
		log:     log,
		mux:     http.NewServeMux(),
		streams: make(chan struct{}, MaxStreams), shutdown: make(chan struct{}),
		streamEvery: StreamEvery, streamHeartbeat: StreamHeartbeat,
	}
	tok, err := cfg.AdminSecret()
	if err != nil { // Validate reported it at load; the file went away since
		log.Warn("status page read-only: the admin token cannot be read", "err", err)
	}
	s.admin = newAdminAuth(tok, time.Now)
	if host, _, err := net.SplitHostPort(cfg.Listen); err == nil {
		s.loopbackOnly = loopbackHost(net.JoinHostPort(host, "0"))
	}
	if set != nil && s.admin.enabled() {
		for _, r := range AdminRefusedReasons {
			set.GetOrCreateCounter(series(MetricAdminRefused, "reason", r))
		}
	}
	s.mux.HandleFunc("GET /{$}", s.handleRoot)
	s.mux.HandleFunc("GET /ui/{file}", s.handleAsset)
	s.mux.HandleFunc("GET /api/status", s.handleStatus)
	s.mux.HandleFunc("GET /api/status/stream", s.handleStream)
	s.mux.HandleFunc("POST /api/dead-letters/retry", s.handleDead(true))
	s.mux.HandleFunc("POST /api/dead-letters/drop", s.handleDead(false))
	s.mux.HandleFunc("GET /health", s.handleHealth)
	s.mux.HandleFunc("GET /ready", s.handleReady)
	s.mux.HandleFunc("GET /metrics", s.handleMetrics)
	s.main = s.newEndpoint("http.listen", "http", cfg.Listen, cfg.TLS, s.mux)
	s.main.section = "http."
	s.main.srv.RegisterOnShutdown(s.stopStreams) // a stream would hold Shutdown for its timeout
	return s
}

// newEndpoint prepares a listener serving h with the configured timeouts.
func (s *Server) newEndpoint(key, component, addr string, tc tlsfiles.ServerConfig, h http.Handler) *endpoint {
	return &endpoint{
		key: key, component: component, addr: addr, tlsCfg: tc,
		srv: &http.Server{
			Handler:           h,
			ReadTimeout:       s.cfg.ReadTimeout,
			ReadHeaderTimeout: min(s.cfg.ReadTimeout, DefaultReadTimeout),
			WriteTimeout:      s.cfg.WriteTimeout,
			IdleTimeout:       s.cfg.IdleTimeout,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          log.New(errorLog{s, component}, "", 0),
		},
	}
}

// Handle mounts h on pattern (net/http.ServeMux syntax, e.g. "POST /api/events"). It
// may be called before or while serving. Like ServeMux.Handle it panics when pattern is
// invalid or conflicts with a route already mounted.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Mount mounts h on pattern like Handle, but returns an error naming the pattern
// instead of panicking when it is invalid or already taken (two ilert_http sources,
// for instance).
func (s *Server) Mount(pattern string, h http.Handler) error { return mount(s.mux, pattern, h) }

// mount mounts h on pattern of m, turning ServeMux's panic into an error (without
// the panic's source file positions).
func mount(m *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if msg := fmt.Sprint(r); strings.Contains(msg, "conflicts with pattern") {
				err = fmt.Errorf("http route %q is already served on this listener", pattern)
			} else {
				err = fmt.Errorf("http route %q: %s", pattern, msg)
			}
		}
	}()
	m.Handle(pattern, h)
	return nil
}

// Mux is the router of a source's own listener; it serves only what is mounted on it
// and answers 404 to everything else.
type Mux struct{ mux *http.ServeMux }

// NewMux returns a router that serves nothing, for a listener that is checked but
// never bound (daemon.Check).
func NewMux() *Mux { return &Mux{mux: http.NewServeMux()} }

// Mount mounts h on pattern (net/http.ServeMux syntax); it fails when pattern is
// invalid or taken.
func (m *Mux) Mount(pattern string, h http.Handler) error { return mount(m.mux, pattern, h) }

var _ adapters.Mounter = (*Mux)(nil)

// Listener binds a listener of a source's own on cfg.Listen, over TLS when cfg.TLS
// asks for it, and returns the router to mount the source's routes on. The listener
// serves nothing else (no /metrics, /health or /ready) and is served and shut down by
// Serve with the rest, with the http section's timeouts. component names the source in
// health conditions ("source:<name>") and messages. It must be called before Serve.
func (s *Server) Listener(component string, cfg adapters.ListenerConfig) (*Mux, error) {
	if cfg.Listen == "" {
		return nil, fmt.Errorf("%s: listen: an address is required for a listener of its own", component)
	}
	if err := adapters.ValidateListen("listen", cfg.Listen); err != nil {
		return nil, fmt.Errorf("%s: %w", component, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving || s.closed {
		return nil, fmt.Errorf("%s: listener %s requested after the HTTP server started", component, cfg.Listen)
	}
	m := &Mux{mux: http.NewServeMux()}
	e := s.newEndpoint("listen", component, cfg.Listen, cfg.TLS, m.mux)
	if err := s.bind(e); err != nil {
		return nil, err
	}
	s.extra = append(s.extra, e)
	return m, nil
}

// Handler returns the server's router, for tests and for embedding in another server.
func (s *Server) Handler() http.Handler { return s.mux }

// Listen binds the configured address and, with http.tls, loads the certificate.
// When the address is taken it returns an error that names it and the `http.listen`
// key to change. Calling Listen again after a success does nothing.
func (s *Server) Listen() error { return s.bind(s.main) }

// bind loads e's TLS files and binds its address; it does nothing once e is bound.
func (s *Server) bind(e *endpoint) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln != nil {
		return nil
	}
	if e.tlsCfg.Enabled() && e.tls == nil {
		ts, err := tlsfiles.NewServer(e.tlsCfg, tlsfiles.ServerOptions{
			Log:        s.log.With("listener", e.component),
			OnChange:   func(err error) { s.reportTLS(e.component, err) },
			NextProtos: []string{"http/1.1"},
		})
		if err != nil {
			return fmt.Errorf("%s%w", e.section, err)
		}
		e.tls = ts
	}
	ln, err := net.Listen("tcp", e.addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s: address %s is already in use (is another edgerelay or ilagent running?); "+
				"stop it or set %s to a free address: %w", e.key, e.addr, e.key, err)
		}
		return fmt.Errorf("%s: listen on %s: %w", e.key, e.addr, err)
	}
	e.ln = ln
	return nil
}

// reportTLS records the TLS condition of a listener: a warning, because the previous
// certificate is still served.
func (s *Server) reportTLS(component string, err error) {
	if s.health == nil {
		return
	}
	if err != nil {
		s.health.Set(component, "tls", false, health.Degraded, err.Error())
		return
	}
	s.health.Set(component, "tls", true, health.Degraded, "")
}

// Addr returns the bound address (with the real port when the configuration asked for
// port 0), or the configured address before Listen.
func (s *Server) Addr() string { return s.main.boundAddr() }

// boundAddr is the bound address, or the configured one before binding.
func (e *endpoint) boundAddr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln != nil {
		return e.ln.Addr().String()
	}
	return e.addr
}

// ListenerAddrs returns the bound addresses of the sources' own listeners, in the
// order Listener bound them.
func (s *Server) ListenerAddrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.extra))
	for i, e := range s.extra {
		out[i] = e.boundAddr()
	}
	return out
}

// Serve serves HTTP on every listener until ctx is done, binding http.listen first if
// Listen was not called. It then shuts them down gracefully, waiting at most
// ShutdownTimeout for in-flight requests before closing the remaining connections,
// and returns nil. It returns an error only when binding or serving fails (having shut
// the other listeners down). Serve may be called once.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		s.Close()
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("http server closed before serving")
	}
	s.serving = true
	eps := append([]*endpoint{s.main}, s.extra...)
	s.mu.Unlock()

	errc := make(chan error, len(eps))
	for _, e := range eps {
		e.mu.Lock()
		ln := e.ln
		if e.tls != nil {
			ln = tls.NewListener(ln, e.tls.Config())
		}
		e.mu.Unlock()
		s.log.Info("http server listening", "addr", ln.Addr().String(), "listener", e.component, "tls", e.tls != nil)
		go func() { // exits when Shutdown or Close below runs, or on a fatal accept error
			if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
				return
			}
			errc <- nil
		}()
	}
	var failed error
	select {
	case failed = <-errc:
		if failed == nil { // Serve returned without an error before shutdown: cannot happen
			failed = errors.New("http server stopped serving")
		}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	for _, e := range eps {
		if err := e.srv.Shutdown(sctx); err != nil {
			s.log.Warn("http shutdown timed out; closing open connections", "listener", e.component,
				"timeout_seconds", s.cfg.ShutdownTimeout.Seconds(), "err", err)
			_ = e.srv.Close()
		}
	}
	n := len(eps)
	if failed != nil {
		n-- // that one has reported already
	}
	for range n {
		if err := <-errc; err != nil && failed == nil {
			failed = err
		}
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return failed
}

// Close releases the listeners when Serve never ran (a daemon that failed to start);
// after Serve, or once closed, it does nothing. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.serving || s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	eps := append([]*endpoint{s.main}, s.extra...)
	s.mu.Unlock()
	var errs []error
	for _, e := range eps {
		e.mu.Lock()
		if e.ln != nil {
			errs = append(errs, e.ln.Close())
		}
		e.mu.Unlock()
	}
	return errors.Join(errs...)
}

// stopStreams ends the status streams: the server is shutting down.
func (s *Server) stopStreams() { s.stopOnce.Do(func() { close(s.shutdown) }) }

func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept")
	if wantsHTML(r) {
		if s.hostAllowed(w, r) {
			serveAsset(w, r, "index.html")
		}
		return
	}
	v := s.cfg.Version
	if v == "" {
		v = "dev"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("edgerelay/" + v))
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.health.Stopping() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	code, body := readyAnswer(s.health)
	body = secret.RedactBytes(body) // conditions' details are adapters' error texts
	if body == nil {
		w.WriteHeader(code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func (s *Server) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	s.mu.Lock()
	hooks := s.onScrape
	s.mu.Unlock()
	for _, f := range hooks {
		f()
	}
	var raw bytes.Buffer
	if s.metrics != nil {
		s.metrics.WritePrometheus(&raw)
	}
	metrics.WriteProcessMetrics(&raw)
	metrics.WriteFDMetrics(&raw)
	rw := secret.Writer(w) // label values are names, but a name may be a secret's echo
	defer rw.Close()
	_ = writeExposition(rw, raw.Bytes())
}

// SetLimiter makes lim rate-limit the error lines of the HTTP servers (a TLS handshake
// refused for want of a client certificate, a malformed request line): an attacker
// can cause them as fast as it connects. Nil limits nothing.
func (s *Server) SetLimiter(lim *logx.Limiter) { s.lim.Store(lim) }

// errorLog is an http.Server's ErrorLog: each line is logged at level WARN under a
// message naming the kind of error ("http: TLS handshake error"), with the line as
// its detail, through the server's limiter keyed by listener and kind.
type errorLog struct {
	s         *Server
	component string
}

func (e errorLog) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	kind, _, _ := strings.Cut(strings.TrimPrefix(line, "http: "), " from ")
	kind, _, _ = strings.Cut(kind, ": ")
	if strings.HasPrefix(kind, "panic serving ") {
		kind = "panic serving" // without the remote address: one key for all
	}
	if len(kind) > 64 {
		kind = strings.ToValidUTF8(kind[:64], "")
	}
	e.s.lim.Load().Warn(e.s.log, e.component+":"+kind, "http server: "+kind, "listener", e.component, "detail", line)
	if e.s.metrics != nil {
		e.s.metrics.GetOrCreateCounter(series(MetricHTTPErrors, "listener", e.component, "reason", httpErrorReason(kind))).Inc()
	}
	return len(p), nil
}

// httpErrorReason is the fixed reason label of an error line's kind.
func httpErrorReason(kind string) string {
	switch {
	case strings.HasPrefix(kind, "TLS handshake error"):
		return "tls_handshake"
	case kind == "panic serving":
		return "panic"
	case strings.HasPrefix(kind, "Accept error"):
		return "accept"
	default:
		return "other"
	}
}
