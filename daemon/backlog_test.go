package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/daemon/web"
)

// sinkDepths is the status the watcher reads: settable depths per sink.
type sinkDepths struct {
	mu sync.Mutex // guards s
	s  []pipeline.SinkStatus
}

func (d *sinkDepths) set(name string, depth int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.s {
		if d.s[i].Name == name {
			d.s[i].Depth = depth
		}
	}
}

// stored is Pipeline.StoredAtStart: the depths and oldest times set before start.
func (d *sinkDepths) stored(sink string) (int, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.s {
		if s.Name == sink {
			return int(s.Depth), s.Oldest
		}
	}
	return 0, time.Time{}
}

func (d *sinkDepths) status() []pipeline.SinkStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]pipeline.SinkStatus(nil), d.s...)
}

// logLines is a slog handler's output, one line per record.
type logLines struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSpace(l.b.String())
	l.b.Reset()
	if s == "" {
		return nil
	}
	var out []string
	for _, line := range strings.Split(s, "\n") {
		_, rest, _ := strings.Cut(line, " level=") // drop time=
		out = append(out, "level="+rest)
	}
	return out
}

// ready answers /ready from the real web server on h.
func ready(t *testing.T, h *health.Tracker) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	web.New(web.Config{}, h, nil, nil).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
	if rec.Code == http.StatusNoContent {
		return rec.Code, nil
	}
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	return rec.Code, body
}

// TestBacklogProgress: the backlog queued at start is logged per sink; while it
// drains a progress line (rate, remaining, estimate) comes every step and /ready
// shows the same as the sink's degraded "draining" condition; a step without
// progress shows nothing; an empty backlog ends with "backlog drained".
func TestBacklogProgress(t *testing.T) {
	clk := clocktest.NewFake(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	h := health.New(clk.Now)
	var out logLines
	log := slog.New(slog.NewTextHandler(&out, nil))
	depths := &sinkDepths{s: []pipeline.SinkStatus{
		{Name: "hook", Depth: 5000, Oldest: clk.Now().Add(-90 * time.Second)},
		{Name: "console"},
	}}
	w := newBacklogWatch(log, h, clk, depths.status, depths.stored)

	w.start()
	require.Equal(t, []string{`level=INFO msg="queued backlog at start" sink=hook events=5000 oldest_age=1m30s`}, out.take())
	code, _ := ready(t, h)
	require.Equal(t, http.StatusNoContent, code)

	clk.Advance(backlogEvery)
	depths.set("hook", 4000)
	w.step()
	require.Equal(t, []string{`level=INFO msg="draining backlog" sink=hook remaining=4000 rate_per_s=100 eta=40s`}, out.take())
	code, body := ready(t, h)
	require.Equal(t, http.StatusOK, code, "degraded, still ready")
	require.Equal(t, []any{map[string]any{
		"component": "sink:hook", "state": "degraded", "draining": false,
		"backlog_remaining": 4000.0, "backlog_rate_per_s": 100.0, "backlog_eta_s": 40.0,
		"error": "draining backlog: 4000 left at 100.0 events/s, about 40s to empty",
	}}, body["components"])

	clk.Advance(backlogEvery)
	w.step() // no progress: no line, nothing on /ready
	require.Empty(t, out.take())
	code, _ = ready(t, h)
	require.Equal(t, http.StatusNoContent, code)

	clk.Advance(backlogEvery)
	depths.set("hook", 1000)
	w.step()
	require.Equal(t, []string{`level=INFO msg="draining backlog" sink=hook remaining=1000 rate_per_s=300 eta=3s`}, out.take())

	clk.Advance(backlogEvery)
	depths.set("hook", 0)
	w.step()
	require.Equal(t, []string{`level=INFO msg="backlog drained" sink=hook events=5000 took=40s`}, out.take())
	code, _ = ready(t, h)
	require.Equal(t, http.StatusNoContent, code)

	clk.Advance(backlogEvery)
	depths.set("console", 50)
	w.step()
	depths.set("console", 10)
	clk.Advance(backlogEvery)
	w.step()
	require.Empty(t, out.take(), "a few events in flight are no backlog")

	depths.set("console", 500)
	clk.Advance(backlogEvery)
	w.step() // a backlog that built up while running is followed from here
	depths.set("console", 0)
	clk.Advance(backlogEvery)
	w.step()
	require.Equal(t, []string{`level=INFO msg="backlog drained" sink=console events=500 took=10s`}, out.take())
}

// TestBacklogWatchFollowsTheClock: the watcher waits for the pipeline to have counted
// the stored backlog, then steps every backlogEvery of the daemon's clock.
func TestBacklogWatchFollowsTheClock(t *testing.T) {
	start := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	clk := clocktest.NewFake(start)
	h := health.New(clk.Now)
	changed, unsub := h.Subscribe()
	defer unsub()
	var out logLines
	depths := &sinkDepths{s: []pipeline.SinkStatus{{Name: "hook", Depth: 300}}}
	w := newBacklogWatch(slog.New(slog.NewTextHandler(&out, nil)), h, clk, depths.status, depths.stored)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx, started) }() // exits with ctx
	defer func() { cancel(); <-done }()

	_, armed := clk.Next()
	require.False(t, armed, "nothing before the pipeline has started")
	close(started)
	next, ok := clk.WaitNext(10 * time.Second)
	require.True(t, ok)
	require.Equal(t, start.Add(backlogEvery), next)
	depths.set("hook", 200)
	clk.AdvanceTo(next)
	<-changed // the step set the draining condition
	require.Equal(t, []string{
		`level=INFO msg="queued backlog at start" sink=hook events=300`,
		`level=INFO msg="draining backlog" sink=hook remaining=200 rate_per_s=10 eta=20s`,
	}, out.take())
}
