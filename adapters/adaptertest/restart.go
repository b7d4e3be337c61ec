package adaptertest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgerelay/edgerelay/adapters/adaptertest/fakehttp"
)

// Restart closes srv (waiting for its requests in flight) and serves h again on the
// same address, so that a test can take a peer down and bring it back where its sink
// points. If the port cannot be taken back the test ends by Missing: skipped, or
// failed under CI.
func Restart(t testing.TB, srv *httptest.Server, h http.Handler) *httptest.Server {
	t.Helper()
	addr := srv.Listener.Addr().String()
	srv.Close()
	ln, err := fakehttp.ListenAgain(addr)
	if err != nil {
		Missing(t, "cannot listen on %s again after the restart: %v", addr, err)
	}
	return fakehttp.Serve(h, ln)
}
