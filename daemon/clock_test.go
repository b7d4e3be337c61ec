package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
)

// failingSource fails every Run at once and never sets its readiness condition;
// it stamps each Run with its clock's time.
type failingSource struct {
	clk  *clocktest.Fake
	mu   sync.Mutex // guards runs
	runs []time.Time
}

func (s *failingSource) Run(context.Context, adapters.Publisher) error {
	s.mu.Lock()
	s.runs = append(s.runs, s.clk.Now())
	s.mu.Unlock()
	return errors.New("upstream unreachable")
}

func (s *failingSource) started() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.runs)
}

// failingSources maps a Deps.Name to the source built for it.
var failingSources sync.Map

func init() {
	adapters.RegisterSource("clocktest_failing", adapters.SourceSpec[struct{}]{
		Summary: "test only: fails every Run",
		Ready:   []string{"up"},
		New: func(_ struct{}, d adapters.Deps) (adapters.Source, error) {
			s := &failingSource{clk: d.Clock.(*clocktest.Fake)}
			failingSources.Store(d.Name, s)
			return s, nil
		},
	})
}

// notifyRecorder is a NOTIFY_SOCKET that keeps every line, in arrival order.
type notifyRecorder struct {
	path string
	mu   sync.Mutex // guards msgs
	msgs []string
}

func listenNotify(t *testing.T) *notifyRecorder {
	t.Helper()
	r := &notifyRecorder{path: filepath.Join(t.TempDir(), "notify.sock")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: r.path, Net: "unixgram"})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { // exits when the socket is closed at cleanup
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.msgs = append(r.msgs, strings.Split(strings.TrimSpace(string(buf[:n])), "\n")...)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return r
}

func (r *notifyRecorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// mark sends line to the socket itself: every datagram sent before it is read
// before it.
func (r *notifyRecorder) mark(t *testing.T, line string) {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: r.path, Net: "unixgram"})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte(line))
	require.NoError(t, err)
}

// TestSupervisionFollowsTheClock: the daemon restarts a failing source after the
// backoff its clock times (100 ms doubling, less at most 30 % jitter), and sends
// READY=1 without the source only once the startup grace has passed on that clock.
// The fake clock moves only when the test advances it; a NOTIFY_SOCKET datagram the
// test sends itself just before the grace ends proves READY=1 was not sent earlier.
func TestSupervisionFollowsTheClock(t *testing.T) {
	notify := listenNotify(t)
	t.Setenv("NOTIFY_SOCKET", notify.path)
	t.Setenv("WATCHDOG_USEC", "")
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktest.NewFake(t0)
	cfg, err := config.Parse(fmt.Appendf(nil, `
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sources: [ { name: flaky, type: clocktest_failing } ]
sinks: [ { name: console, type: stdout } ]
routes: [ { to: [console] } ]
`, t.TempDir()), "test.yaml")
	require.NoError(t, err)
	const grace = 30 * time.Second
	d, err := daemon.New(daemon.Options{Config: cfg, Version: "test", Clock: clk, StartupGrace: grace,
		Log: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	v, _ := failingSources.Load("flaky")
	src := v.(*failingSource)

	stop := runDaemon(t, d)

	for i, full := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		require.Eventually(t, func() bool { return len(src.started()) == i+1 }, 10*time.Second, time.Millisecond)
		at := src.started()[i]
		require.Equal(t, clk.Now(), at, "run %d started when the clock was moved there", i+1)
		// The restart timer is the earliest on the clock: the writer's idle tick
		// (1 s), the status loop (2 s) and the grace come later.
		var next time.Time
		require.Eventually(t, func() bool {
			var ok bool
			next, ok = clk.Next()
			return ok && next.After(at) && !next.After(at.Add(full))
		}, 10*time.Second, time.Millisecond, "restart %d armed on the clock", i+1)
		require.GreaterOrEqual(t, next.Sub(at), full*7/10, "restart %d", i+1)
		clk.AdvanceTo(next)
	}
	require.Eventually(t, func() bool { return len(src.started()) == 4 }, 10*time.Second, time.Millisecond)

	notify.mark(t, "TEST=before-grace")
	clk.AdvanceTo(t0.Add(grace))
	require.Eventually(t, func() bool { return slices.Contains(notify.lines(), "READY=1") },
		10*time.Second, time.Millisecond, "READY=1 once the grace has passed on the clock")
	lines := notify.lines()
	require.Less(t, slices.Index(lines, "TEST=before-grace"), slices.Index(lines, "READY=1"),
		"READY=1 came before the grace ended: %q", lines)

	stop()
}
