package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestZeroLossKafkaSinkKill is the kill -9 test for the kafka sink: 5,000 QoS 1
// events published to the embedded broker are routed to the kafka sink on an
// in-process kfake cluster that, until the restart, refuses produce requests in
// bursts (NOT_ENOUGH_REPLICAS), so that the relay holds a backlog of retries; the
// relay is SIGKILLed mid-flow and restarted; every event ends up on the topic
// (duplicates allowed and counted), each record keyed by its event's key.
func TestZeroLossKafkaSinkKill(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: kill -9 end-to-end test (slow); runs without -short")
	}
	const (
		n     = 5000
		topic = "site-alerts"
		parts = 4
	)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, topic))
	require.NoError(t, err)
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	var flaky atomic.Bool
	flaky.Store(true)
	var produces, refused atomic.Int64
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		i := produces.Add(1)
		if !flaky.Load() || (i/10)%2 == 0 {
			return nil, nil, false // the broker handles it
		}
		refused.Add(1)
		return refusedProduce(req.(*kmsg.ProduceRequest)), nil, true
	})

	dir := t.TempDir()
	brokerAddr, httpAddr := freePort(t), freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "true", listen: %s }
sources:
  - { name: plant, type: mqtt, url: tcp://%s, topics: ["plant/#"], qos: 1, key_path: key }
sinks:
  - name: kq
    type: kafka
    brokers: [%s]
    topic: %s
    retry: { initial: 20ms, max: 200ms }
routes:
  - { from: [plant], topics: ["plant/#"], to: [kq], require_json: true }
`, dir, httpAddr, brokerAddr, brokerAddr, brokers[0], topic))

	rd := newTopicReader(t, brokers, topic, parts)
	ids := eventIDs(n)
	pub := &publisher{topic: "plant/line1/alarms", acked: map[string]bool{}}

	d := startDaemon(t, nil, "run", "-c", cfg)
	waitReady(t, d, "http://"+httpAddr+"/ready")
	c := mqttClient(t, brokerAddr, "plc-1")
	killed := make(chan struct{})
	var onTopic int
	go func() { // exits after the kill
		defer close(killed)
		waitUntil(t, "1000 events on the topic", 60*time.Second, func() bool { return rd.unique() >= 1000 })
		d.kill()
		onTopic = rd.unique()
	}()
	// Paced (about 1ms an event) so that the kill lands while events still arrive.
	pub.publishAll(c, ids, 200, func() bool { time.Sleep(time.Millisecond); return d.exited() })
	<-killed
	c.Disconnect(0)
	before := pub.ackedCount()
	// Mid-flow is judged at the sink: the relay holds events it acknowledged and has
	// not produced yet. On a loaded machine the publisher may have finished first;
	// the kill then still lands in the middle of the delivery.
	require.Less(t, onTopic, before, "the kill must land while the sink still has a backlog")
	if before == n {
		t.Logf("the kill landed after the last publish, with %d events still to produce", before-onTopic)
	}
	t.Logf("killed the relay after %d of %d events were acknowledged by it, %d on the topic, %d produce requests refused",
		before, n, onTopic, refused.Load())

	flaky.Store(false)
	d2 := startDaemon(t, nil, "run", "-c", cfg)
	waitHTTP(t, d2, "http://"+httpAddr+"/health", http.StatusNoContent)
	c2 := mqttClient(t, brokerAddr, "plc-1")
	pub.publishAll(c2, ids, 200, nil)
	require.Equal(t, n, pub.ackedCount(), "every event is eventually acknowledged by the relay")
	waitUntil(t, "every event on the topic", 120*time.Second, func() bool { return rd.unique() == n })
	require.Empty(t, rd.missing(ids))
	u, dups, badKeys := rd.counts()
	require.Zero(t, badKeys, "every record is keyed by its event's key")
	t.Logf("%d unique events on the topic, %d duplicates, 0 lost", u, dups)
	c2.Disconnect(100)
}

// refusedProduce answers req with NOT_ENOUGH_REPLICAS (retriable) for every
// partition.
func refusedProduce(req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Version = req.Version
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.BaseOffset = rp.Partition, 19, -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// topicReader reads a topic back incrementally and counts the event ids it holds.
type topicReader struct {
	t       *testing.T
	brokers []string
	topic   string
	parts   int32

	user, pass string // SASL/PLAIN login; "" none

	mu      sync.Mutex // guards the fields below
	client  sarama.Client
	next    map[int32]int64
	seen    map[string]int
	badKeys int // records whose key is not the payload's "key"
}

func newTopicReader(t *testing.T, brokers []string, topic string, parts int32) *topicReader {
	r := &topicReader{t: t, brokers: brokers, topic: topic, parts: parts, next: map[int32]int64{}, seen: map[string]int{}}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.client != nil {
			_ = r.client.Close()
		}
	})
	return r
}

// sasl makes the reader log in with SASL/PLAIN.
func (r *topicReader) sasl(user, pass string) { r.user, r.pass = user, pass }

// poll reads what was produced since the last poll; errors are retried next time.
func (r *topicReader) poll() {
	if r.client == nil {
		sc := sarama.NewConfig()
		sc.Version = sarama.V3_6_0_0
		if r.user != "" {
			sc.Net.SASL.Enable, sc.Net.SASL.Mechanism = true, sarama.SASLTypePlaintext
			sc.Net.SASL.User, sc.Net.SASL.Password = r.user, r.pass
		}
		cl, err := sarama.NewClient(r.brokers, sc)
		if err != nil {
			return
		}
		r.client = cl
	}
	cons, err := sarama.NewConsumerFromClient(r.client)
	if err != nil {
		return
	}
	defer cons.Close()
	for p := range r.parts {
		hwm, err := r.client.GetOffset(r.topic, p, sarama.OffsetNewest)
		if err != nil || r.next[p] >= hwm {
			continue
		}
		pc, err := cons.ConsumePartition(r.topic, p, r.next[p])
		if err != nil {
			continue
		}
		timeout := time.After(10 * time.Second)
	read:
		for r.next[p] < hwm {
			select {
			case m := <-pc.Messages():
				var body struct {
					ID  string `json:"id"`
					Key string `json:"key"`
				}
				if json.Unmarshal(m.Value, &body) == nil && body.ID != "" {
					r.seen[body.ID]++
					if string(m.Key) != body.Key {
						r.badKeys++
					}
				}
				r.next[p] = m.Offset + 1
			case <-timeout:
				break read
			}
		}
		_ = pc.Close()
	}
}

func (r *topicReader) unique() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.poll()
	return len(r.seen)
}

func (r *topicReader) counts() (unique, dups, badKeys int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.poll()
	unique, dups = countSeen(r.seen)
	return unique, dups, r.badKeys
}

func (r *topicReader) missing(ids []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.poll()
	return missingSeen(r.seen, ids)
}

// TestKafkaSinkSecretsE2E runs the daemon with two kafka sinks on a kfake cluster
// that takes SASL/PLAIN: one logs in and produces (and dead-letters an event larger
// than its max_message_bytes), the other's password is wrong, so its connect errors
// reach the log and /ready. Neither password, in any form, appears in the log,
// /ready, /metrics, the dead letters or the store file.
func TestKafkaSinkSecretsE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end test (slow); runs without -short")
	}
	secrets := map[string]string{
		"kafka sink sasl password":       "KSinkPw-4d6f8h0j2l4n",
		"kafka sink wrong sasl password": "KSinkWrong-5e7g9i1k3m",
	}
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "site-alerts"), kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "edge", secrets["kafka sink sasl password"]))
	require.NoError(t, err)
	defer kf.Close()
	addr := kf.ListenAddrs()[0]

	dir := t.TempDir()
	brokerAddr, httpAddr := freePort(t), freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %[1]s/queue.db }
http: { listen: %[2]s }
broker: { enabled: "true", listen: %[3]s }
sources:
  - { name: plant, type: mqtt, url: tcp://%[3]s, topics: ["plant/#"], qos: 1, key_path: key }
sinks:
  - { name: kq, type: kafka, brokers: ["%[4]s"], topic: site-alerts, max_message_bytes: 2048, sasl: { username: edge, password: %[5]q } }
  - { name: kq-wrong, type: kafka, brokers: ["%[4]s"], topic: site-alerts, sasl: { username: edge, password: %[6]q }, retry: { initial: 50ms, max: 200ms } }
routes:
  - { from: [plant], to: [kq, kq-wrong] }
`, dir, httpAddr, brokerAddr, addr, secrets["kafka sink sasl password"], secrets["kafka sink wrong sasl password"]))

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
	code, out, errs := cli(t, "config", "check", "-c", cfg)
	require.Equal(t, exitOK, code, "stdout=%s stderr=%s", out, errs)
	search("config check", out+errs)

	d := startDaemon(t, nil, "run", "-c", cfg)
	waitHTTP(t, d, "http://"+httpAddr+"/health", http.StatusNoContent)
	c := mqttClient(t, brokerAddr, "plc-ksecrets")
	for i := range 5 {
		body := fmt.Sprintf(`{"id":"s%d","key":"k%d","summary":"pump %d"}`, i, i, i)
		if i == 4 {
			body = fmt.Sprintf(`{"id":"s%d","key":"k%d","pad":%q}`, i, i, strings.Repeat("x", 4096))
		}
		tok := c.Publish("plant/line1", 1, false, body)
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	c.Disconnect(100)
	rd := newTopicReader(t, []string{addr}, "site-alerts", 2)
	rd.sasl("edge", secrets["kafka sink sasl password"])
	waitUntil(t, "four events on the topic, one dead letter, failed connects", 60*time.Second, func() bool {
		return rd.unique() == 4 && scrape(t, httpAddr, `edgerelay_dead_letters_total{sink="kq"}`) == 1 &&
			strings.Count(d.stderr.String(), "kq-wrong") >= 2
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
	search("log", logs)
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "kq-wrong") && strings.Contains(l, "SASL") {
			t.Logf("the refused login, as logged: %s", l)
			break
		}
	}
	require.Contains(t, logs, "SASL", "the log tells why kq-wrong cannot connect")
	code, out, errs = cli(t, "queue", "list", "-c", cfg, "--dead", "--limit", "0")
	require.Equal(t, exitOK, code, "stdout=%s stderr=%s", out, errs)
	require.Contains(t, out, "max_message_bytes", "the dead letter gives the reason")
	search("queue list --dead", out+errs)
	raw, err := os.ReadFile(filepath.Join(dir, "queue.db"))
	require.NoError(t, err)
	search("store file", string(raw))
	require.Empty(t, found, "secrets leaked:\n%s", strings.Join(found, "\n"))
}
