package main

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestZeroLossKafkaKill is the kill -9 test for the kafka source: an in-process kfake
// cluster, 5,000 events produced while the relay consumes them and the webhook
// answers 503, the relay SIGKILLed mid-flow and restarted, every event delivered
// once the target recovers (duplicates allowed and counted). Offsets the first relay
// did not commit are consumed again by the second after the group rebalances.
func TestZeroLossKafkaKill(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: kill -9 end-to-end test (slow); runs without -short")
	}
	const (
		n     = 5000
		topic = "alarms"
		parts = 4
	)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, topic))
	require.NoError(t, err)
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	pc := sarama.NewConfig()
	pc.Version = sarama.V3_6_0_0
	pc.Producer.Return.Successes = true
	pc.Producer.RequiredAcks = sarama.WaitForAll
	prod, err := sarama.NewSyncProducer(brokers, pc)
	require.NoError(t, err)
	defer prod.Close()

	dir := t.TempDir()
	tg := newTarget(t)
	httpAddr := freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "false" }
sources:
  - { name: site, type: kafka, brokers: [%s], group_id: edgerelay-kill-test, topics: [%s], key_path: key }
sinks:
  - name: hook
    type: webhook
    url: %s
    retry: { initial: 20ms, max: 200ms }
routes:
  - { from: [site], to: [hook] }
`, dir, httpAddr, brokers[0], topic, tg.srv.URL))

	ids := eventIDs(n)
	d := startDaemon(t, nil, "run", "-c", cfg)
	waitReady(t, d, "http://"+httpAddr+"/ready") // joined the group

	// Produce in small batches so that the kill lands while events still arrive.
	var produced atomic.Int64
	prodDone := make(chan error, 1)
	go func() { // exits when every event is produced or a send fails
		for i := 0; i < n; i += 50 {
			var batch []*sarama.ProducerMessage
			for j := i; j < min(i+50, n); j++ {
				body := fmt.Sprintf(`{"id":%q,"key":"k%d","summary":"pressure high","n":%d}`, ids[j], j%50, j)
				batch = append(batch, &sarama.ProducerMessage{
					Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", j%50)), Value: sarama.StringEncoder(body),
				})
			}
			if err := prod.SendMessages(batch); err != nil {
				prodDone <- err
				return
			}
			produced.Add(int64(len(batch)))
			time.Sleep(50 * time.Millisecond)
		}
		prodDone <- nil
	}()

	waitUntil(t, "the relay to take in events", 60*time.Second, func() bool {
		return scrape(t, httpAddr, `edgerelay_events_in_total{source="site"}`) >= 2500
	})
	in := scrape(t, httpAddr, `edgerelay_events_in_total{source="site"}`)
	d.kill()
	require.Less(t, in, float64(n), "the kill must land mid-flow")
	t.Logf("killed the relay after it took in %.0f events (%d produced so far)", in, produced.Load())
	require.NoError(t, <-prodDone)
	require.Equal(t, int64(n), produced.Load())

	d2 := startDaemon(t, nil, "run", "-c", cfg)
	// The dead member stays in the group until its session times out (6s); the
	// survivor joins once the group has rebalanced.
	waitHTTP(t, d2, "http://"+httpAddr+"/health", http.StatusNoContent)
	tg.open.Store(true)
	waitUntil(t, "every event at the target", 180*time.Second, func() bool {
		u, _ := tg.counts()
		return u == n
	})
	u, dups := tg.counts()
	t.Logf("delivered %d unique events, %d duplicates, 0 lost", u, dups)
	require.Empty(t, tg.missing(ids))
}
