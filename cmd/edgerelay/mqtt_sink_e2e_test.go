package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgerelay/edgerelay/daemon/broker"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// sinkClientID is the client id of the relay's mqtt sink in the kill test.
const sinkClientID = "edgerelay-e2e-sink"

// slowSinkHook refuses the relay's sink until open is set, so that events pile up
// in the outbox, and then slows down its publishes (Mochi reads one client's
// packets one after the other), so that a kill lands while the sink still has most
// of them to deliver. Everyone else is let in.
type slowSinkHook struct {
	mochi.HookBase
	open atomic.Bool
}

func (h *slowSinkHook) ID() string { return "e2e-slow-sink" }
func (h *slowSinkHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck || b == mochi.OnPublish
}
func (h *slowSinkHook) OnConnectAuthenticate(cl *mochi.Client, _ packets.Packet) bool {
	return cl.ID != sinkClientID || h.open.Load()
}
func (h *slowSinkHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }
func (h *slowSinkHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.ID == sinkClientID {
		time.Sleep(500 * time.Microsecond)
	}
	return pk, nil
}

// siteSubscriber counts, per event id, the messages that reach the site broker.
type siteSubscriber struct {
	mu   sync.Mutex
	seen map[string]int // guarded by mu
	bad  []string       // payloads that are not the events' JSON; guarded by mu
}

func (s *siteSubscriber) counts() (unique, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countSeen(s.seen)
}

func (s *siteSubscriber) missing(ids []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return missingSeen(s.seen, ids)
}

// TestZeroLossMQTTSinkKill is the kill -9 test of the mqtt sink: 5,000 QoS 1 events
// into the embedded broker, routed to the mqtt sink publishing at QoS 1 to a
// separate Mochi broker in the test process, where a subscriber counts them. The
// site broker refuses the sink until 3,000 events are in the outbox; then the
// relay is SIGKILLed while the sink is delivering, restarted, and every event
// arrives (duplicates counted): an event leaves the outbox only once the site
// broker acknowledged its own publish.
func TestZeroLossMQTTSinkKill(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: kill -9 end-to-end test (slow); runs without -short")
	}
	const n = 5000
	site := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	gate := &slowSinkHook{}
	require.NoError(t, site.AddHook(gate, nil))
	tcp := listeners.NewTCP(listeners.Config{ID: "site", Address: "127.0.0.1:0"})
	require.NoError(t, site.AddListener(tcp))
	require.NoError(t, site.Serve())
	t.Cleanup(func() { stopSite(t, site) })
	siteAddr := tcp.Address()

	sub := &siteSubscriber{seen: map[string]int{}}
	sc := mqttClient(t, siteAddr, "site-consumer")
	defer sc.Disconnect(100)
	tok := sc.Subscribe("site/#", 1, func(_ paho.Client, m paho.Message) {
		var body struct {
			ID string `json:"id"`
		}
		sub.mu.Lock()
		defer sub.mu.Unlock()
		if json.Unmarshal(m.Payload(), &body) != nil || body.ID == "" || !strings.HasPrefix(m.Topic(), "site/k") {
			sub.bad = append(sub.bad, m.Topic()+" "+string(m.Payload()))
			return
		}
		sub.seen[body.ID]++
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())

	dir := t.TempDir()
	brokerAddr, httpAddr := freePort(t), freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "true", listen: %s }
sources:
  - { name: plant, type: mqtt, url: tcp://%s, topics: ["plant/#"], qos: 1, key_path: key }
sinks:
  - name: site
    type: mqtt
    url: tcp://%s
    client_id: %s
    topic: site/{key}
    qos: 1
    retry: { initial: 20ms, max: 200ms }
routes:
  - { from: [plant], to: [site] }
`, dir, httpAddr, brokerAddr, brokerAddr, siteAddr, sinkClientID))

	ids := eventIDs(n)
	pub := &publisher{topic: "plant/line1/alarms", acked: map[string]bool{}}
	d := startDaemon(t, nil, "run", "-c", cfg)
	waitHTTP(t, d, "http://"+httpAddr+"/health", http.StatusNoContent)
	c := mqttClient(t, brokerAddr, "plc-1")
	killed := make(chan int, 1)
	go func() { // exits after the kill
		// A backlog in the outbox first, then the site broker lets the sink in.
		waitUntil(t, "3000 acknowledgements", 60*time.Second, func() bool { return pub.ackedCount() >= 3000 })
		gate.open.Store(true)
		waitUntil(t, "1000 events at the site broker", 60*time.Second, func() bool { u, _ := sub.counts(); return u >= 1000 })
		d.kill()
		u, _ := sub.counts()
		killed <- u
	}()
	pub.publishAll(c, ids, 200, func() bool { return d.exited() })
	at := <-killed
	c.Disconnect(0)
	require.Less(t, at, n, "the kill must land while the sink is delivering")
	t.Logf("killed the relay with %d of %d events at the site broker, %d acknowledged by the relay", at, n, pub.ackedCount())

	d2 := startDaemon(t, nil, "run", "-c", cfg)
	waitHTTP(t, d2, "http://"+httpAddr+"/health", http.StatusNoContent)
	c2 := mqttClient(t, brokerAddr, "plc-1")
	defer c2.Disconnect(100)
	pub.publishAll(c2, ids, 200, nil)
	require.Equal(t, n, pub.ackedCount(), "every event is eventually acknowledged by the relay")
	waitUntil(t, "every event at the site broker", 120*time.Second, func() bool {
		u, _ := sub.counts()
		return u == n
	})
	u, dups := sub.counts()
	t.Logf("delivered %d unique events, %d duplicates, 0 lost", u, dups)
	require.Empty(t, sub.missing(ids))
	sub.mu.Lock()
	require.Empty(t, sub.bad, "messages that are not the events, or on the wrong topic")
	sub.mu.Unlock()
}

// siteAuthHook lets the test's own clients in without credentials and the relay's
// sinks only as user "site" with password pass; ACLs allow everything.
type siteAuthHook struct {
	mochi.HookBase
	pass string
}

func (h *siteAuthHook) ID() string { return "e2e-site-auth" }
func (h *siteAuthHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *siteAuthHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	if !strings.HasPrefix(cl.ID, "edgerelay-") {
		return true
	}
	return string(pk.Connect.Username) == "site" && string(pk.Connect.Password) == h.pass
}
func (h *siteAuthHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// TestMQTTSinkNoSecretLeaks: mqtt sinks with their password given literally, from a
// file and from an environment variable deliver to a site broker that checks
// them, and one with a wrong password is refused again and again; no form of any
// of the passwords appears in config check's output, the debug log, /ready,
// /metrics or queue list (the refused sink's events wait in the outbox).
func TestMQTTSinkNoSecretLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: secret-leak end-to-end test (runs the daemon); runs without -short")
	}
	secrets := map[string]string{
		"mqtt sink password":       "SinkPw-8k2m4o6q8s0u2w4y",
		"mqtt sink wrong password": "SinkWrong-1b3d5f7h9j1l3n",
	}
	site := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, site.AddHook(&siteAuthHook{pass: secrets["mqtt sink password"]}, nil))
	tcp := listeners.NewTCP(listeners.Config{ID: "site", Address: "127.0.0.1:0"})
	require.NoError(t, site.AddListener(tcp))
	require.NoError(t, site.Serve())
	t.Cleanup(func() { stopSite(t, site) })

	sub := &siteSubscriber{seen: map[string]int{}}
	sc := mqttClient(t, tcp.Address(), "site-consumer")
	defer sc.Disconnect(100)
	tok := sc.Subscribe("site/#", 1, func(_ paho.Client, m paho.Message) {
		sub.mu.Lock()
		sub.seen[m.Topic()+" "+string(m.Payload())]++
		sub.mu.Unlock()
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "site.password")
	require.NoError(t, os.WriteFile(pwFile, []byte(secrets["mqtt sink password"]+"\n"), 0o600))
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	brokerAddr, httpAddr := freePort(t), freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
log: { level: debug }
store: { path: %[1]s/queue.db }
http: { listen: %[2]s }
broker: { enabled: "true", listen: %[3]s }
sources:
  - { name: plant, type: mqtt, url: tcp://%[3]s, topics: ["plant/#"], qos: 1, key_path: key }
sinks:
  - { name: lit, type: mqtt, url: tcp://%[4]s, client_id: edgerelay-lit, username: site, password: %[5]s, topic: "site/lit/{key}" }
  - { name: viafile, type: mqtt, url: tcp://%[4]s, client_id: edgerelay-file, username: site, password_file: %[6]s, topic: "site/file/{key}" }
  - { name: viaenv, type: mqtt, url: tcp://%[4]s, client_id: edgerelay-env, username: site, password_env: SITE_MQTT_PASSWORD_TEST, topic: "site/env/{key}" }
  - name: wrong
    type: mqtt
    url: tcp://%[4]s
    client_id: edgerelay-wrong
    username: site
    password: %[7]s
    topic: site/wrong/{key}
    retry: { initial: 20ms, max: 100ms }
routes:
  - { from: [plant], to: [lit, viafile, viaenv, wrong] }
`, dir, httpAddr, brokerAddr, tcp.Address(), q(secrets["mqtt sink password"]), pwFile, q(secrets["mqtt sink wrong password"])))

	var found []string
	search := func(where, text string) {
		t.Helper()
		for name, v := range secrets {
			for form, f := range leakForms(v) {
				if i := strings.Index(text, f); i >= 0 {
					found = append(found, fmt.Sprintf("%s: %s of %s, in …%s…", where, form, name,
						text[max(0, i-60):min(len(text), i+len(f)+20)]))
				}
			}
		}
	}
	// config check reads the variable too (it must be set), in this process.
	t.Setenv("SITE_MQTT_PASSWORD_TEST", secrets["mqtt sink password"])
	code, out, errs := cli(t, "config", "check", "-c", cfg)
	require.Equal(t, exitOK, code, "stdout=%s stderr=%s", out, errs)
	search("config check", out+errs)

	d := startDaemon(t, []string{"SITE_MQTT_PASSWORD_TEST=" + secrets["mqtt sink password"]}, "run", "-c", cfg)
	waitHTTP(t, d, "http://"+httpAddr+"/health", http.StatusNoContent)
	c := mqttClient(t, brokerAddr, "plc-secrets")
	const n = 5
	for i := range n {
		tok := c.Publish("plant/line1", 1, false, fmt.Sprintf(`{"id":"s%d","key":"k%d"}`, i, i))
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	c.Disconnect(100)
	waitUntil(t, "the three good sinks to deliver every event", 60*time.Second, func() bool {
		u, _ := sub.counts()
		return u == 3*n
	})
	waitUntil(t, "the wrong password to be refused a few times", 60*time.Second, func() bool {
		return strings.Count(d.stderr.String(), "sink connect failed") >= 3
	})
	for _, u := range []string{"http://" + httpAddr + "/ready", "http://" + httpAddr + "/metrics"} {
		resp, err := http.Get(u)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		search(u, string(b))
	}
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not stop within 30s of SIGTERM")
	}
	logs := d.stderr.String()
	require.Contains(t, logs, "wrong", "the log talks about the refused sink")
	search("log", logs)
	if p := os.Getenv("EDGERELAY_TEST_SECRETS_LOG"); p != "" {
		_ = os.WriteFile(p, []byte(logs), 0o600)
	}

	code, out, errs = cli(t, "queue", "list", "-c", cfg, "--limit", "0")
	require.Equal(t, exitOK, code, "stdout=%s stderr=%s", out, errs)
	require.Contains(t, out, "wrong", "the refused sink's events wait in the outbox")
	search("queue list", out+errs)
	require.Empty(t, found, "secrets leaked:\n%s", strings.Join(found, "\n"))
}

// stopSite stops a site broker (listener "site") with broker.StopMochi: Mochi's
// own Close can deadlock when a client disconnects at that moment.
func stopSite(t testing.TB, srv *mochi.Server) {
	t.Helper()
	if err := broker.StopMochi(srv, []string{"site"}, 30*time.Second); err != nil {
		t.Error(err)
	}
}
