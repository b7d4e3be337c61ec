package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
)

// stateRun is what one Run of a stateSource saw.
type stateRun struct {
	atNew, lastWords []byte // State values when the source was built
	runs             int
	flushErr         error
}

// stateRuns receives one stateRun per Run of a stateSource.
var stateRuns = make(chan stateRun, 8)

// stateSource counts its runs in its state and, when stopped, sets one more value.
type stateSource struct {
	st              adapters.State
	atNew, lastWord []byte
}

func (s *stateSource) Run(ctx context.Context, _ adapters.Publisher) error {
	n, _ := strconv.Atoi(string(s.st.Get("runs")))
	n++
	if err := s.st.Set("runs", []byte(strconv.Itoa(n))); err != nil {
		return err
	}
	stateRuns <- stateRun{atNew: s.atNew, lastWords: s.lastWord, runs: n, flushErr: s.st.Flush(ctx)}
	<-ctx.Done()
	// The daemon is stopping: a value set now is still committed before its writer stops.
	return s.st.Set("last-words", []byte("bye "+strconv.Itoa(n)))
}

func init() {
	adapters.RegisterSource("test_state", adapters.SourceSpec[struct{}]{
		New: func(_ struct{}, d adapters.Deps) (adapters.Source, error) {
			if d.State == nil {
				return nil, fmt.Errorf("source %s got no state", d.Name)
			}
			return &stateSource{st: d.State, atNew: d.State.Get("runs"), lastWord: d.State.Get("last-words")}, nil
		},
	})
}

// TestSourceStateAcrossRestarts: a source finds in its constructor the state it set in
// the previous run of the daemon, including a value set while the daemon was stopping.
func TestSourceStateAcrossRestarts(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sources: [ { name: edge, type: test_state } ]
sinks: [ { name: console, type: stdout } ]
routes: [ { from: [edge], to: [console] } ]
`, t.TempDir())), "test.yaml")
	require.NoError(t, err)

	for round := 1; round <= 2; round++ {
		d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "test"})
		require.NoError(t, err)
		stop := runDaemon(t, d)

		got := receiveRun(t, stateRuns)
		require.NoError(t, got.flushErr)
		require.Equal(t, round, got.runs)
		if round == 2 {
			require.Equal(t, "1", string(got.atNew), "the constructor sees the stored state")
			require.Equal(t, "bye 1", string(got.lastWords), "state set while stopping is saved")
		}
		stop()
	}
}

// receiveRun returns what the test source reported of its run, failing the test
// when it did not run within 10 s.
func receiveRun[T any](t *testing.T, runs <-chan T) T {
	t.Helper()
	select {
	case got := <-runs:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("the source did not run")
	}
	panic("unreachable")
}
