package ilert

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

func testDeps() adapters.Deps {
	return adapters.Deps{Name: "test", Log: slog.New(slog.DiscardHandler), Now: time.Now, Version: "test"}
}

const (
	conformanceAPIKey = "s3cr3t-conformance-token"
	conformanceIntKey = "il1api-conformance-integration"
)

// conformanceSink wraps the real sink for the generic suite, whose payloads are not
// ilert events: each one travels as the customDetails of an ALERT, and the harness
// reads it back from there. The sink under test is unchanged.
type conformanceSink struct{ *Sink }

func (c conformanceSink) Send(ctx context.Context, e *adapters.Event) error {
	ev := *e
	ev.Kind = adapters.KindAlert
	ev.Payload = fmt.Appendf(nil, `{"eventType":"ALERT","summary":"conformance","customDetails":%s}`, e.Payload)
	return c.Sink.Send(ctx, &ev)
}

func TestConformance(t *testing.T) {
	srv := ilerttest.NewServer(t)
	adaptertest.RunSink(t, adaptertest.SinkHarness{
		New: func(t *testing.T) adapters.Sink {
			cfg := DefaultConfig()
			cfg.APIHost, cfg.HeartbeatHost = srv.URL(), srv.URL()
			cfg.IntegrationKey = conformanceIntKey
			cfg.APIKey = conformanceAPIKey
			s, err := New(cfg, testDeps())
			require.NoError(t, err)
			return conformanceSink{s}
		},
		Received: func(t *testing.T) []adaptertest.Delivery {
			var out []adaptertest.Delivery
			for _, e := range srv.Events() {
				out = append(out, adaptertest.Delivery{Payload: e.Fields["customDetails"]})
			}
			return out
		},
		FailNext: func(t *testing.T, n int, permanent bool) {
			if permanent {
				srv.FailNext("*", n, http.StatusBadRequest)
			} else {
				srv.FailNext("*", n, http.StatusServiceUnavailable)
			}
		},
		Restart: func(t *testing.T) {
			if err := srv.Restart(); err != nil {
				adaptertest.Missing(t, "the fake ilert API cannot take its port back: %v", err)
			}
		},
		Ordered: true,
		Secret:  conformanceAPIKey,
	})
}
