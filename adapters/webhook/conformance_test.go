package webhook

import (
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// peer is the test endpoint: an httptest server that records accepted requests and
// can be told to reject the next ones or to restart on the same address.
type peer struct {
	*adaptertest.Server
	mu       sync.Mutex // guards the fields below
	got      []adaptertest.Delivery
	reqs     []*http.Request // accepted requests, bodies consumed
	failN    int
	failCode int
	failHdr  http.Header
}

func newPeer(t *testing.T) *peer {
	p := &peer{}
	p.Server = adaptertest.NewServer(t, p)
	return p
}

func (p *peer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failN > 0 {
		p.failN--
		for k, v := range p.failHdr {
			w.Header()[k] = v
		}
		w.WriteHeader(p.failCode)
		// Echo the credentials, as careless servers do: the sink must scrub them.
		_, _ = io.WriteString(w, "rejected; you sent Authorization="+r.Header.Get("Authorization"))
		return
	}
	p.got = append(p.got, adaptertest.Delivery{ID: r.Header.Get(HeaderEventID), Payload: body})
	p.reqs = append(p.reqs, r)
	w.WriteHeader(http.StatusNoContent)
}

// fail makes the next n requests answer code with extra headers.
func (p *peer) fail(n, code int, hdr http.Header) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failN, p.failCode, p.failHdr = n, code, hdr
}

func (p *peer) received() []adaptertest.Delivery {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]adaptertest.Delivery(nil), p.got...)
}

func (p *peer) lastRequest(t *testing.T) *http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	require.NotEmpty(t, p.reqs, "no request accepted")
	return p.reqs[len(p.reqs)-1]
}

func testDeps() adapters.Deps {
	return adapters.Deps{Name: "test", Log: slog.New(slog.DiscardHandler), Now: time.Now, Version: "test"}
}

const conformanceSecret = "s3cr3t-conformance-token"

func TestConformance(t *testing.T) {
	p := newPeer(t)
	adaptertest.RunSink(t, adaptertest.SinkHarness{
		New: func(t *testing.T) adapters.Sink {
			u := p.URL() // http://127.0.0.1:port
			cfg := DefaultConfig()
			cfg.URL = "http://hook-user:" + conformanceSecret + "@" + u[len("http://"):] + "/hook"
			cfg.AuthValue = "Bearer " + conformanceSecret
			s, err := New(cfg, testDeps())
			require.NoError(t, err)
			return s
		},
		Received: func(t *testing.T) []adaptertest.Delivery { return p.received() },
		FailNext: func(t *testing.T, n int, permanent bool) {
			if permanent {
				p.fail(n, http.StatusBadRequest, nil)
			} else {
				p.fail(n, http.StatusServiceUnavailable, nil)
			}
		},
		Restart: func(t *testing.T) { p.Restart(t) },
		Ordered: true,
		Secret:  conformanceSecret,
	})
}
