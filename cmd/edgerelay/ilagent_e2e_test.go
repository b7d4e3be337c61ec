package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

// ilagentEnv points a child `edgerelay daemon` at the ilert fake.
func ilagentEnv(fake *ilerttest.Server) []string {
	return []string{"ILERT_API_HOST=" + fake.URL(), "ILERT_HEARTBEAT_HOST=" + fake.URL(), "ILERT_API_KEY=il1api-admin-key"}
}

// ilagentDaemon starts `edgerelay daemon` with args, its own store (-f) and HTTP port
// (-p) and the ilert fake's environment, waits until it is ready, and returns it with
// its HTTP address. A failing test logs the daemon's output and the fake's requests.
func ilagentDaemon(t *testing.T, fake *ilerttest.Server, args ...string) (*daemonProc, string) {
	t.Helper()
	httpAddr := freePort(t)
	_, hport, _ := net.SplitHostPort(httpAddr)
	args = append([]string{"daemon", "-p", hport, "-f", filepath.Join(t.TempDir(), "ilagent.db3")}, args...)
	d := startDaemon(t, ilagentEnv(fake), args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon %v log:\n%s", args, d.stderr.String())
			for _, r := range fake.Requests() {
				t.Logf("fake got %s %s → %d %s", r.Method, r.Path, r.Status, r.Body)
			}
		}
	})
	waitHTTP(t, d, "http://"+httpAddr+"/ready", http.StatusNoContent) // all well: 204, as ilagent
	return d, httpAddr
}

func publishQoS1(t *testing.T, c paho.Client, topic, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	require.True(t, tok.WaitTimeout(10*time.Second), "publish timed out")
	require.NoError(t, tok.Error())
}

// summaries returns the summary of every event the fake accepted on path prefix p.
func summaries(fake *ilerttest.Server, p string) []string {
	var out []string
	for _, r := range fake.Requests() {
		if strings.HasPrefix(r.Path, p) && r.Status == http.StatusAccepted {
			var b struct {
				Summary string `json:"summary"`
			}
			_ = json.Unmarshal(r.Body, &b)
			out = append(out, b.Summary)
		}
	}
	return out
}

// TestIlagentDaemonMQTT runs `edgerelay daemon` with ilagent's flags against a real
// Mosquitto and the ilert fake: spec scenarios 70–74 (non-buffered), heartbeats,
// policy updates, and the HTTP proxy (46–47) on the same process.
func TestIlagentDaemonMQTT(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end test with a child process (slow); runs without -short")
	}
	mosq := startMosquitto(t)
	_, mport, _ := net.SplitHostPort(mosq)
	fake := ilerttest.NewServer(t)
	fake.AddUser("support@ilert.com", 99)
	fake.AddPolicy("powerplant", ilerttest.Policy{ID: 42, Rules: []ilerttest.Rule{{EscalationTimeout: 0}, {EscalationTimeout: 5}}})
	_, httpAddr := ilagentDaemon(t, fake, "-m", "127.0.0.1", "-q", mport, "-n", "ilagent-e2e",
		"-e", "ilert/events", "-r", "ilert/heartbeats", "--policy_topic", "ilert/policies",
		"--policy_routing_keys", "location", "--filter_key", "state", "--filter_val", "active",
		"--mqtt_qos", "1", "-vv")
	c := mqttClient(t, mosq, "plc-e2e")
	defer c.Disconnect(100)
	commits := scrape(t, httpAddr, "edgerelay_store_commits_total")

	// 71: the first delivery gets a 500; the daemon leaves the message unacknowledged,
	// reconnects, Mosquitto redelivers, the second attempt is accepted.
	fake.FailNext("/api/v1/events/mqtt/*", 1, http.StatusInternalServerError)
	publishQoS1(t, c, "ilert/events", `{"apiKey":"il1api-k","state":"active","summary":"retry me","alertKey":"a1"}`)
	waitUntil(t, "the redelivered event", 30*time.Second, func() bool { return len(summaries(fake, "/api/v1/events/mqtt/")) == 1 })
	attempts := 0
	for _, r := range fake.Requests() {
		if r.Path == "/api/v1/events/mqtt/il1api-k" {
			attempts++
		}
	}
	require.Equal(t, 2, attempts, "one failed attempt, one redelivery")

	// 72: several events with one alertKey arrive in order (FIFO per alertKey).
	for _, s := range []string{"first", "second", "third"} {
		publishQoS1(t, c, "ilert/events", fmt.Sprintf(`{"apiKey":"il1api-k","state":"active","summary":%q,"alertKey":"a2"}`, s))
	}
	waitUntil(t, "three more events", 30*time.Second, func() bool { return len(summaries(fake, "/api/v1/events/mqtt/")) == 4 })
	require.Equal(t, []string{"retry me", "first", "second", "third"}, summaries(fake, "/api/v1/events/mqtt/"))
	// 70: non-buffered mode wrote nothing to the store, the failure included.
	require.Equal(t, commits, scrape(t, httpAddr, "edgerelay_store_commits_total"),
		"non-buffered MQTT must not write events to the store")

	// 73 and 74: a topic that is not subscribed sends nothing; a payload that is not
	// JSON is refused (kept as a dead letter) and the consumer carries on; a filtered
	// one is dropped; the next valid event is delivered.
	publishQoS1(t, c, "other/topic", `{"apiKey":"il1api-k","state":"active","summary":"never"}`)
	publishQoS1(t, c, "ilert/events", `not json at all`)
	publishQoS1(t, c, "ilert/events", `{"apiKey":"il1api-k","state":"inactive","summary":"filtered"}`)
	publishQoS1(t, c, "ilert/events", `{"apiKey":"il1api-k","state":"active","summary":"after bad input"}`)
	waitUntil(t, "the valid event after bad input", 30*time.Second, func() bool { return len(summaries(fake, "/api/v1/events/mqtt/")) == 5 })
	require.NotContains(t, summaries(fake, "/api/v1/events/mqtt/"), "never")
	require.NotContains(t, summaries(fake, "/api/v1/events/mqtt/"), "filtered")
	require.Equal(t, 1.0, scrape(t, httpAddr, `edgerelay_events_rejected_total{source="mqtt",reason="invalid"}`))

	// A heartbeat message pings; a policy message makes the three policy calls.
	publishQoS1(t, c, "ilert/heartbeats", `{"apiKey":"il1hbt-mqtt-test"}`)
	publishQoS1(t, c, "ilert/policies", `{"location":"powerplant","state":"active","data":{"email":"support@ilert.com","shift":"1"}}`)
	waitUntil(t, "heartbeat and policy update", 30*time.Second, func() bool {
		return len(fake.Heartbeats()) == 1 && len(fake.LevelUpdates()) == 1
	})
	require.Equal(t, ilerttest.Heartbeat{Legacy: true, Key: "il1hbt-mqtt-test"}, fake.Heartbeats()[0])
	require.Equal(t, ilerttest.LevelUpdate{PolicyID: 42, Shift: 1, EscalationTimeout: 5, Users: []int64{99}}, fake.LevelUpdates()[0])

	// 46–47: the proxy on -p answers like ilagent's and the event reaches /api/events.
	resp, err := http.Get("http://" + httpAddr + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body := `{"apiKey":"il1api123","eventType":"ALERT","summary":"Server down","alertKey":"host-1"}`
	resp, err = http.Post("http://"+httpAddr+"/api/events", "application/json", bytes.NewBufferString(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	waitUntil(t, "the proxied event", 30*time.Second, func() bool { return len(summaries(fake, "/api/events")) == 1 })
	for _, r := range fake.Requests() {
		require.Equal(t, "Bearer il1api-admin-key", r.Header.Get("Authorization"))
		require.True(t, strings.HasPrefix(r.Header.Get("User-Agent"), "edgerelay/"))
	}
}

// TestIlagentKill: `edgerelay daemon` with ilert answering 503, SIGKILLed while
// events flow in, restarted: every event Mosquitto acknowledged reaches ilert, in
// order per alertKey — the at-least-once proof for the ilert path, buffered (the
// store holds them) and non-buffered (the broker's session does).
func TestIlagentKill(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: kill -9 end-to-end test (slow); runs without -short")
	}
	t.Run("buffered", func(t *testing.T) { ilagentKill(t, true) })
	t.Run("unbuffered", func(t *testing.T) { ilagentKill(t, false) })
}

func ilagentKill(t *testing.T, buffered bool) {
	const n = 3000
	mosq := startMosquitto(t)
	_, mport, _ := net.SplitHostPort(mosq)
	fake := ilerttest.NewServer(t)
	fake.FailNext("/api/v1/events/mqtt/*", 1<<30, http.StatusServiceUnavailable)
	dir := t.TempDir()
	httpAddr := freePort(t)
	_, hport, _ := net.SplitHostPort(httpAddr)
	args := []string{"daemon", "-m", "127.0.0.1", "-q", mport, "-n", "ilagent-kill", "-e", "ilert/events",
		"--mqtt_qos", "1", "-p", hport, "-f", filepath.Join(dir, "ilagent.db3")}
	threshold := 20.0 // non-buffered: the source backs off between redeliveries
	if buffered {
		args = append(args, "--mqtt_buffer")
		threshold = n / 3
	}
	d := startDaemon(t, ilagentEnv(fake), args...)
	waitReady(t, d, "http://"+httpAddr+"/ready")
	c := mqttClient(t, mosq, "plc-kill")
	defer c.Disconnect(100)
	ids := eventIDs(n)
	acked := map[string]bool{}
	killed := make(chan struct{})
	go func() { // exits after the kill, which happens whatever the scrape says
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) && scrape(t, httpAddr, `edgerelay_events_in_total{source="mqtt"}`) < threshold {
			time.Sleep(20 * time.Millisecond)
		}
		d.kill()
		close(killed)
	}()
	for i, id := range ids {
		body := fmt.Sprintf(`{"apiKey":"il1api-kill","eventType":"ALERT","summary":%q,"alertKey":"k%d"}`, id, i%40)
		tok := c.Publish("ilert/events", 1, false, body)
		if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			acked[id] = true
		}
	}
	<-killed
	require.Len(t, acked, n, "Mosquitto acknowledged every publish (it queues for the relay's session)")

	fake.Reset() // ilert is back
	d2 := startDaemon(t, ilagentEnv(fake), args...)
	waitUntil(t, "every event at ilert", 120*time.Second, func() bool {
		return len(uniqueSummaries(fake)) == n
	})
	seen := map[string]int{}
	last := map[string]string{}
	for _, ev := range fake.Events() {
		var b struct{ Summary, AlertKey string }
		require.NoError(t, json.Unmarshal(ev.Body, &b))
		seen[b.Summary]++
		if seen[b.Summary] == 1 {
			require.Greater(t, b.Summary, last[b.AlertKey], "alertKey %s: %s after %s", b.AlertKey, b.Summary, last[b.AlertKey])
			last[b.AlertKey] = b.Summary
		}
	}
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	t.Logf("%d events delivered after kill -9, %d duplicates, 0 lost", len(seen), dups)
	d2.kill()
}

func uniqueSummaries(fake *ilerttest.Server) map[string]bool {
	out := map[string]bool{}
	for _, ev := range fake.Events() {
		var b struct{ Summary string }
		if json.Unmarshal(ev.Body, &b) == nil {
			out[b.Summary] = true
		}
	}
	return out
}

// TestIlagentDaemonMQTTBuffered: `--mqtt_buffer` (spec scenarios 75–79): messages are
// stored, then sent; a policy update whose user search fails is retried from the
// store until it succeeds; with --max_retries 2 one that keeps failing is
// dead-lettered; mappings and forwarded payloads reach ilert as mapped.
func TestIlagentDaemonMQTTBuffered(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end test with a child process (slow); runs without -short")
	}
	mosq := startMosquitto(t)
	_, mport, _ := net.SplitHostPort(mosq)
	fake := ilerttest.NewServer(t)
	fake.AddUser("support@ilert.com", 99)
	fake.AddPolicy("powerplant", ilerttest.Policy{ID: 42, Rules: []ilerttest.Rule{{EscalationTimeout: 0}, {EscalationTimeout: 5}}})
	_, httpAddr := ilagentDaemon(t, fake, "-m", "127.0.0.1", "-q", mport, "-n", "ilagent-buf",
		"-e", "ilert/events", "--policy_topic", "ilert/policies", "--policy_routing_keys", "location",
		"--mqtt_buffer", "--max_retries", "2",
		"--map_key_etype", "eventType", "--map_val_etype_alert", "alertCreated", "--map_key_summary", "data.message",
		"--map_key_alert_key", "data.alertId", "--event_key", "il1api-static", "--forward_message_payload", "-vv")
	c := mqttClient(t, mosq, "plc-buf")
	defer c.Disconnect(100)

	// 75 and 78: stored, then exactly one POST with the mapped fields and the whole
	// payload as customDetails.
	payload := `{"eventType":"alertCreated","data":{"message":"Boiler 2 overheating","alertId":"B2-7","priority":2,"alarmGroup":[]}}`
	publishQoS1(t, c, "ilert/events", payload)
	waitUntil(t, "the mapped event", 30*time.Second, func() bool { return len(fake.Events()) == 1 })
	ev := fake.Events()[0]
	require.Equal(t, "il1api-static", ev.PathKey)
	var body map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(ev.Body, &body))
	require.JSONEq(t, `"ALERT"`, string(body["eventType"]))
	require.JSONEq(t, `"Boiler 2 overheating"`, string(body["summary"]))
	require.JSONEq(t, `"B2-7"`, string(body["alertKey"]))
	require.JSONEq(t, payload, string(body["customDetails"]))
	require.Positive(t, scrape(t, httpAddr, "edgerelay_store_commits_total"), "buffered mode stores first")

	// 76 and 77: a policy update whose user search answers 500 stays queued and is
	// retried from the store; it succeeds once the search works.
	fake.FailNext("/api/users/search-email", 1, http.StatusInternalServerError)
	publishQoS1(t, c, "ilert/policies", `{"location":"powerplant","data":{"email":"support@ilert.com","shift":"1"}}`)
	waitUntil(t, "the policy update after a retry", 30*time.Second, func() bool { return len(fake.LevelUpdates()) == 1 })
	require.Equal(t, ilerttest.LevelUpdate{PolicyID: 42, Shift: 1, EscalationTimeout: 5, Users: []int64{99}}, fake.LevelUpdates()[0])

	// 77: with --max_retries 2, an update that keeps failing is dead-lettered after two
	// attempts, not retried forever and not silently dropped.
	fake.FailNext("/api/users/search-email", 2, http.StatusInternalServerError)
	publishQoS1(t, c, "ilert/policies", `{"location":"powerplant","data":{"email":"support@ilert.com","shift":"0"}}`)
	waitUntil(t, "the dead letter", 60*time.Second, func() bool {
		return scrape(t, httpAddr, `edgerelay_dead_letters_total{sink="ilert"}`) == 1
	})
	require.Len(t, fake.LevelUpdates(), 1)
}
