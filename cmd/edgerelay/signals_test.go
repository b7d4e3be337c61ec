package main

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSIGHUPIsIgnored runs the real binary: SIGHUP (which by Go's default would kill
// it without a drain) is logged and ignored, the daemon keeps taking in and
// delivering events, and SIGTERM then stops it cleanly.
func TestSIGHUPIsIgnored(t *testing.T) {
	dir := t.TempDir()
	tg := newTarget(t)
	tg.open.Store(true)
	brokerAddr, httpAddr := freePort(t), freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "true", listen: %s }
sources:
  - { name: plant, type: mqtt, url: tcp://%s, topics: ["plant/#"], qos: 1 }
sinks:
  - { name: hook, type: webhook, url: %s, retry: { initial: 20ms, max: 200ms } }
routes:
  - { from: [plant], to: [hook] }
`, dir, httpAddr, brokerAddr, brokerAddr, tg.srv.URL))
	d := startDaemon(t, nil, "run", "-c", cfg)
	waitReady(t, d, "http://"+httpAddr+"/ready")
	c := mqttClient(t, brokerAddr, "plc-hup")
	defer c.Disconnect(100)
	deliver := func(id string) {
		t.Helper()
		tok := c.Publish("plant/a", 1, false, fmt.Sprintf(`{"id":%q}`, id))
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
		waitUntil(t, id+" at the target", 20*time.Second, func() bool { return len(tg.missing([]string{id})) == 0 })
	}
	deliver("before")

	for i := range 2 {
		require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP))
		waitUntil(t, "the SIGHUP log line", 20*time.Second, func() bool {
			return strings.Count(d.stderr.String(), "SIGHUP received: configuration reload is not supported yet; ignoring it") == i+1
		})
	}
	require.False(t, d.exited(), "SIGHUP must not stop the daemon:\n%s", d.stderr.String())
	waitReady(t, d, "http://"+httpAddr+"/ready")
	deliver("after")

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not stop on SIGTERM:\n%s", d.stderr.String())
	}
	require.Equal(t, 0, d.cmd.ProcessState.ExitCode(), d.stderr.String())
	require.Contains(t, d.stderr.String(), "msg=stopped")
	_, dups := tg.counts()
	require.Zero(t, dups)
	resp, err := http.Get("http://" + httpAddr + "/health")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("the HTTP listener still answers after the stop: %d", resp.StatusCode)
	}
}
