package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

// TestSIGHUPReloads runs the real binary: SIGHUP (which by Go's default would kill
// it without a drain) reloads the configuration file. A changed sink URL moves the
// deliveries to the new target; an invalid file is refused with a line naming the
// file, line and key, /ready shows it and the old configuration keeps relaying;
// SIGTERM then stops the daemon cleanly.
func TestSIGHUPReloads(t *testing.T) {
	dir := t.TempDir()
	first, second := newTarget(t), newTarget(t)
	first.open.Store(true)
	second.open.Store(true)
	brokerAddr, httpAddr := freePort(t), freePort(t)
	yaml := func(url, extra string) string {
		return fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "true", listen: %s }
sources:
  - { name: plant, type: mqtt, url: tcp://%s, topics: ["plant/#"], qos: 1 }
sinks:
  - { name: hook, type: webhook, url: %s, retry: { initial: 20ms, max: 200ms }%s }
routes:
  - { from: [plant], to: [hook] }
`, dir, httpAddr, brokerAddr, brokerAddr, url, extra)
	}
	cfg := writeConfig(t, dir, yaml(first.srv.URL, ""))
	d := startDaemon(t, nil, "run", "-c", cfg)
	waitReady(t, d, "http://"+httpAddr+"/ready")
	c := mqttClient(t, brokerAddr, "plc-hup")
	defer c.Disconnect(100)
	deliver := func(tg *target, id string) {
		t.Helper()
		tok := c.Publish("plant/a", 1, false, fmt.Sprintf(`{"id":%q}`, id))
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
		waitUntil(t, id+" at its target", 20*time.Second, func() bool { return len(tg.missing([]string{id})) == 0 })
	}
	hup := func(want string, n int) {
		t.Helper()
		require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP))
		waitUntil(t, "the reload's log line", 20*time.Second, func() bool {
			return strings.Count(d.stderr.String(), want) == n
		})
	}
	deliver(first, "before")

	writeConfig(t, dir, yaml(second.srv.URL, ""))
	hup(`msg="reloaded: sinks hook (changed); sources unchanged; routes unchanged"`, 1)
	require.False(t, d.exited(), "SIGHUP must not stop the daemon:\n%s", d.stderr.String())
	deliver(second, "after")

	writeConfig(t, dir, yaml(second.srv.URL, ", timeuot: 3s"))
	hup("configuration reload refused; the previous configuration keeps running", 1)
	require.Regexp(t, `edgerelay.yaml.*line 8.*timeuot`, d.stderr.String())
	resp, err := http.Get("http://" + httpAddr + "/ready")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), "reload refused, the previous configuration keeps running")
	deliver(second, "after-refused")
	require.Empty(t, first.missing([]string{"before"}))
	require.NotEmpty(t, first.missing([]string{"after", "after-refused"}), "the first target got nothing after the reload")

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not stop on SIGTERM:\n%s", d.stderr.String())
	}
	require.Equal(t, 0, d.cmd.ProcessState.ExitCode(), d.stderr.String())
	require.Contains(t, d.stderr.String(), "msg=stopped")
	resp, err = http.Get("http://" + httpAddr + "/health")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("the HTTP listener still answers after the stop: %d", resp.StatusCode)
	}
}

// TestReloadKillRestartLosesNothing: events flow into a sink whose target is down
// (so they wait in the store) while SIGHUPs move the sink to a second target and
// back, and the daemon is SIGKILLed right after one; restarted on the file as it was
// last written, it delivers every event the broker acknowledged.
func TestReloadKillRestartLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: kill -9 end-to-end test (slow); runs without -short")
	}
	const n = 3000
	dir := t.TempDir()
	first, second := newTarget(t), newTarget(t)
	brokerAddr, httpAddr := freePort(t), freePort(t)
	yaml := func(url string) string {
		return fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "true", listen: %s }
sources:
  - { name: plant, type: mqtt, url: tcp://%s, topics: ["plant/#"], qos: 1, key_path: key }
sinks:
  - { name: hook, type: webhook, url: %s, retry: { initial: 20ms, max: 200ms } }
routes:
  - { from: [plant], to: [hook] }
`, dir, httpAddr, brokerAddr, brokerAddr, url)
	}
	cfg := writeConfig(t, dir, yaml(first.srv.URL))
	ids := eventIDs(n)
	pub := &publisher{topic: "plant/line1/alarms", acked: map[string]bool{}}

	d := startDaemon(t, nil, "run", "-c", cfg)
	waitReady(t, d, "http://"+httpAddr+"/ready")
	c := mqttClient(t, brokerAddr, "plc-1")
	killed := make(chan struct{})
	go func() { // exits after the kill
		defer close(killed)
		for i, tg := range []*target{second, first, second} {
			at := 300 * (i + 1)
			waitUntil(t, fmt.Sprintf("%d acknowledgements", at), 60*time.Second, func() bool { return pub.ackedCount() >= at })
			writeConfig(t, dir, yaml(tg.srv.URL))
			_ = d.cmd.Process.Signal(syscall.SIGHUP)
			if i < 2 {
				waitUntil(t, "the reload", 20*time.Second, func() bool {
					return strings.Count(d.stderr.String(), "reloaded: sinks hook (changed)") == i+1
				})
			}
		}
		// The third reload is under way (or just done): kill it.
		waitUntil(t, "the third SIGHUP", 20*time.Second, func() bool {
			return strings.Count(d.stderr.String(), "SIGHUP received: reloading the configuration") == 3
		})
		d.kill()
	}()
	pub.publishAll(c, ids, 100, func() bool { return d.exited() })
	<-killed
	c.Disconnect(0)
	before := pub.ackedCount()
	require.Less(t, before, n, "the kill must land mid-flow")
	t.Logf("killed the daemon during a reload after %d of %d events were acknowledged", before, n)

	d2 := startDaemon(t, nil, "run", "-c", cfg)
	waitReady(t, d2, "http://"+httpAddr+"/ready")
	c2 := mqttClient(t, brokerAddr, "plc-1")
	pub.publishAll(c2, ids, 100, nil)
	require.Equal(t, n, pub.ackedCount(), "every event is eventually acknowledged by the relay")
	first.open.Store(true)
	second.open.Store(true)
	missing := func() []string {
		first.mu.Lock()
		second.mu.Lock()
		defer first.mu.Unlock()
		defer second.mu.Unlock()
		var out []string
		for _, id := range ids {
			if first.seen[id] == 0 && second.seen[id] == 0 {
				out = append(out, id)
			}
		}
		return out
	}
	waitUntil(t, "every event at a target", 120*time.Second, func() bool { return len(missing()) == 0 })
	u1, _ := first.counts()
	u2, _ := second.counts()
	t.Logf("delivered: %d at the first target, %d at the second (the file's last), 0 lost", u1, u2)
	c2.Disconnect(100)
}

// TestDaemonCommandIgnoresSIGHUP: `edgerelay daemon` is configured by its ilagent
// command line, which a signal cannot change: SIGHUP is logged, ignored, and does
// not stop it.
func TestDaemonCommandIgnoresSIGHUP(t *testing.T) {
	fake := ilerttest.NewServer(t)
	d, httpAddr := ilagentDaemon(t, fake)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP))
	waitUntil(t, "the SIGHUP log line", 20*time.Second, func() bool {
		return strings.Contains(d.stderr.String(), "SIGHUP received: this daemon's configuration is its ilagent command line")
	})
	require.False(t, d.exited(), "SIGHUP must not stop the daemon:\n%s", d.stderr.String())
	waitHTTP(t, d, "http://"+httpAddr+"/ready", http.StatusNoContent)
}
