package daemon_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/store"
)

// seed writes n events for sink, and dead letters dead of them.
func seed(t *testing.T, path, sink string, n, dead int, ids ...string) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	var b store.Batch
	for i := range n {
		id := fmt.Sprintf("%s-%d", sink, i)
		if i < len(ids) {
			id = ids[i]
		}
		data, err := (&adapters.Event{ID: id, Kind: adapters.KindRaw, Topic: "t", Payload: []byte(`{}`)}).MarshalBinary()
		require.NoError(t, err)
		e := &store.Entry{Sink: sink, Data: data}
		if i < dead {
			b.DeadLetter(e, "permanent: 400")
		} else {
			b.Put(e)
		}
	}
	require.NoError(t, db.Commit(&b))
}

func newTestDaemon(t *testing.T, dir string, log io.Writer) (*daemon.Daemon, *atomic.Int64) {
	t.Helper()
	var delivered atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { delivered.Add(1) }))
	t.Cleanup(hook.Close)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sinks: [ { name: hook, type: webhook, url: %q } ]
routes: [ { to: [hook] } ]
`, dir, hook.URL)), "test.yaml")
	require.NoError(t, err)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.NewTextHandler(log, nil)), Version: "test"})
	require.NoError(t, err)
	return d, &delivered
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func condition(d *daemon.Daemon, component, name string) (health.Condition, bool) {
	for _, c := range d.Health().Snapshot() {
		if c.Component == component && c.Name == name {
			return c, true
		}
	}
	return health.Condition{}, false
}

// TestStrandedOutboxesReported: events of a sink that is no longer configured are
// reported at start in the log, on /ready (degraded, still ready) and in /metrics.
func TestStrandedOutboxesReported(t *testing.T) {
	dir := t.TempDir()
	seed(t, filepath.Join(dir, "q.db"), "old-hook", 4, 1)
	seed(t, filepath.Join(dir, "q.db"), "@rejected", 1, 1) // the daemon's own bucket
	var log adaptertest.Buffer
	d, _ := newTestDaemon(t, dir, &log)
	stop := runDaemon(t, d)
	defer stop()

	c, ok := condition(d, "store", "stranded")
	require.True(t, ok)
	require.Equal(t, health.Degraded, c.Severity)
	require.Contains(t, c.Detail, `"old-hook": 3 queued, 1 dead`)
	require.Contains(t, c.Detail, "edgerelay queue move --from OLD --to NEW")
	require.NotContains(t, c.Detail, "@rejected")
	require.Contains(t, log.String(), `level=WARN msg="the store holds events of a sink that is not configured`)
	require.Contains(t, log.String(), "sink=old-hook pending=3 dead=1")

	code, body := get(t, "http://"+d.Addr()+"/ready")
	require.Equal(t, http.StatusOK, code, "degraded, not critical: %s", body)
	require.Contains(t, body, "old-hook")
	_, metrics := get(t, "http://"+d.Addr()+"/metrics")
	require.Contains(t, metrics, `edgerelay_store_stranded{sink="old-hook",bucket="outbox"} 3`)
	require.Contains(t, metrics, `edgerelay_store_stranded{sink="old-hook",bucket="dead"} 1`)
	require.NotContains(t, metrics, `edgerelay_store_stranded{sink="@rejected"`)
	require.NotContains(t, metrics, `edgerelay_store_stranded{sink="hook"`)
}

// TestQuarantineSalvagesAtStart: a store with a damaged record is quarantined at
// start and salvaged: the readable events are delivered, the damaged one is a
// corrupt dead letter, and the quarantine condition says what was salvaged.
func TestQuarantineSalvagesAtStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	seed(t, path, "hook", 3, 0, "first", "second-gets-damaged", "third")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	i := bytes.Index(raw, []byte("damaged"))
	require.Positive(t, i)
	raw[i] = 'D'
	require.NoError(t, os.WriteFile(path, raw, 0o600))

	var log adaptertest.Buffer
	d, delivered := newTestDaemon(t, dir, &log)
	c, ok := condition(d, "store", "quarantined")
	require.True(t, ok)
	require.Equal(t, health.Degraded, c.Severity)
	require.Contains(t, c.Detail, "outbox/hook/2: checksum mismatch")
	require.Contains(t, c.Detail, "salvaged 2 outbox and 1 dead-letter record(s)")
	require.Contains(t, c.Detail, "1 corrupt record(s) dead-lettered")
	require.Contains(t, log.String(), "level=ERROR")
	require.True(t, strings.Contains(log.String(), "salvaged"), log.String())
	stop := runDaemon(t, d)
	require.Eventually(t, func() bool { return delivered.Load() == 2 }, 10*time.Second, 5*time.Millisecond)
	stop()

	db, err := store.OpenReadOnly(path, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	st, err := db.Stats()
	require.NoError(t, err)
	require.Equal(t, 0, st.Sinks["hook"].Pending, "the two readable events were delivered")
	require.Equal(t, 1, st.Sinks["hook"].Dead)
	var dead []store.Dead
	require.NoError(t, db.ScanDead("hook", 0, 0, func(x store.Dead) error { dead = append(dead, x); return nil }))
	require.Contains(t, dead[0].Reason, "corrupt record: outbox/hook/2")
}
