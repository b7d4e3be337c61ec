package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
)

// lastCircuit is the Deps.Circuit of the test_circuit sink built last (daemon.New
// builds the sinks twice: once in its Check, then for real).
var lastCircuit struct {
	sync.Mutex
	f func(string)
}

// circuitSink delivers everything; its Deps.Circuit is handed to the test.
type circuitSink struct{}

func (circuitSink) Connect(context.Context) error               { return nil }
func (circuitSink) Send(context.Context, *adapters.Event) error { return nil }
func (circuitSink) Close(context.Context) error                 { return nil }

func init() {
	adapters.RegisterSink("test_circuit", adapters.SinkSpec[struct{}]{
		New: func(_ struct{}, d adapters.Deps) (adapters.Sink, error) {
			if d.Circuit == nil {
				return nil, fmt.Errorf("sink %s got no Circuit", d.Name)
			}
			lastCircuit.Lock()
			lastCircuit.f = d.Circuit
			lastCircuit.Unlock()
			return circuitSink{}, nil
		},
	})
}

// TestSinkCircuitMetric: the states a sink reports through Deps.Circuit become
// edgerelay_sink_circuit_state, 1 for the current state and 0 for the two others,
// all three present from the first report.
func TestSinkCircuitMetric(t *testing.T) {
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sources: [ { name: in, type: test_role } ]
sinks: [ { name: hq, type: test_circuit } ]
routes: [ { from: [in], to: [hq] } ]
`, t.TempDir())), "test.yaml")
	require.NoError(t, err)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "test"})
	require.NoError(t, err)
	defer runDaemon(t, d)()
	lastCircuit.Lock()
	report := lastCircuit.f
	lastCircuit.Unlock()

	series := func(state string) string {
		return fmt.Sprintf(`edgerelay_sink_circuit_state{sink="hq",state="%s"}`, state)
	}
	for _, tc := range []struct{ state string }{{"closed"}, {"open"}, {"half_open"}, {"closed"}} {
		report(tc.state)
		text := metricsText(t, d)
		for _, s := range []string{"closed", "open", "half_open"} {
			want := "0"
			if s == tc.state {
				want = "1"
			}
			require.Contains(t, text, series(s)+" "+want+"\n", "after %s", tc.state)
		}
	}
	require.Contains(t, metricsText(t, d), "# TYPE edgerelay_sink_circuit_state gauge")
}
