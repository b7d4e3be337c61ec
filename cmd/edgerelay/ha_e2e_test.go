package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

// The high-availability strategies of docs/high-availability.md, each shown with
// real processes: `edgerelay daemon` children, a private Mosquitto, the ilert fake.

// alertKeys returns how often each alertKey reached the fake.
func alertKeys(fake *ilerttest.Server) map[string]int {
	out := map[string]int{}
	for _, ev := range fake.Events() {
		var b struct{ AlertKey string }
		if json.Unmarshal(ev.Body, &b) == nil {
			out[b.AlertKey]++
		}
	}
	return out
}

// TestHAHTTPBehindLoadBalancer: two relays behind a round-robin balancer; one is
// killed mid-way; the client retries a failed post on the other; every alertKey
// reaches ilert (which deduplicates repeats by alertKey).
func TestHAHTTPBehindLoadBalancer(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end HA test (slow); runs without -short")
	}
	fake := ilerttest.NewServer(t)
	d1, a1 := ilagentDaemon(t, fake)
	_, a2 := ilagentDaemon(t, fake)
	backends := []string{a1, a2}
	const n = 100
	client := &http.Client{Timeout: 5 * time.Second}
	for i := 0; i < n; i++ {
		if i == n/2 {
			d1.kill()
		}
		body := fmt.Sprintf(`{"apiKey":"il1api-lb","eventType":"ALERT","summary":"s%d","alertKey":"host-%d"}`, i, i)
		ok := false
		for try := 0; try < 2 && !ok; try++ { // the balancer's retry on the next backend
			resp, err := client.Post("http://"+backends[(i+try)%2]+"/api/events", "application/json", bytes.NewBufferString(body))
			if err == nil {
				resp.Body.Close()
				ok = resp.StatusCode == http.StatusOK
			}
		}
		require.True(t, ok, "event %d accepted by neither relay", i)
	}
	waitUntil(t, "every alertKey at ilert", 30*time.Second, func() bool { return len(alertKeys(fake)) == n })
}

// TestHAMQTTSharedSubscription: two relays in one shared-subscription group split the
// messages (each handled once); when one stops the other takes everything.
func TestHAMQTTSharedSubscription(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end HA test (slow); runs without -short")
	}
	mosq := startMosquitto(t)
	_, mport, _ := net.SplitHostPort(mosq)
	fake := ilerttest.NewServer(t)
	common := []string{"-m", "127.0.0.1", "-q", mport, "-e", "ilert/events", "--mqtt_qos", "1", "--mqtt_shared_group", "relays"}
	d1, a1 := ilagentDaemon(t, fake, append(common, "-n", "relay-1")...)
	_, a2 := ilagentDaemon(t, fake, append(common, "-n", "relay-2")...)
	c := mqttClient(t, mosq, "plc-shared")
	defer c.Disconnect(100)
	for i := 0; i < 200; i++ {
		publishQoS1(t, c, "ilert/events", fmt.Sprintf(`{"apiKey":"il1api-sh","eventType":"ALERT","summary":"s","alertKey":"a%d"}`, i))
	}
	waitUntil(t, "200 events at ilert", 30*time.Second, func() bool { return len(alertKeys(fake)) == 200 })
	in1 := scrape(t, a1, `edgerelay_events_in_total{source="mqtt"}`)
	in2 := scrape(t, a2, `edgerelay_events_in_total{source="mqtt"}`)
	t.Logf("relay-1 took %v, relay-2 took %v", in1, in2)
	require.Positive(t, in1)
	require.Positive(t, in2)
	require.Equal(t, 200.0, in1+in2, "each message handled by one relay")
	for k, v := range alertKeys(fake) {
		require.Equal(t, 1, v, "alertKey %s sent twice", k)
	}

	// relay-1 stops cleanly (it leaves the group); relay-2 takes every later message.
	require.NoError(t, d1.cmd.Process.Signal(syscall.SIGTERM))
	<-d1.done
	for i := 200; i < 250; i++ {
		publishQoS1(t, c, "ilert/events", fmt.Sprintf(`{"apiKey":"il1api-sh","eventType":"ALERT","summary":"s","alertKey":"a%d"}`, i))
	}
	waitUntil(t, "50 more events at ilert", 30*time.Second, func() bool { return len(alertKeys(fake)) == 250 })
	require.Equal(t, in2+50, scrape(t, a2, `edgerelay_events_in_total{source="mqtt"}`))
}

// TestHAMQTTActivePassive: the active relay pings its heartbeat (-b); it is killed,
// the pings stop (ilert's heartbeat monitor would alert), events keep queueing in the
// broker for the relay's persistent session; the standby starts with the same client
// id, receives the queued events and resumes the pings.
func TestHAMQTTActivePassive(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end HA test (slow); runs without -short")
	}
	mosq := startMosquitto(t)
	_, mport, _ := net.SplitHostPort(mosq)
	fake := ilerttest.NewServer(t)
	args := []string{"-m", "127.0.0.1", "-q", mport, "-n", "site-relay", "-e", "ilert/events", "--mqtt_qos", "1",
		"--mqtt_buffer", "-b", "il1hbt-site"}
	active, _ := ilagentDaemon(t, fake, args...)
	waitUntil(t, "the active relay's first ping", 15*time.Second, func() bool { return len(fake.Heartbeats()) >= 1 })
	c := mqttClient(t, mosq, "plc-ap")
	defer c.Disconnect(100)
	publishQoS1(t, c, "ilert/events", `{"apiKey":"il1api-ap","eventType":"ALERT","summary":"before","alertKey":"a0"}`)
	waitUntil(t, "the first event", 15*time.Second, func() bool { return len(alertKeys(fake)) == 1 })

	active.kill()
	pings := len(fake.Heartbeats())
	for i := 1; i <= 20; i++ { // queued by Mosquitto for the session "site-relay"
		publishQoS1(t, c, "ilert/events", fmt.Sprintf(`{"apiKey":"il1api-ap","eventType":"ALERT","summary":"during","alertKey":"a%d"}`, i))
	}
	require.Equal(t, pings, len(fake.Heartbeats()), "no ping while no relay runs")

	ilagentDaemon(t, fake, args...) // the standby takes over the session
	waitUntil(t, "the queued events and a ping from the standby", 30*time.Second, func() bool {
		return len(alertKeys(fake)) == 21 && len(fake.Heartbeats()) > pings
	})
}

// TestHAMQTTActiveActive: two relays subscribe to the same topics; every event and
// every policy update is sent twice — harmless, because ilert deduplicates events by
// alertKey and the level PUT is idempotent (same body twice).
func TestHAMQTTActiveActive(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end HA test (slow); runs without -short")
	}
	mosq := startMosquitto(t)
	_, mport, _ := net.SplitHostPort(mosq)
	fake := ilerttest.NewServer(t)
	fake.AddUser("oncall@example.com", 7)
	fake.AddPolicy("plant", ilerttest.Policy{ID: 3, Rules: []ilerttest.Rule{{EscalationTimeout: 10}}})
	common := []string{"-m", "127.0.0.1", "-q", mport, "-e", "ilert/events", "--policy_topic", "ilert/policies",
		"--policy_routing_keys", "site", "--mqtt_qos", "1"}
	ilagentDaemon(t, fake, append(common, "-n", "aa-1")...)
	ilagentDaemon(t, fake, append(common, "-n", "aa-2")...)
	c := mqttClient(t, mosq, "plc-aa")
	defer c.Disconnect(100)
	for i := 0; i < 10; i++ {
		publishQoS1(t, c, "ilert/events", fmt.Sprintf(`{"apiKey":"il1api-aa","eventType":"ALERT","summary":"s","alertKey":"a%d"}`, i))
	}
	publishQoS1(t, c, "ilert/policies", `{"site":"plant","data":{"email":"oncall@example.com","shift":0}}`)
	waitUntil(t, "every event twice and two identical level updates", 30*time.Second, func() bool {
		keys := alertKeys(fake)
		if len(keys) != 10 || len(fake.LevelUpdates()) != 2 {
			return false
		}
		for _, v := range keys {
			if v != 2 {
				return false
			}
		}
		return true
	})
	u := fake.LevelUpdates()
	require.Equal(t, u[0], u[1], "the level PUT is the same from both relays (idempotent)")
}
