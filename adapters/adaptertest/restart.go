package adaptertest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/edgerelay/edgerelay/adapters/adaptertest/fakehttp"
)

// Server is a test peer's HTTP server that can be taken down and brought back on
// the same address, where the sink under test points. A peer embeds it and keeps
// its own state and lock; Server's methods are safe for concurrent use.
type Server struct {
	h   http.Handler
	mu  sync.Mutex // guards srv
	srv *httptest.Server
}

// NewServer serves h on a free port of 127.0.0.1 and closes it when the test ends.
func NewServer(t testing.TB, h http.Handler) *Server {
	s := &Server{h: h, srv: httptest.NewServer(h)}
	t.Cleanup(func() {
		s.mu.Lock()
		srv := s.srv
		s.mu.Unlock()
		srv.Close()
	})
	return s
}

// URL returns the base URL, "http://127.0.0.1:port"; it stays the same across
// Restart.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv.URL
}

// Restart closes the server (waiting for its requests in flight) and serves again
// on the same address. If the port cannot be taken back the test ends by Missing:
// skipped, or failed under CI.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	old := s.srv
	s.mu.Unlock()
	addr := old.Listener.Addr().String()
	old.Close()
	ln, err := fakehttp.ListenAgain(addr)
	if err != nil {
		Missing(t, "cannot listen on %s again after the restart: %v", addr, err)
	}
	srv := fakehttp.Serve(s.h, ln)
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
}
