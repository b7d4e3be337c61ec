package forward

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

const conformanceSecret = "s3cr3t-conformance-api-key"

// TestConformance runs the sink suite with the generic mapping: the suite's raw
// events become alerts whose text is the payload, which the peer hands back.
func TestConformance(t *testing.T) {
	p := newPeer(t)
	adaptertest.RunSink(t, adaptertest.SinkHarness{
		New: func(t *testing.T) adapters.Sink {
			cfg := DefaultConfig()
			cfg.URL = p.URL() + "/api"
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
			for _, c := range p.received(false) {
				if c.Method != http.MethodPost || c.Path != "/api/alert" {
					continue
				}
				var a struct{ Text string }
				if json.Unmarshal(c.Body, &a) == nil {
					out = append(out, adaptertest.Delivery{Payload: []byte(a.Text)})
				}
			}
			return out
		},
		FailNext: func(t *testing.T, n int, permanent bool) {
			code := http.StatusServiceUnavailable
			if permanent {
				code = http.StatusBadRequest
			}
			for range n {
				p.on("POST /api/alert", answer{code: code, body: `{"status":"error"}`, echo: true})
			}
		},
		Restart: p.restart,
		Ordered: true,
		Secret:  conformanceSecret,
	})
}
