package adaptertest

import (
	"fmt"
	"net/http"

	"github.com/edgerelay/edgerelay/adapters"
)

// Mux is the daemon's HTTP server as a source sees it (adapters.Mounter): a real
// http.ServeMux, whose pattern conflicts are errors instead of panics. Serve it with
// httptest.NewServer.
type Mux struct{ *http.ServeMux }

// NewMux returns an empty Mux.
func NewMux() Mux { return Mux{http.NewServeMux()} }

// Mount implements adapters.Mounter.
func (m Mux) Mount(p string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	m.Handle(p, h)
	return nil
}

var _ adapters.Mounter = Mux{}
