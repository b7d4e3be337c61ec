package forward

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/alerta/alertatest"
)

const conformanceSecret = "s3cr3t-conformance-api-key"

// TestConformance runs the sink suite against the Alerta 9.1 fake with
// AUTH_REQUIRED and an API key, through the generic mapping: the suite's raw events
// become alerts whose text is the payload, which the harness hands back.
func TestConformance(t *testing.T) {
	f := alertatest.NewServer(t, alertatest.Options{Prefix: "/api", AuthRequired: true,
		APIKeys: []alertatest.APIKey{{Key: conformanceSecret, Scopes: []string{"write"}}}})
	adaptertest.RunSink(t, adaptertest.SinkHarness{
		New: func(t *testing.T) adapters.Sink {
			cfg := DefaultConfig()
			cfg.URL = f.BaseURL()
			cfg.Forward = []string{"*"}
			cfg.APIKey = conformanceSecret
			cfg.Origin = "http://gw-test:8977"
			cfg.Circuit.Failures = 1000 // the suite's provoked failures must not open it
			s, err := New(cfg, testDeps())
			require.NoError(t, err)
			return s
		},
		Received: func(t *testing.T) []adaptertest.Delivery {
			var out []adaptertest.Delivery
			for _, r := range f.Requests() {
				if r.Method != http.MethodPost || r.Path != "/api/alert" || r.Status != http.StatusCreated {
					continue
				}
				var a struct{ Text string }
				if json.Unmarshal(r.Body, &a) == nil {
					out = append(out, adaptertest.Delivery{Payload: []byte(a.Text)})
				}
			}
			return out
		},
		FailNext: func(t *testing.T, n int, permanent bool) {
			code := failCode(permanent)
			f.FailNext(n, code)
		},
		Restart: func(t *testing.T) {
			require.NoError(t, f.SetDown(true))
			if err := f.SetDown(false); err != nil {
				adaptertest.Missing(t, "the fake cannot listen again after the restart: %v", err)
			}
		},
		Ordered: true,
		Secret:  conformanceSecret,
	})
}

// TestConformanceLocalPeer runs the suite once more against the small local peer,
// whose failure answers echo the Authorization header and the body.
func TestConformanceLocalPeer(t *testing.T) {
	p := newPeer(t)
	adaptertest.RunSink(t, adaptertest.SinkHarness{
		New: func(t *testing.T) adapters.Sink {
			cfg := DefaultConfig()
			cfg.URL = p.URL() + "/api"
			cfg.Forward = []string{"*"}
			cfg.APIKey = conformanceSecret
			cfg.Origin = "http://gw-test:8977"
			cfg.Circuit.Failures = 1000
			s, err := New(cfg, testDeps())
			require.NoError(t, err)
			return s
		},
		Received: func(t *testing.T) []adaptertest.Delivery {
			var out []adaptertest.Delivery
			for _, c := range p.received(false) {
				var a struct{ Text string }
				if c.Method == http.MethodPost && c.Path == "/api/alert" && !c.Scripted && json.Unmarshal(c.Body, &a) == nil {
					out = append(out, adaptertest.Delivery{Payload: []byte(a.Text)})
				}
			}
			return out
		},
		FailNext: func(t *testing.T, n int, permanent bool) {
			code := failCode(permanent)
			for range n {
				p.on("POST /api/alert", answer{code: code, body: `{"status":"error"}`, echo: true})
			}
		},
		Restart: func(t *testing.T) { p.Restart(t) },
		Ordered: true,
		Secret:  conformanceSecret,
	})
}

// failCode is the status a failure the suite asks for is answered with: 400 for a
// permanent one, else 503.
func failCode(permanent bool) int {
	if permanent {
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}
