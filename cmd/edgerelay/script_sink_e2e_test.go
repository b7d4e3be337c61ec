package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// appendIDScript is the script sink's target in the kill test: until the file
// $GATE exists it fails (EX_TEMPFAIL, retried), as a target that is down; then it
// appends the payload's id to $OUT, one line per delivery (a short O_APPEND write, so
// lines of concurrent runs do not mix). A payload without an id is a data error.
const appendIDScript = `#!/bin/sh
[ -f "$GATE" ] || exit 75
id=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
[ -n "$id" ] || exit 65
echo "$id" >> "$OUT"
`

// scriptDeliveries counts the ids in the script's output file.
func scriptDeliveries(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]int{}
	}
	require.NoError(t, err)
	seen := map[string]int{}
	for _, line := range strings.Fields(string(b)) {
		seen[line]++
	}
	return seen
}

// TestZeroLossScriptSinkKill is the kill -9 test for the script sink: 2,000 QoS 1
// events through the embedded broker to a script (max_in_flight 4) that fails until
// 1,000 are acknowledged, then appends each payload's id to a file; the relay is
// SIGKILLed while the script is working through the backlog, restarted, and every
// event ends up in the file (duplicates allowed and counted: a run the kill cut
// short is run again).
func TestZeroLossScriptSinkKill(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: kill -9 end-to-end test (slow); runs without -short")
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skipf("SKIP: the script sink's test script needs /bin/sh: %v", err)
	}
	const n = 2000
	dir := t.TempDir()
	script := filepath.Join(dir, "append-id.sh")
	require.NoError(t, os.WriteFile(script, []byte(appendIDScript), 0o755))
	out, gate := filepath.Join(dir, "delivered.txt"), filepath.Join(dir, "gate")
	brokerAddr, httpAddr := freePort(t), freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "true", listen: %s }
sources:
  - { name: plant, type: mqtt, url: tcp://%s, topics: ["plant/#"], qos: 1, key_path: key }
sinks:
  - name: hook
    type: script
    command: %s
    env: { OUT: %s, GATE: %s }
    timeout: 10s
    max_in_flight: 4
    retry: { initial: 50ms, max: 500ms }
routes:
  - { from: [plant], topics: ["plant/#"], to: [hook], require_json: true }
`, dir, httpAddr, brokerAddr, brokerAddr, script, out, gate))

	ids := eventIDs(n)
	pub := &publisher{topic: "plant/line1/alarms", acked: map[string]bool{}}

	d := startDaemon(t, nil, "run", "-c", cfg)
	waitHTTP(t, d, "http://"+httpAddr+"/health", http.StatusNoContent)
	c := mqttClient(t, brokerAddr, "plc-1")
	killed := make(chan struct{})
	var atKill int
	go func() { // exits after the kill
		defer close(killed)
		waitUntil(t, "1000 acknowledgements", 60*time.Second, func() bool { return pub.ackedCount() >= 1000 })
		if got := len(scriptDeliveries(t, out)); got != 0 {
			t.Errorf("%d events delivered while the script fails", got)
		}
		require.NoError(t, os.WriteFile(gate, nil, 0o600))
		waitUntil(t, "300 deliveries by the script", 60*time.Second, func() bool {
			return len(scriptDeliveries(t, out)) >= 300
		})
		d.kill()
		atKill = len(scriptDeliveries(t, out))
	}()
	pub.publishAll(c, ids, 200, func() bool { return d.exited() })
	<-killed
	c.Disconnect(0)
	require.Less(t, atKill, n, "the kill must land while the script still has events to deliver")
	t.Logf("killed the relay with %d of %d events in the script's file, %d acknowledged by the relay", atKill, n, pub.ackedCount())

	d2 := startDaemon(t, nil, "run", "-c", cfg)
	waitHTTP(t, d2, "http://"+httpAddr+"/health", http.StatusNoContent)
	c2 := mqttClient(t, brokerAddr, "plc-1")
	pub.publishAll(c2, ids, 200, nil)
	require.Equal(t, n, pub.ackedCount(), "every event is eventually acknowledged by the relay")
	waitUntil(t, "every event in the script's file", 180*time.Second, func() bool {
		return len(scriptDeliveries(t, out)) == n
	})
	seen := scriptDeliveries(t, out)
	_, dups := countSeen(seen)
	missing := missingSeen(seen, ids)
	require.Empty(t, missing)
	require.Len(t, seen, n, "the file holds only the test's ids")
	t.Logf("the script got %d unique events, %d duplicates, 0 lost", len(seen), dups)
	c2.Disconnect(100)
}

// TestScriptSinkDeadLetters runs the built binary with a script that always fails,
// printing the token `env` gave it: an event whose script exits 1 is retried until
// retry.max_attempts and then dead-lettered, one whose script exits 65 is
// dead-lettered at once; both reasons carry the script's stderr with the token
// redacted, in the dead letters as in the log.
func TestScriptSinkDeadLetters(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end test (runs the daemon); runs without -short")
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skipf("SKIP: the script sink's test script needs /bin/sh: %v", err)
	}
	const token = "tok-3c1d9e8f7a6b"
	dir := t.TempDir()
	script := filepath.Join(dir, "fail.sh")
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
payload=$(cat)
echo "cannot deliver; API_TOKEN=$API_TOKEN" >&2
case "$payload" in *perm*) exit 65 ;; *) exit 1 ;; esac
`), 0o755))
	brokerAddr, httpAddr := freePort(t), freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "true", listen: %s }
sources:
  - { name: plant, type: mqtt, url: tcp://%s, topics: ["plant/#"], qos: 1, key_path: key }
sinks:
  - name: hook
    type: script
    command: %s
    env: { API_TOKEN: %s }
    retry: { initial: 10ms, max: 20ms, max_attempts: 3 }
routes:
  - { from: [plant], to: [hook] }
`, dir, httpAddr, brokerAddr, brokerAddr, script, token))

	d := startDaemon(t, nil, "run", "-c", cfg)
	waitHTTP(t, d, "http://"+httpAddr+"/health", http.StatusNoContent)
	c := mqttClient(t, brokerAddr, "plc-1")
	for _, body := range []string{`{"id":"retry-1","key":"a"}`, `{"id":"perm-1","key":"b"}`} {
		tok := c.Publish("plant/line1/alarms", 1, false, body)
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	c.Disconnect(100)
	waitUntil(t, "two dead letters", 60*time.Second, func() bool {
		return scrape(t, httpAddr, `edgerelay_dead_letters_total{sink="hook"}`) >= 2
	})
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not stop within 30s of SIGTERM")
	}
	code, out, errs := cli(t, "queue", "list", "-c", cfg, "--dead", "--limit", "0")
	require.Equal(t, exitOK, code, "stdout=%s stderr=%s", out, errs)
	require.Contains(t, out, "gave up after 3 attempts: script "+script+": exit status 1; stderr: cannot")
	require.Contains(t, out, "rejected: script "+script+": exit status 65 (permanent_exit_codes")
	raw, err := os.ReadFile(filepath.Join(dir, "queue.db"))
	require.NoError(t, err)
	require.Contains(t, string(raw), "exit status 1; stderr: cannot deliver; API_TOKEN=***", "the whole reason, in the store")
	require.Contains(t, string(raw), "exit status 65 (permanent_exit_codes: not retried); stderr: cannot deliver; API_TOKEN=***")
	logs := d.stderr.String()
	require.Contains(t, logs, "script failed")
	require.Contains(t, logs, "API_TOKEN=***")
	for what, text := range map[string]string{"queue list": out + errs, "log": logs, "store file": string(raw)} {
		require.NotContains(t, text, token, "the token in the %s", what)
	}
}
