// Package web is edgerelay's HTTP surface: the liveness, readiness and metrics endpoints
// every supervisor and scraper expects, on 127.0.0.1:8977 by default, plus a mux on
// which the daemon and adapters mount more routes (ilagent's POST /api/events ingest).
//
// # Routes
//
//	GET /         200 text/plain "edgerelay/<version>" (as ilagent answers "ilagent/<version>")
//	GET /health   204 while running; 503 once the daemon is shutting down
//	GET /ready    204 when all is well; 200 with JSON when degraded; 503 with JSON when not ready
//	GET /metrics  Prometheus text: the daemon's metrics.Set, then Go and process metrics
//
// A known path with the wrong method answers 405 with an Allow header; an unknown path
// answers 404. GET routes also answer HEAD.
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
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"

	"github.com/VictoriaMetrics/metrics"

	"github.com/edgerelay/edgerelay/daemon/health"
)

// Server is the daemon's HTTP server. Its life is New, optionally Handle and Listen,
// then Serve until the context ends.
type Server struct {
	cfg     Config
	health  *health.Tracker
	metrics *metrics.Set
	log     *slog.Logger
	mux     *http.ServeMux
	srv     *http.Server

	mu       sync.Mutex   // guards ln and onScrape
	ln       net.Listener // set by Listen
	onScrape []func()
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
	}
	s.mux.HandleFunc("GET /{$}", s.handleRoot)
	s.mux.HandleFunc("GET /health", s.handleHealth)
	s.mux.HandleFunc("GET /ready", s.handleReady)
	s.mux.HandleFunc("GET /metrics", s.handleMetrics)
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadTimeout:       cfg.ReadTimeout,
		ReadHeaderTimeout: min(cfg.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s
}

// Handle mounts h on pattern (net/http.ServeMux syntax, e.g. "POST /api/events"). It
// may be called before or while serving. Like ServeMux.Handle it panics when pattern is
// invalid or conflicts with a route already mounted.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Mount mounts h on pattern like Handle, but returns an error naming the pattern
// instead of panicking when it is invalid or already taken (two ilert_http sources,
// for instance).
func (s *Server) Mount(pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("http route %q: %v", pattern, r)
		}
	}()
	s.mux.Handle(pattern, h)
	return nil
}

// Handler returns the server's router, for tests and for embedding in another server.
func (s *Server) Handler() http.Handler { return s.mux }

// Listen binds the configured address. When the address is taken it returns an error
// that names it and the `http.listen` key to change. Calling Listen again after a
// success does nothing.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("http.listen: address %s is already in use (is another edgerelay or ilagent running?); "+
				"stop it or set http.listen to a free address: %w", s.cfg.Listen, err)
		}
		return fmt.Errorf("http.listen: listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address (with the real port when the configuration asked for
// port 0), or the configured address before Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.cfg.Listen
}

// Serve serves HTTP until ctx is done, binding first if Listen was not called. It then
// shuts down gracefully, waiting at most ShutdownTimeout for in-flight requests before
// closing the remaining connections, and returns nil. It returns an error only when
// binding or serving fails. Serve may be called once.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	s.log.Info("http server listening", "addr", ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }() // exits when Shutdown or Close below runs, or on a fatal accept error
	select {
	case err := <-errc:
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.log.Warn("http shutdown timed out; closing open connections",
			"timeout_seconds", s.cfg.ShutdownTimeout.Seconds(), "err", err)
		_ = s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	}
	return nil
}

func (s *Server) handleRoot(w http.ResponseWriter, _ *http.Request) {
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
	if s.metrics != nil {
		s.metrics.WritePrometheus(w)
	}
	metrics.WriteProcessMetrics(w)
}
