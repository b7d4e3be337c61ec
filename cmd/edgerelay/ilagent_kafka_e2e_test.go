package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

// Kafka topic names cannot hold '/': the ilagent Kafka tests use dashes.
const (
	kEvents     = "ilert-events"
	kHeartbeats = "ilert-heartbeats"
	kPolicies   = "ilert-policies"
	kEventsPath = "/api/v1/events/kafka/"
)

// ilagentKafka is an in-process kfake cluster seeded with the ilagent topics, and a
// producer that writes to explicit partitions.
type ilagentKafka struct {
	brokers string
	prod    sarama.SyncProducer
}

func newIlagentKafka(t *testing.T, parts int32) *ilagentKafka {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, kEvents, kHeartbeats, kPolicies))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	pc := sarama.NewConfig()
	pc.Version = sarama.V3_6_0_0
	pc.Producer.Return.Successes = true
	pc.Producer.RequiredAcks = sarama.WaitForAll
	pc.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(c.ListenAddrs(), pc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = prod.Close() })
	return &ilagentKafka{brokers: strings.Join(c.ListenAddrs(), ","), prod: prod}
}

// produce writes one message to partition 0 of topic.
func (k *ilagentKafka) produce(t *testing.T, topic, value string) {
	t.Helper()
	k.produceTo(t, topic, 0, value)
}

func (k *ilagentKafka) produceTo(t *testing.T, topic string, partition int32, value string) {
	t.Helper()
	_, _, err := k.prod.SendMessage(&sarama.ProducerMessage{
		Topic: topic, Partition: partition, Key: sarama.StringEncoder("m"), Value: sarama.StringEncoder(value),
	})
	require.NoError(t, err)
}

// startIlagentKafka runs `edgerelay daemon` consuming k with ilagent's Kafka flags
// plus extra, its store under dir and its HTTP server on a free port, and returns
// the process and that port's loopback address once /ready answers 204 (the
// consumer joined the group and was assigned its partitions).
func startIlagentKafka(t *testing.T, fake *ilerttest.Server, k *ilagentKafka, dir string, extra ...string) (*daemonProc, string) {
	t.Helper()
	httpAddr := freePort(t)
	_, hport, _ := net.SplitHostPort(httpAddr)
	args := append([]string{"daemon", "--kafka_brokers", k.brokers, "-e", kEvents, "-r", kHeartbeats,
		"-p", hport, "-f", filepath.Join(dir, "ilagent.db3"), "-vv"}, extra...)
	d := startDaemon(t, ilagentEnv(fake), args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon %s log:\n%s", hport, d.stderr.String())
		}
	})
	waitHTTP(t, d, "http://"+httpAddr+"/ready", http.StatusNoContent)
	return d, httpAddr
}

// dumpFake logs what the fake received when the test failed.
func dumpFake(t *testing.T, fake *ilerttest.Server) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range fake.Requests() {
				t.Logf("fake got %s %s → %d %s", r.Method, r.Path, r.Status, r.Body)
			}
		}
	})
}

// kafkaEventPosts counts the event POSTs the fake received (whatever it answered).
func kafkaEventPosts(fake *ilerttest.Server) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Method == http.MethodPost && strings.HasPrefix(r.Path, kEventsPath) {
			n++
		}
	}
	return n
}

// sigterm stops d with SIGTERM and requires a clean exit (code 0) within the spec's
// 10 s bound for a graceful Kafka shutdown (scenario 89).
func sigterm(t *testing.T, d *daemonProc) {
	t.Helper()
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("daemon did not stop within 10s of SIGTERM:\n%s", d.stderr.String())
	}
	require.Equal(t, 0, d.cmd.ProcessState.ExitCode(), d.stderr.String())
}

// TestIlagentKafkaDaemon runs `edgerelay daemon --kafka_brokers …` against a kfake
// cluster and the ilert fake: spec scenarios 83–86, 89 and 90 on one process, and
// the fix of §11.13 that a new group reads the backlog produced before it joined.
func TestIlagentKafkaDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end test with a child process (slow); runs without -short")
	}
	k := newIlagentKafka(t, 1)
	fake := ilerttest.NewServer(t)
	fake.AddUser("support@ilert.com", 99)
	fake.AddPolicy("powerplant", ilerttest.Policy{ID: 42, Rules: []ilerttest.Rule{{EscalationTimeout: 0}, {EscalationTimeout: 5}}})
	dumpFake(t, fake)

	// §11.13: produced before the daemon (and its group) exists; ilagent's librdkafka
	// default (latest) would skip it, initial_offset oldest reads it.
	k.produce(t, kEvents, `{"apiKey":"il1api-k","summary":"backlog","alertKey":"a0"}`)

	// 89: /ready is 204 once the consumer is subscribed (startIlagentKafka waits for it).
	d, httpAddr := startIlagentKafka(t, fake, k, t.TempDir(),
		"--policy_topic", kPolicies, "--policy_routing_keys", "location")
	waitUntil(t, "the backlog event", 30*time.Second, func() bool { return len(summaries(fake, kEventsPath)) == 1 })
	require.Equal(t, []string{"backlog"}, summaries(fake, kEventsPath))

	// 83: an event is POSTed to /api/v1/events/kafka/<integration key>.
	k.produce(t, kEvents, `{"apiKey":"il1api-k83","summary":"scenario 83","alertKey":"a83"}`)
	waitUntil(t, "the event", 30*time.Second, func() bool { return len(summaries(fake, kEventsPath)) == 2 })
	evs := fake.Events()
	last := evs[len(evs)-1]
	require.Equal(t, "kafka", last.Source)
	require.Equal(t, "il1api-k83", last.PathKey)
	var body struct{ Summary, AlertKey, EventType string }
	require.NoError(t, json.Unmarshal(last.Body, &body))
	require.Equal(t, "scenario 83", body.Summary)
	require.Equal(t, "a83", body.AlertKey)
	require.Equal(t, "ALERT", body.EventType)

	// 84: a heartbeat message pings the legacy heartbeat endpoint.
	k.produce(t, kHeartbeats, `{"apiKey":"il1hbt-kafka-test"}`)
	waitUntil(t, "the heartbeat", 30*time.Second, func() bool { return len(fake.Heartbeats()) == 1 })
	require.Equal(t, ilerttest.Heartbeat{Legacy: true, Key: "il1hbt-kafka-test"}, fake.Heartbeats()[0])
	var beat bool
	for _, r := range fake.Requests() {
		if r.Method == http.MethodGet && r.Path == "/api/heartbeats/il1hbt-kafka-test" {
			beat = true
		}
	}
	require.True(t, beat, "GET /api/heartbeats/il1hbt-kafka-test")

	// 85: a payload that is not JSON does not block the partition; the next valid
	// one is POSTed exactly once and the invalid one is counted as rejected.
	posts := kafkaEventPosts(fake)
	k.produce(t, kEvents, `not json at all`)
	k.produce(t, kEvents, `{"apiKey":"il1api-k","summary":"after bad input","alertKey":"a85"}`)
	waitUntil(t, "the valid event after bad input", 30*time.Second, func() bool { return len(summaries(fake, kEventsPath)) == 3 })
	require.Equal(t, posts+1, kafkaEventPosts(fake), "exactly one POST for the two messages")
	require.Equal(t, 1.0, scrape(t, httpAddr, `edgerelay_events_rejected_total{source="kafka",reason="invalid"}`))

	// 86: three events, three POSTs, in partition order.
	for _, s := range []string{"first", "second", "third"} {
		k.produce(t, kEvents, fmt.Sprintf(`{"apiKey":"il1api-k","summary":%q,"alertKey":"a86"}`, s))
	}
	waitUntil(t, "three more events", 30*time.Second, func() bool { return len(summaries(fake, kEventsPath)) == 6 })
	require.Equal(t, []string{"backlog", "scenario 83", "after bad input", "first", "second", "third"}, summaries(fake, kEventsPath))
	require.Equal(t, posts+4, kafkaEventPosts(fake), "one POST per event, no redelivery")

	// 90: a policy message makes the three policy calls and the level update arrives.
	k.produce(t, kPolicies, `{"location":"powerplant","state":"active","data":{"email":"support@ilert.com","shift":"1"}}`)
	waitUntil(t, "the policy level update", 30*time.Second, func() bool { return len(fake.LevelUpdates()) == 1 })
	require.Equal(t, ilerttest.LevelUpdate{PolicyID: 42, Shift: 1, EscalationTimeout: 5, Users: []int64{99}}, fake.LevelUpdates()[0])
	var search bool
	for _, r := range fake.Requests() {
		if r.Path == "/api/users/search-email" {
			search = true
			require.JSONEq(t, `{"email":"support@ilert.com"}`, string(r.Body))
		}
	}
	require.True(t, search, "the user search was called")

	// 89: SIGTERM ends the process cleanly.
	require.False(t, d.exited(), "the daemon is still running")
	sigterm(t, d)
}

// TestIlagentKafkaMappings is scenario 87: the mapping flags on the Kafka consumer.
func TestIlagentKafkaMappings(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end test with a child process (slow); runs without -short")
	}
	k := newIlagentKafka(t, 1)
	fake := ilerttest.NewServer(t)
	dumpFake(t, fake)
	startIlagentKafka(t, fake, k, t.TempDir(), "--map_key_etype", "state", "--map_val_etype_alert", "SET",
		"--map_key_alert_key", "mCode", "--map_key_summary", "msg", "--event_key", "static-api-key")
	k.produce(t, kEvents, `{"state":"SET","mCode":"M-100","msg":"Pump failure detected","apiKey":"ignored"}`)
	waitUntil(t, "the mapped event", 30*time.Second, func() bool { return len(fake.Events()) == 1 })
	ev := fake.Events()[0]
	require.Equal(t, "static-api-key", ev.PathKey)
	var b struct{ IntegrationKey, EventType, Summary, AlertKey string }
	require.NoError(t, json.Unmarshal(ev.Body, &b))
	require.Equal(t, "static-api-key", b.IntegrationKey)
	require.Equal(t, "ALERT", b.EventType)
	require.Equal(t, "Pump failure detected", b.Summary)
	require.Equal(t, "M-100", b.AlertKey)
}

// TestIlagentKafkaForwardPayload is scenario 88: with --forward_message_payload the
// event's customDetails is the original payload, without a topic.
func TestIlagentKafkaForwardPayload(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end test with a child process (slow); runs without -short")
	}
	k := newIlagentKafka(t, 1)
	fake := ilerttest.NewServer(t)
	dumpFake(t, fake)
	startIlagentKafka(t, fake, k, t.TempDir(), "--forward_message_payload")
	payload := `{"apiKey":"il1api-fwd","summary":"Forwarded","alertKey":"f1","data":{"priority":2,"alarmGroup":[]}}`
	k.produce(t, kEvents, payload)
	waitUntil(t, "the forwarded event", 30*time.Second, func() bool { return len(fake.Events()) == 1 })
	ev := fake.Events()[0]
	require.Equal(t, "il1api-fwd", ev.PathKey)
	cd, ok := ev.Fields["customDetails"]
	require.True(t, ok, "customDetails is set: %s", ev.Body)
	require.JSONEq(t, payload, string(cd))
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(cd, &m))
	require.NotContains(t, m, "topic")
}

// TestIlagentKafkaRetry is the fix of §11.13: a 500 from ilert is retried inside
// the process (ilagent slept 5 s and exited); the same process delivers the event.
// After a clean restart with the same group and store, the event is not delivered
// again: a later event with the same alertKey arrives, and the first one stays
// delivered once.
func TestIlagentKafkaRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end test with a child process (slow); runs without -short")
	}
	k := newIlagentKafka(t, 1)
	fake := ilerttest.NewServer(t)
	dumpFake(t, fake)
	dir := t.TempDir()
	d, _ := startIlagentKafka(t, fake, k, dir)
	fake.FailNext(kEventsPath+"*", 1, http.StatusInternalServerError)
	k.produce(t, kEvents, `{"apiKey":"il1api-k","summary":"retry me","alertKey":"r1"}`)
	waitUntil(t, "the retried event", 60*time.Second, func() bool { return len(summaries(fake, kEventsPath)) == 1 })
	require.Equal(t, 2, kafkaEventPosts(fake), "one failed attempt, one retry")
	require.False(t, d.exited(), "the daemon retried in-process instead of exiting:\n%s", d.stderr.String())
	sigterm(t, d)

	startIlagentKafka(t, fake, k, dir)
	k.produce(t, kEvents, `{"apiKey":"il1api-k","summary":"after restart","alertKey":"r1"}`)
	waitUntil(t, "the event after the restart", 30*time.Second, func() bool { return len(summaries(fake, kEventsPath)) >= 2 })
	require.Equal(t, []string{"retry me", "after restart"}, summaries(fake, kEventsPath),
		"the retried message was committed: no redelivery after a restart")
}

// TestIlagentKafkaTwoDaemons is ilagent's HA setup: two `edgerelay daemon` processes
// sharing one --kafka_group_id split a 4-partition topic, each taking a share; when
// one is SIGKILLed the survivor takes over its partitions.
func TestIlagentKafkaTwoDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end test with two child processes (slow); runs without -short")
	}
	const parts = 4
	k := newIlagentKafka(t, parts)
	fake := ilerttest.NewServer(t)
	group := []string{"--kafka_group_id", "ilagent-ha"}
	d1, addr1 := startIlagentKafka(t, fake, k, t.TempDir(), group...)
	d2, addr2 := startIlagentKafka(t, fake, k, t.TempDir(), group...)
	// d2's /ready means the group rebalanced with both members (eager rebalance:
	// the join completes once every member rejoined); d1 must be subscribed again.
	waitHTTP(t, d1, "http://"+addr1+"/ready", http.StatusNoContent)

	produce := func(from, to int) {
		for i := from; i < to; i++ {
			k.produceTo(t, kEvents, int32(i%parts),
				fmt.Sprintf(`{"apiKey":"il1api-ha","summary":"ha-%04d","alertKey":"p%d"}`, i, i%parts))
		}
	}
	delivered := func(n int) func() bool {
		return func() bool {
			u := uniqueSummaries(fake)
			for i := range n {
				if !u[fmt.Sprintf("ha-%04d", i)] {
					return false
				}
			}
			return true
		}
	}
	produce(0, 400)
	waitUntil(t, "400 events at ilert", 120*time.Second, delivered(400))
	in1 := scrape(t, addr1, `edgerelay_events_in_total{source="kafka"}`)
	in2 := scrape(t, addr2, `edgerelay_events_in_total{source="kafka"}`)
	t.Logf("daemon 1 took in %.0f events, daemon 2 %.0f", in1, in2)
	require.Greater(t, in1, 0.0, "daemon 1 took a share")
	require.Greater(t, in2, 0.0, "daemon 2 took a share")
	require.GreaterOrEqual(t, in1+in2, 400.0)

	// d1's last offsets may be uncommitted (commits go every second): the survivor
	// consumes them again, so ilert may see duplicates, never gaps.
	d1.kill()
	produce(400, 600)
	waitUntil(t, "600 events at ilert", 120*time.Second, delivered(600))
	require.False(t, d2.exited(), "the survivor is running")
	t.Logf("%d events accepted by ilert for 600 produced (duplicates allowed)", len(fake.Events()))
}
