package daemon_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/health"
)

// TestGivingUpIsSeen: an event that fails retry.max_attempts times goes to the dead
// letters instead of blocking the sink forever (ilagent retries a failing script
// with no cap), and that is seen: the sink's dead_letters condition is degraded on
// /ready (which stays 200) with the count and the latest reason, and
// edgerelay_dead_letters_kept counts them.
func TestGivingUpIsSeen(t *testing.T) {
	dir := t.TempDir()
	seed(t, filepath.Join(dir, "q.db"), "hook", 2, 0)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(hook.Close)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sinks:
  - name: hook
    type: webhook
    url: %q
    retry: { initial: 10ms, max: 20ms, max_attempts: 3 }
routes: [ { to: [hook] } ]
`, dir, hook.URL)), "test.yaml")
	require.NoError(t, err)
	var log adaptertest.Buffer
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.NewTextHandler(&log, nil)), Version: "test"})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	defer stop()

	var c health.Condition
	require.Eventually(t, func() bool {
		var ok bool
		c, ok = condition(d, "sink:hook", "dead_letters")
		return ok && !c.OK
	}, 20*time.Second, 10*time.Millisecond, "the dead_letters condition")
	require.Equal(t, health.Degraded, c.Severity)
	require.Contains(t, c.Detail, "2 dead letter(s)")
	require.Contains(t, c.Detail, "gave up after 3 attempts")
	require.Contains(t, c.Detail, "edgerelay queue list --dead --sink hook")

	code, body := get(t, "http://"+d.Addr()+"/ready")
	require.Equal(t, http.StatusOK, code, "degraded, not critical: %s", body)
	require.Contains(t, body, "dead_letters")
	_, metrics := get(t, "http://"+d.Addr()+"/metrics")
	require.Contains(t, metrics, `edgerelay_dead_letters_kept{sink="hook"} 2`)
	require.Contains(t, metrics, `edgerelay_dead_letters_total{sink="hook"} 2`)
	require.True(t, strings.Contains(log.String(), "event dead-lettered"), log.String())
}
