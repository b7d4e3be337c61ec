package daemon_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/store"
)

// TestBacklogAtStartDrains runs the daemon on a real store holding three events for
// its webhook sink, on a fake clock: the start line counts them (though the sink
// delivers them at once), and the first step of the clock ends with "backlog drained".
func TestBacklogAtStartDrains(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	db, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	var b store.Batch
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	for _, id := range []string{"e1", "e2", "e3"} {
		data, err := (&adapters.Event{ID: id, Key: "k", Topic: "plant/x", Payload: []byte(`{}`)}).MarshalBinary()
		require.NoError(t, err)
		b.Put(&store.Entry{Sink: "hook", Key: "k", Data: data, Enqueued: t0.Add(-5 * time.Minute)})
	}
	require.NoError(t, db.Commit(&b))
	require.NoError(t, db.Close())

	var got atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { got.Add(1) }))
	defer target.Close()
	cfg, err := config.Parse(fmt.Appendf(nil, `
store: { path: %s }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sinks: [ { name: hook, type: webhook, url: %q } ]
routes: [ { to: [hook] } ]
`, path, target.URL), "test.yaml")
	require.NoError(t, err)
	clk := clocktest.NewFake(t0)
	var logs adaptertest.Buffer
	d, err := daemon.New(daemon.Options{Config: cfg, Version: "test", Clock: clk,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	defer stop()

	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "queued backlog at start") },
		10*time.Second, time.Millisecond)
	require.Contains(t, logs.String(), `msg="queued backlog at start" component=backlog sink=hook events=3 oldest_age=5m0s`)
	require.Eventually(t, func() bool {
		st, _ := d.Pipeline().SinkStatus("hook")
		return got.Load() == 3 && st.Depth == 0
	}, 10*time.Second, time.Millisecond, "the backlog is delivered")
	for i := 0; !strings.Contains(logs.String(), "backlog drained"); i++ {
		require.Less(t, i, 1000, "no drained line after %s of the clock:\n%s", clk.Now().Sub(t0), logs.String())
		next, ok := clk.WaitNext(10 * time.Second)
		require.True(t, ok)
		if !next.After(t0.Add(10 * time.Second)) {
			clk.AdvanceTo(next)
			continue
		}
		clk.AdvanceTo(t0.Add(10 * time.Second)) // the watcher's first step
		require.Eventually(t, func() bool { return strings.Contains(logs.String(), "backlog drained") },
			10*time.Second, time.Millisecond)
	}
	require.Contains(t, logs.String(), `msg="backlog drained" component=backlog sink=hook events=3 took=10s`)
	require.NotContains(t, logs.String(), "draining backlog", "delivered before the first step: no progress line")
}
