package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// notifySocket is a fake systemd: it records every datagram sent to NOTIFY_SOCKET.
type notifySocket struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex // guards msgs
	msgs []string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	ns := &notifySocket{path: path, conn: conn}
	go func() { // exits when the socket is closed at cleanup
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			for _, line := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
				ns.mu.Lock()
				ns.msgs = append(ns.msgs, line)
				ns.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return ns
}

func (ns *notifySocket) count(prefix string) int {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	n := 0
	for _, m := range ns.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

func (ns *notifySocket) last(prefix string) string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	for i := len(ns.msgs) - 1; i >= 0; i-- {
		if strings.HasPrefix(ns.msgs[i], prefix) {
			return ns.msgs[i]
		}
	}
	return ""
}

// TestSystemdContract: READY=1 only once the store is open and the MQTT source has
// subscribed; WATCHDOG=1 while alive; STATUS lines; STOPPING=1 and a clean exit on
// SIGTERM.
func TestSystemdContract(t *testing.T) {
	const mosq = "127.0.0.1:1883"
	adaptertest.NeedService(t, "mosquitto", mosq)
	dir := t.TempDir()
	httpAddr := freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "false" }
sources:
  - { name: site, type: mqtt, url: tcp://%s, client_id: edgerelay-sd-%d, topics: ["edgerelay-test/sd/#"] }
sinks:
  - { name: console, type: stdout }
routes:
  - { to: [console] }
`, dir, httpAddr, mosq, time.Now().UnixNano()))
	ns := newNotifySocket(t)
	d := startDaemon(t, []string{"NOTIFY_SOCKET=" + ns.path, "WATCHDOG_USEC=200000"}, "run", "-c", cfg)
	waitUntil(t, "READY=1", 20*time.Second, func() bool { return ns.count("READY=1") == 1 })
	// READY means subscribed: /ready must already say so.
	resp, err := http.Get("http://" + httpAddr + "/ready")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	waitUntil(t, "watchdog pings", 10*time.Second, func() bool { return ns.count("WATCHDOG=1") >= 3 })
	waitUntil(t, "a STATUS line", 10*time.Second, func() bool { return strings.Contains(ns.last("STATUS="), "queued") })
	require.Contains(t, ns.last("STATUS="), "console ok")

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not stop on SIGTERM:\n%s", d.stderr.String())
	}
	require.Equal(t, 0, d.cmd.ProcessState.ExitCode(), d.stderr.String())
	require.Equal(t, 1, ns.count("STOPPING=1"))
}

// TestNotReadyWhileSourceDown: with the broker unreachable READY=1 is withheld (for
// the startup grace) and /ready answers 503 with the failing component as JSON.
func TestNotReadyWhileSourceDown(t *testing.T) {
	dir := t.TempDir()
	httpAddr, dead := freePort(t), freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "false" }
sources:
  - { name: site, type: mqtt, url: tcp://%s, topics: ["a/#"] }
sinks:
  - { name: console, type: stdout }
routes:
  - { to: [console] }
`, dir, httpAddr, dead))
	ns := newNotifySocket(t)
	d := startDaemon(t, []string{"NOTIFY_SOCKET=" + ns.path}, "run", "-c", cfg)
	waitHTTP(t, d, "http://"+httpAddr+"/health", http.StatusNoContent)
	resp, err := http.Get("http://" + httpAddr + "/ready")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	var ready map[string]any
	require.NoError(t, json.Unmarshal(body, &ready), string(body))
	require.Equal(t, "source:site", ready["component"])
	require.Equal(t, false, ready["connected"])
	require.Contains(t, ready, "subscriptions_ready")
	require.Contains(t, ready, "error")
	// The daemon logs when READY=1 starts waiting; a datagram sent after that is read
	// after everything the daemon sent before it. (That READY=1 keeps waiting for the
	// whole grace is checked in-process on a fake clock:
	// daemon.TestSupervisionFollowsTheClock.)
	waitUntil(t, "the daemon to wait for the source", 20*time.Second,
		func() bool { return strings.Contains(d.stderr.String(), "READY=1 waits for sources to subscribe") })
	ns.mark(t, "TEST=marker")
	waitUntil(t, "the marker", 20*time.Second, func() bool { return ns.count("TEST=marker") == 1 })
	require.Zero(t, ns.count("READY=1"), "READY=1 must wait for the source")
}

// mark sends line to the socket itself: every datagram sent to it before is read
// before line.
func (ns *notifySocket) mark(t *testing.T, line string) {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: ns.path, Net: "unixgram"})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte(line))
	require.NoError(t, err)
}

// TestStartupProblemsAreClear: a taken port and an unwritable state directory stop
// the start with a message naming the setting to change.
func TestStartupProblemsAreClear(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	tests := []struct {
		name, store, http, broker string
		want                      []string
	}{
		{"http port taken", dir + "/q.db", taken.Addr().String(), `"false"`, []string{taken.Addr().String(), "http.listen"}},
		{"broker port taken", dir + "/q.db", "127.0.0.1:0", `"true", listen: ` + taken.Addr().String(), []string{taken.Addr().String(), "broker.listen"}},
		{"state dir unwritable", blocker + "/sub/q.db", "127.0.0.1:0", `"false"`, []string{"store.path"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, t.TempDir(), fmt.Sprintf(`
store: { path: %s }
http: { listen: %s }
broker: { enabled: %s }
sinks: [ { name: console, type: stdout } ]
routes: [ { to: [console] } ]
`, tc.store, tc.http, tc.broker))
			var stderr bytes.Buffer
			code := run(context.Background(), []string{"run", "-c", cfg}, io.Discard, &stderr)
			require.Equal(t, exitError, code, stderr.String())
			for _, w := range tc.want {
				require.Contains(t, stderr.String(), w)
			}
			t.Log(strings.TrimSpace(stderr.String()))
		})
	}
}

// TestCorruptStoreIsQuarantined: a store file that is garbage is moved aside, the
// daemon starts on an empty store and says so loudly; it never refuses to start.
func TestCorruptStoreIsQuarantined(t *testing.T) {
	dir := t.TempDir()
	garbage := bytes.Repeat([]byte("not a bbolt file, a power cut happened here. "), 2000)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "queue.db"), garbage, 0o600))
	httpAddr := freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "false" }
sinks: [ { name: console, type: stdout } ]
routes: [ { to: [console] } ]
`, dir, httpAddr))
	ns := newNotifySocket(t)
	d := startDaemon(t, []string{"NOTIFY_SOCKET=" + ns.path}, "run", "-c", cfg)
	waitHTTP(t, d, "http://"+httpAddr+"/health", http.StatusNoContent)
	require.Equal(t, 1.0, scrape(t, httpAddr, "edgerelay_store_quarantined"))
	require.Equal(t, 0.0, scrape(t, httpAddr, `edgerelay_bus_dropped_total{subscriber="status"}`), "the STATUS subscriber's drop counter")
	moved, err := filepath.Glob(filepath.Join(dir, "quarantine", "queue.db.*.corrupt"))
	require.NoError(t, err)
	require.Len(t, moved, 1, "the bad file is kept, never deleted")
	kept, err := os.ReadFile(moved[0])
	require.NoError(t, err)
	require.Equal(t, garbage, kept)
	waitUntil(t, "a STATUS line about the store", 10*time.Second, func() bool {
		return strings.Contains(ns.last("STATUS="), "store was corrupt")
	})
	require.Contains(t, d.stderr.String(), "level=ERROR")

	// Degraded, not down: /ready answers 200 and lists the store.
	resp, err := http.Get("http://" + httpAddr + "/ready")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var ready struct {
		Components []map[string]any `json:"components"`
	}
	require.NoError(t, json.Unmarshal(body, &ready), string(body))
	require.Len(t, ready.Components, 1, string(body))
	require.Equal(t, "store", ready.Components[0]["component"])
	require.Equal(t, "degraded", ready.Components[0]["state"])
	require.Equal(t, false, ready.Components[0]["quarantined"])
}
