package daemon_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
)

// recordingHook is a webhook peer that keeps the bodies it accepts, answering 503
// while closed.
type recordingHook struct {
	mu     sync.Mutex
	bodies []string
	closed atomic.Bool
}

func (h *recordingHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if h.closed.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h.mu.Lock()
	h.bodies = append(h.bodies, string(b))
	h.mu.Unlock()
}

func (h *recordingHook) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

func metricsText(t *testing.T, d *daemon.Daemon) string {
	t.Helper()
	resp, err := http.Get("http://" + d.Addr() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestOversizeOverEmbeddedBroker publishes, with a real MQTT client over the
// embedded broker, a message whose payload is just over store.max_event_bytes: the broker's
// packet limit (derived from the event limit) lets it through, so the relay's size
// policy takes it. The client gets its PUBACK and stays connected, the reject is
// counted in /metrics, the dead letter keeps only a bounded prefix with the original
// size, and the client does not resend: a marker published after it arrives, and the
// relay saw the oversize message exactly once.
func TestOversizeOverEmbeddedBroker(t *testing.T) {
	hook := &recordingHook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	dir := t.TempDir()
	brokerAddr := freePort(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "true", listen: %s }
sources: [ { name: local, type: mqtt, url: "tcp://%s", topics: ["a/#"], qos: 1 } ]
sinks: [ { name: hook, type: webhook, url: %q } ]
routes: [ { from: [local], to: [hook] } ]
`, dir, brokerAddr, brokerAddr, srv.URL)), "test.yaml")
	require.NoError(t, err)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "test"})
	require.NoError(t, err)
	sub := d.Events().Subscribe("test", 4096, events.Received, events.Rejected)
	stop := runDaemon(t, d)

	var lost atomic.Int32
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("pub").
		SetAutoReconnect(false).
		SetConnectionLostHandler(func(paho.Client, error) { lost.Add(1) }))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())

	// Just over the default event limit (256 KiB), so over a packet limit equal to
	// it: before the limits were related, Mochi disconnected this client.
	const size = 256<<10 + 1000
	big := strings.Repeat("B", size)
	tok = c.Publish("a/big", 1, false, big)
	require.True(t, tok.WaitTimeout(10*time.Second), "no PUBACK for the oversize message")
	require.NoError(t, tok.Error())
	require.True(t, c.IsConnectionOpen(), "the client stays connected")

	tok = c.Publish("a/ok", 1, false, `{"marker":true}`)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	require.Eventually(t, func() bool { return len(hook.got()) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, `{"marker":true}`, hook.got()[0], "the oversize message never reaches the sink")
	require.Zero(t, lost.Load(), "the broker never dropped the client")
	require.Contains(t, metricsText(t, d), `edgerelay_events_rejected_total{source="local",reason="too_large"} 1`)

	c.Disconnect(50)
	stop()
	sub.Close()
	received := map[string]int{}
	rejected := 0
	for e := range sub.C() {
		switch e.Kind {
		case events.Received:
			received[e.Key]++
		case events.Rejected:
			require.Equal(t, "too_large", e.Reason)
			rejected++
		}
	}
	require.Equal(t, map[string]int{"a/big": 1, "a/ok": 1}, received, "nothing was resent")
	require.Equal(t, 1, rejected)

	db, err := store.Open(filepath.Join(dir, "q.db"), store.Options{})
	require.NoError(t, err)
	defer db.Close()
	var dead []store.Dead
	require.NoError(t, db.ScanDead(pipeline.RejectedSink, 0, 0, func(x store.Dead) error { dead = append(dead, x); return nil }))
	require.Len(t, dead, 1)
	require.Less(t, len(dead[0].Data), 2048)
	var ev adapters.Event
	require.NoError(t, ev.UnmarshalBinary(dead[0].Data))
	require.Equal(t, big[:pipeline.RejectPrefixBytes], string(ev.Payload))
	n, ok := pipeline.Truncated(&ev)
	require.True(t, ok)
	require.Equal(t, size, n)
}

// TestMaxBytesReadiness fills a daemon's store to a small store.max_bytes while the
// webhook answers 503, with a real MQTT client publishing over the embedded broker:
// PUBACKs stop (back-pressure), /ready answers 503 naming the store's space
// condition, /metrics shows the store full and the HTTP ingest answers 503 with
// Retry-After, before any disk is full. When the webhook
// recovers the backlog drains, /ready is back to 204 and every message was delivered.
func TestMaxBytesReadiness(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: fills a store")
	}
	hook := &recordingHook{}
	hook.closed.Store(true)
	srv := httptest.NewServer(hook)
	defer srv.Close()
	dir := t.TempDir()
	brokerAddr := freePort(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db, max_bytes: 1048576, max_event_bytes: 16384, max_pending: 16 }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "true", listen: %s }
sources:
  - { name: local, type: mqtt, url: "tcp://%s", topics: ["a/#"], qos: 1 }
  - { name: api, type: ilert_http, publish_timeout: 300ms }
sinks: [ { name: hook, type: webhook, url: %q, retry: { initial: 20ms, max: 100ms } } ]
routes: [ { from: [local, api], to: [hook] } ]
`, dir, brokerAddr, brokerAddr, srv.URL)), "test.yaml")
	require.NoError(t, err)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "test"})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	defer stop()

	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("pub").
		SetCleanSession(false).SetMaxResumePubInFlight(1000))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())

	// 200 messages of 10 KiB: twice the bound.
	const n = 200
	payload := strings.Repeat("x", 10000)
	toks := make([]paho.Token, n)
	for i := range toks {
		toks[i] = c.Publish("a/x", 1, false, fmt.Sprintf(`{"n":%d,"p":%q}`, i, payload))
	}
	ready := func() (int, string) {
		resp, err := http.Get("http://" + d.Addr() + "/ready")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool {
		code, body := ready()
		return code == http.StatusServiceUnavailable && strings.Contains(body, "store.max_bytes")
	}, 20*time.Second, 20*time.Millisecond, "/ready reports the full store")
	require.Contains(t, metricsText(t, d), "edgerelay_store_full 1")
	acked := 0
	for _, tk := range toks {
		select {
		case <-tk.Done():
			acked++
		default:
		}
	}
	require.Less(t, acked, n, "PUBACKs stop while the store is full")
	t.Logf("store full with %d of %d messages acknowledged", acked, n)
	// The HTTP ingest cannot make an event durable either: 503 with Retry-After.
	resp, err := http.Post("http://"+d.Addr()+"/api/events", "application/json",
		strings.NewReader(`{"apiKey":"il1api123","eventType":"ALERT","summary":"while full","alertKey":"h"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))

	hook.closed.Store(false)
	for i, tk := range toks {
		require.True(t, tk.WaitTimeout(30*time.Second), "message %d never acknowledged", i)
		require.NoError(t, tk.Error())
	}
	require.Eventually(t, func() bool { return len(hook.got()) >= n }, 30*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { code, _ := ready(); return code == http.StatusNoContent }, 20*time.Second, 20*time.Millisecond,
		"/ready recovers once the backlog drained")
	seen := map[string]bool{}
	for _, b := range hook.got() {
		if strings.HasPrefix(b, `{"n":`) { // not the ilert event: refused with 503, it may still arrive
			seen[b] = true
		}
	}
	require.Len(t, seen, n, "every message delivered")
	require.Contains(t, metricsText(t, d), "edgerelay_store_full 0")
	c.Disconnect(50)
}

// TestMaxBytesBeforeDiskFull runs a daemon with the default store.max_bytes (256
// MiB) on an 8 MiB disk: the bound is lowered at start to what the disk holds, so
// with the webhook down the store reports itself full and PUBACKs stop while every
// commit still succeeds — back-pressure before the disk is full, not a failing disk.
// It needs root for the tmpfs (skipped with a visible message otherwise, failing
// under CI=true).
func TestMaxBytesBeforeDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: fills a disk")
	}
	if os.Geteuid() != 0 {
		adaptertest.Missing(t, "needs root to mount an 8 MiB tmpfs as a disk that fills up")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	require.NoError(t, os.Mkdir(dir, 0o700))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		adaptertest.Missing(t, "cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })

	hook := &recordingHook{}
	hook.closed.Store(true)
	srv := httptest.NewServer(hook)
	defer srv.Close()
	brokerAddr := freePort(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db, max_pending: 16 }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "true", listen: %s }
sources: [ { name: local, type: mqtt, url: "tcp://%s", topics: ["a/#"], qos: 1 } ]
sinks: [ { name: hook, type: webhook, url: %q, retry: { initial: 20ms, max: 100ms } } ]
routes: [ { from: [local], to: [hook] } ]
`, dir, brokerAddr, brokerAddr, srv.URL)), "test.yaml")
	require.NoError(t, err)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "test"})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	defer stop()
	m := metricsText(t, d)
	var effective float64
	for _, line := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(line, "edgerelay_store_max_bytes "); ok {
			_, err := fmt.Sscan(v, &effective)
			require.NoError(t, err)
		}
	}
	require.Positive(t, effective)
	require.Less(t, effective, float64(8<<20), "the bound is lowered to what the disk holds")

	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("pub"))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	payload := strings.Repeat("x", 10000)
	pubDone := make(chan struct{})
	go func() { // blocks in the socket once the relay stops reading; ends with the client
		defer close(pubDone)
		for i := 0; i < 1500; i++ { // 15 MB: more than the disk
			if !c.IsConnectionOpen() {
				return
			}
			c.Publish("a/x", 1, false, fmt.Sprintf(`{"n":%d,"p":%q}`, i, payload))
		}
	}()
	defer func() { c.Disconnect(0); <-pubDone }()
	require.Eventually(t, func() bool { return strings.Contains(metricsText(t, d), "edgerelay_store_full 1") },
		30*time.Second, 20*time.Millisecond, "the store reaches its bound")
	require.Eventually(t, func() bool { // the status loop refreshes every 2 s
		resp, err := http.Get("http://" + d.Addr() + "/ready")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "store.max_bytes")
	}, 10*time.Second, 20*time.Millisecond, "/ready names the full store")
	require.Empty(t, d.Pipeline().StoreError(), "no commit failed: the bound came before the full disk")
}
