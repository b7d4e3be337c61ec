package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
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
	for _, n := range s.seen {
		unique++
		dups += n - 1
	}
	return unique, dups
}

func (s *siteSubscriber) missing(ids []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range ids {
		if s.seen[id] == 0 {
			out = append(out, id)
		}
	}
	return out
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
	t.Cleanup(func() { _ = site.Close() })
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
