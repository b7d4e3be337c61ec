package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
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
	require.Less(t, before, n, "the kill must land while events still arrive")
	require.Less(t, onTopic, before, "the kill must land while the sink still has a backlog")
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

// poll reads what was produced since the last poll; errors are retried next time.
func (r *topicReader) poll() {
	if r.client == nil {
		sc := sarama.NewConfig()
		sc.Version = sarama.V3_6_0_0
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
	for _, n := range r.seen {
		unique++
		dups += n - 1
	}
	return unique, dups, r.badKeys
}

func (r *topicReader) missing(ids []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.poll()
	var out []string
	for _, id := range ids {
		if r.seen[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}
