package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
)

// tableRun is what one Run of a tableSource saw.
type tableRun struct {
	atNew    []string // the table's records when the source was built, "key=value"
	flushErr error
}

// tableRuns receives one tableRun per Run of a tableSource.
var tableRuns = make(chan tableRun, 8)

// tableSource adds a record to its table per run and another while stopping.
type tableSource struct {
	tb    adapters.Table
	atNew []string
}

func (s *tableSource) Run(ctx context.Context, _ adapters.Publisher) error {
	n := s.tb.Len()/2 + 1
	if err := s.tb.Set("run/"+strconv.Itoa(n), []byte("started")); err != nil {
		return err
	}
	tableRuns <- tableRun{atNew: s.atNew, flushErr: s.tb.Flush(ctx)}
	<-ctx.Done()
	// The daemon is stopping: a record set now is still committed before its writer stops.
	return s.tb.Set("stop/"+strconv.Itoa(n), []byte("bye"))
}

func init() {
	adapters.RegisterSource("test_table", adapters.SourceSpec[struct{}]{
		New: func(_ struct{}, d adapters.Deps) (adapters.Source, error) {
			if d.Table == nil {
				return nil, fmt.Errorf("source %s got no tables", d.Name)
			}
			tb, err := d.Table("runs", adapters.TableLimits{MaxEntries: 10})
			if err != nil {
				return nil, err
			}
			again, err := d.Table("runs", adapters.TableLimits{MaxEntries: 10})
			if err != nil || again != tb {
				return nil, fmt.Errorf("the second open gave another table (%v)", err)
			}
			if _, err := d.Table("bad/name", adapters.TableLimits{}); err == nil {
				return nil, fmt.Errorf("a bad table name was accepted")
			}
			var atNew []string
			tb.Range(func(k string, v []byte) bool {
				atNew = append(atNew, k+"="+string(v))
				return true
			})
			// A constructor may write: in `config check` the table is in memory.
			if err := tb.Set("built", []byte("yes")); err != nil {
				return nil, err
			}
			return &tableSource{tb: tb, atNew: atNew}, nil
		},
	})
}

// TestSourceTableAcrossRestarts: a source finds in its constructor the records it set
// in the previous run of the daemon, including one set while the daemon was
// stopping; `config check` builds it with a table that writes no store.
func TestSourceTableAcrossRestarts(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sources: [ { name: edge, type: test_table } ]
sinks: [ { name: console, type: stdout } ]
routes: [ { from: [edge], to: [console] } ]
`, dir)), "test.yaml")
	require.NoError(t, err)

	require.NoError(t, daemon.Check(cfg))
	_, err = os.Stat(filepath.Join(dir, "q.db"))
	require.ErrorIs(t, err, os.ErrNotExist, "config check wrote no store")

	for round := 1; round <= 2; round++ {
		d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "test"})
		require.NoError(t, err)
		stop := runDaemon(t, d)

		got := receiveRun(t, tableRuns)
		require.NoError(t, got.flushErr)
		if round == 1 {
			require.Empty(t, got.atNew, "the check's records stayed in memory")
		} else {
			require.Equal(t, []string{"built=yes", "run/1=started", "stop/1=bye"}, got.atNew,
				"the constructor sees the stored records, including one set while stopping")
		}
		stop()
	}
}
