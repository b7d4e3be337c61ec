package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// ceEvent is a lifecycle CloudEvent as a subscriber decodes it.
type ceEvent struct {
	SpecVersion string         `json:"specversion"`
	ID          string         `json:"id"`
	Source      string         `json:"source"`
	Type        string         `json:"type"`
	Time        string         `json:"time"`
	CoreName    string         `json:"corename"`
	Data        map[string]any `json:"data"`
	topic       string
}

// ceSubscriber collects the lifecycle events of one core name from an MQTT broker.
type ceSubscriber struct {
	mu  sync.Mutex
	got []ceEvent
}

func subscribeLifecycle(t *testing.T, broker, core string) *ceSubscriber {
	t.Helper()
	s := &ceSubscriber{}
	c := mqttClient(t, broker, "ce-sub-"+core)
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe("edge/#", 1, func(_ paho.Client, m paho.Message) {
		var e ceEvent
		if json.Unmarshal(m.Payload(), &e) != nil || e.CoreName != core {
			return
		}
		e.topic = m.Topic()
		s.mu.Lock()
		s.got = append(s.got, e)
		s.mu.Unlock()
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	return s
}

func (s *ceSubscriber) all() []ceEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ceEvent(nil), s.got...)
}

// wait returns the first event of type typ after the first skip events.
func (s *ceSubscriber) wait(t *testing.T, p *daemonProc, typ string, skip int) ceEvent {
	t.Helper()
	var found ceEvent
	waitUntil(t, typ, 30*time.Second, func() bool {
		if p != nil && p.exited() && p.cmd.ProcessState.ExitCode() != 0 {
			t.Fatalf("daemon exited:\n%s", p.stderr.String())
		}
		all := s.all()
		for i := skip; i < len(all); i++ {
			if all[i].Type == typ {
				found = all[i]
				return true
			}
		}
		return false
	})
	return found
}

func (s *ceSubscriber) types() []string {
	var out []string
	for _, e := range s.all() {
		out = append(out, e.Type)
	}
	return out
}

// TestLifecycleEventsEndToEnd: the daemon, configured by the seed's variables
// alone, publishes its lifecycle to Mosquitto (the mqtt adapter): registered and
// started on a new store, relayed and dead_lettered as events flow, stopping on
// SIGTERM; a restart on the same store keeps the node id, publishes started with
// previous_version and no registered. Every event is a CloudEvent with the source
// edgerelay://<core>/<node id>, on the topic of its type.
func TestLifecycleEventsEndToEnd(t *testing.T) {
	const mosq = "127.0.0.1:1883"
	adaptertest.NeedService(t, "mosquitto", mosq)
	core := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	sub := subscribeLifecycle(t, mosq, core)
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no such thing", http.StatusBadRequest)
	}))
	defer refuse.Close()
	dir := t.TempDir()
	httpAddr := freePort(t)
	topic := "edgerelay-test/ce/" + core
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "false" }
sources:
  - { name: site, type: mqtt, url: tcp://%s, client_id: %s, topics: ["%s"] }
sinks:
  - { name: console, type: stdout }
  - { name: refuser, type: webhook, url: "%s" }
routes:
  - { to: [console, refuser] }
`, dir, httpAddr, mosq, core, topic, refuse.URL))
	env := []string{"EVENT_BROKER_ENABLED=true", "EVENT_BROKER_ADAPTER=mqtt", "EVENT_BROKER_MQTT_URL=" + mosq,
		"CORE_NAME=" + core, "EVENT_BROKER_ALERT_RELAYED=true"}
	d := startDaemon(t, env, "run", "-c", cfg)
	reg := sub.wait(t, d, "edge.node.registered", 0)
	started := sub.wait(t, d, "edge.node.started", 0)
	nodeID, _ := reg.Data["node_id"].(string)
	require.NotEmpty(t, nodeID)
	for _, e := range []ceEvent{reg, started} {
		require.Equal(t, "1.0", e.SpecVersion)
		require.Equal(t, "edgerelay://"+core+"/"+nodeID, e.Source)
		require.Equal(t, strings.ReplaceAll(e.Type, ".", "/"), e.topic)
		_, err := time.Parse(time.RFC3339Nano, e.Time)
		require.NoError(t, err)
	}
	require.Equal(t, nodeID, started.Data["node_id"])
	require.Nil(t, started.Data["previous_version"])
	require.Equal(t, []any{"site"}, started.Data["sources"])
	require.Equal(t, []any{"console", "refuser"}, started.Data["sinks"])
	require.Contains(t, started.Data["adapters"], "mqtt")
	require.Less(t, slices.Index(sub.types(), "edge.node.registered"), slices.Index(sub.types(), "edge.node.started"))

	pub := mqttClient(t, mosq, core+"-pub")
	defer pub.Disconnect(100)
	tok := pub.Publish(topic, 1, false, `{"hello":"world"}`)
	require.True(t, tok.WaitTimeout(10*time.Second))
	relayed := sub.wait(t, d, "edge.alert.relayed", 0)
	require.Equal(t, "site", relayed.Data["source"])
	require.Equal(t, "console", relayed.Data["sink"])
	dead := sub.wait(t, d, "edge.node.delivery_dead_lettered", 0)
	require.Equal(t, "refuser", dead.Data["sink"])
	require.Equal(t, relayed.Data["event_id"], dead.Data["event_id"])
	require.Contains(t, dead.Data["reason"], "400")

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	stopping := sub.wait(t, nil, "edge.node.stopping", 0)
	require.NotEmpty(t, stopping.Data["reason"])
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not stop:\n%s", d.stderr.String())
	}
	require.Equal(t, 0, d.cmd.ProcessState.ExitCode(), d.stderr.String())

	// A restart on the same store.
	n := len(sub.all())
	d2 := startDaemon(t, env, "run", "-c", cfg)
	again := sub.wait(t, d2, "edge.node.started", n)
	require.Equal(t, nodeID, again.Data["node_id"], "the node id survives a restart")
	require.NotNil(t, again.Data["previous_version"])
	for _, e := range sub.all()[n:] {
		require.NotEqual(t, "edge.node.registered", e.Type)
		require.NotEqual(t, "edge.node.version_changed", e.Type, "same version")
	}
	// The AsyncAPI document and its page.
	resp, err := http.Get("http://" + httpAddr + "/api/asyncapi")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	resp.Body.Close()
	require.Equal(t, "3.0.0", doc["asyncapi"])
	require.Contains(t, doc["channels"], "edge.node.started")
	resp, err = http.Get("http://" + httpAddr + "/asyncdoc")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
}

// TestLifecycleBadVariables: a value that cannot work stops the start with the
// variable named: exit 78 for run and run -c and config check, 2 for daemon (the
// ilagent command line); an unreachable broker does not stop it.
func TestLifecycleBadVariables(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "false" }
sources: [{ name: in, type: ilert_http, listen: %s }]
sinks: [{ name: console, type: stdout }]
routes: [{ to: [console] }]
`, dir, freePort(t), freePort(t)))
	_, port, _ := strings.Cut(freePort(t), ":")
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"EVENT_BROKER_ENABLED=true", "EVENT_BROKER_ADAPTER=carrier-pigeon"}, "EVENT_BROKER_ADAPTER"},
		{[]string{"EVENT_BROKER_ENABLED=maybe"}, "EVENT_BROKER_ENABLED"},
		{[]string{"EVENT_BROKER_ENABLED=true"}, "EVENT_BROKER_ADAPTER"},
		{[]string{"EVENT_BROKER_ENABLED=true", "EVENT_BROKER_ADAPTER=mqtt", "EVENT_BROKER_MQTT_URL=127.0.0.1:1883",
			"EVENT_BROKER_MQTT_QOS=3"}, "EVENT_BROKER_MQTT_QOS"},
		{[]string{"EVENT_BROKER_ENABLED=true", "EVENT_BROKER_ADAPTER=mqtt", "EVENT_BROKER_MQTT_URL=127.0.0.1:1883",
			"EVENT_BROKER_MQTT_CLIENT_CERT_FILE=/x.pem", "EVENT_BROKER_MQTT_CLIENT_KEY_FILE=/x.key"}, "EVENT_BROKER_MQTT_CLIENT_CERT_FILE"},
	} {
		for _, args := range [][]string{{"run", "-c", cfg}, {"config", "check", "-c", cfg}, {"daemon", "-p", port, "-m", "127.0.0.1", "-e", "ilert/events", "--mqtt_qos", "1"}} {
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(append(os.Environ(), "EDGERELAY_TEST_MAIN=1", "ILERT_API_KEY=il1api123"), tc.env...)
			out, _ := cmd.CombinedOutput()
			want := exitConfig
			if args[0] == "daemon" {
				want = exitUsage
			}
			require.Equal(t, want, cmd.ProcessState.ExitCode(), "%v %v:\n%s", tc.env, args, out)
			require.Contains(t, string(out), tc.want, "%v %v", tc.env, args)
		}
	}
	// Unreachable: the daemon starts, ready but degraded.
	httpAddr := freePort(t)
	cfg2 := writeConfig(t, t.TempDir(), fmt.Sprintf(`
store: { path: %s/queue2.db }
http: { listen: %s }
broker: { enabled: "false" }
sources: [{ name: in, type: ilert_http, listen: %s }]
sinks: [{ name: console, type: stdout }]
routes: [{ to: [console] }]
`, dir, httpAddr, freePort(t)))
	d := startDaemon(t, []string{"EVENT_BROKER_ENABLED=true", "EVENT_BROKER_ADAPTER=mqtt", "EVENT_BROKER_MQTT_URL=" + freePort(t)},
		"run", "-c", cfg2)
	waitHTTP(t, d, "http://"+httpAddr+"/ready", http.StatusOK)
	resp, err := http.Get("http://" + httpAddr + "/ready")
	require.NoError(t, err)
	buf := make([]byte, 4096)
	nr, _ := resp.Body.Read(buf)
	resp.Body.Close()
	require.Contains(t, string(buf[:nr]), "events", "the degraded component is listed")
}

// TestLifecycleEventsIlagentDaemon: `edgerelay daemon` with ilagent's flags takes the
// seed's variables too: it publishes edge.node.started and, on SIGTERM,
// edge.node.stopping to Mosquitto.
func TestLifecycleEventsIlagentDaemon(t *testing.T) {
	const mosq = "127.0.0.1:1883"
	adaptertest.NeedService(t, "mosquitto", mosq)
	core := fmt.Sprintf("e2e-ilagent-%d", time.Now().UnixNano())
	sub := subscribeLifecycle(t, mosq, core)
	dir := t.TempDir()
	_, port, _ := strings.Cut(freePort(t), ":")
	d := startDaemon(t, []string{"ILERT_API_KEY=il1api0123456789", "EVENT_BROKER_ENABLED=true", "EVENT_BROKER_ADAPTER=mqtt",
		"EVENT_BROKER_MQTT_URL=" + mosq, "CORE_NAME=" + core},
		"daemon", "-m", "127.0.0.1", "-q", "1883", "-e", "edgerelay-test/ce-ilagent/"+core, "--mqtt_qos", "1",
		"-p", port, "-f", dir+"/ilagent.db3")
	started := sub.wait(t, d, "edge.node.started", 0)
	require.NotEmpty(t, started.Data["sources"])
	t.Logf("started: %v", started.Data)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	sub.wait(t, nil, "edge.node.stopping", 0)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not stop:\n%s", d.stderr.String())
	}
}

// TestLifecycleLoopRefused: an MQTT source subscribed, on the broker the lifecycle
// events go to, to a topic they are published on would relay the node's own events
// back into itself without end: `config check` refuses it (exit 78), on a site
// broker and on the embedded one; a source on other topics is fine.
func TestLifecycleLoopRefused(t *testing.T) {
	brokerAddr := freePort(t)
	for _, tc := range []struct {
		name, source, eventsURL, want string
	}{
		{"site broker, #", `{ name: site, type: mqtt, url: "tcp://127.0.0.1:1883", topics: ["#"] }`, "127.0.0.1:1883", "would relay"},
		{"site broker, edge/+/relayed", `{ name: site, type: mqtt, url: "tcp://localhost:1883", topics: ["plant/#", "edge/+/relayed"] }`, "127.0.0.1:1883", "would relay"},
		{"embedded broker", `{ name: site, type: mqtt, url: "tcp://` + brokerAddr + `", topics: ["$share/g/edge/#"] }`, brokerAddr, "would relay"},
		{"other topics", `{ name: site, type: mqtt, url: "tcp://127.0.0.1:1883", topics: ["plant/#"] }`, "127.0.0.1:1883", ""},
		{"other broker", `{ name: site, type: mqtt, url: "tcp://127.0.0.1:1883", topics: ["#"] }`, "10.0.0.9:1883", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: "%s/queue.db" }
http: { listen: %s }
broker: { enabled: "true", listen: %s }
sources: [%s]
sinks: [{ name: console, type: stdout }]
routes: [{ to: [console] }]
events: { enabled: true, adapter: mqtt, mqtt: { url: %q } }
`, dir, freePort(t), brokerAddr, tc.source, tc.eventsURL))
			cmd := exec.Command(os.Args[0], "config", "check", "-c", cfg)
			cmd.Env = append(os.Environ(), "EDGERELAY_TEST_MAIN=1")
			out, _ := cmd.CombinedOutput()
			if tc.want == "" {
				require.Equal(t, 0, cmd.ProcessState.ExitCode(), "%s", out)
				return
			}
			require.Equal(t, exitConfig, cmd.ProcessState.ExitCode(), "%s", out)
			require.Contains(t, string(out), tc.want)
		})
	}
}
