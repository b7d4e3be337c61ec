package kafka

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// sinkCluster is an in-process kfake cluster for the sink's tests that keeps its log
// in a directory, so that it can be stopped and started again on the same port with
// the records produced so far, and reads back what was produced to one topic.
type sinkCluster struct {
	t     *testing.T
	opts  []kfake.Opt // every start's options but the port
	topic string
	parts int32
	user  string // SASL/PLAIN user of the reader; "" none
	pass  string

	mu     sync.Mutex // guards the fields below
	c      *kfake.Cluster
	addr   string
	reader sarama.Client
	next   map[int32]int64 // per partition: the first offset not yet read
	got    []record
}

// record is one record read back from the topic.
type record struct {
	Partition int32
	Offset    int64
	Key       []byte // nil: no key
	Value     []byte
	Headers   map[string]string
	Time      time.Time
}

// newSinkCluster starts kfake with topic seeded in parts partitions. user and pass,
// when set, turn SASL/PLAIN on with that superuser.
func newSinkCluster(t *testing.T, topic string, parts int32, user, pass string, opts ...kfake.Opt) *sinkCluster {
	t.Helper()
	base := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(parts, topic), kfake.DataDir(t.TempDir())}
	if user != "" {
		base = append(base, kfake.EnableSASL(), kfake.Superuser("PLAIN", user, pass))
	}
	sc := &sinkCluster{t: t, opts: append(base, opts...), topic: topic, parts: parts, user: user, pass: pass, next: map[int32]int64{}}
	c, err := kfake.NewCluster(sc.opts...)
	require.NoError(t, err)
	sc.c, sc.addr = c, c.ListenAddrs()[0]
	t.Cleanup(func() {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		if sc.reader != nil {
			_ = sc.reader.Close()
		}
		sc.c.Close()
	})
	return sc
}

// cluster returns the running kfake cluster.
func (sc *sinkCluster) cluster() *kfake.Cluster {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.c
}

// restart stops the cluster (dropping every connection) and starts it again on the
// same port with the same log.
func (sc *sinkCluster) restart(t *testing.T) {
	t.Helper()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.reader != nil {
		_ = sc.reader.Close()
		sc.reader = nil
	}
	sc.c.Close()
	_, portStr, _ := net.SplitHostPort(sc.addr)
	port, _ := strconv.Atoi(portStr)
	var err error
	for range 50 {
		var c *kfake.Cluster
		if c, err = kfake.NewCluster(append(sc.opts, kfake.Ports(port))...); err == nil {
			sc.c = c
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	adaptertest.Missing(t, "cannot start kfake again on port %d: %v", port, err)
}

// readerConfig is a sarama configuration for reading the topic back.
func (sc *sinkCluster) readerConfig() *sarama.Config {
	c := testSaramaConfig()
	c.Net.DialTimeout = 2 * time.Second
	if sc.user != "" {
		c.Net.SASL.Enable = true
		c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		c.Net.SASL.User = sc.user
		c.Net.SASL.Password = sc.pass
	}
	return c
}

// records returns every record produced to the topic so far, per partition in
// offset order. It reads only what it has not read before.
func (sc *sinkCluster) records(t testing.TB) []record {
	t.Helper()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if err := sc.readNew(); err != nil {
		t.Logf("reading the topic back: %v (will try again)", err)
		if sc.reader != nil {
			_ = sc.reader.Close()
			sc.reader = nil
		}
	}
	return append([]record(nil), sc.got...)
}

func (sc *sinkCluster) readNew() error {
	if sc.reader == nil {
		cl, err := sarama.NewClient([]string{sc.addr}, sc.readerConfig())
		if err != nil {
			return err
		}
		sc.reader = cl
	}
	cons, err := sarama.NewConsumerFromClient(sc.reader)
	if err != nil {
		return err
	}
	defer cons.Close()
	for p := range sc.parts {
		hwm, err := sc.reader.GetOffset(sc.topic, p, sarama.OffsetNewest)
		if err != nil {
			return err
		}
		if sc.next[p] >= hwm {
			continue
		}
		pc, err := cons.ConsumePartition(sc.topic, p, sc.next[p])
		if err != nil {
			return err
		}
		timeout := time.After(10 * time.Second)
	read:
		for sc.next[p] < hwm {
			select {
			case m := <-pc.Messages():
				r := record{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Timestamp,
					Headers: map[string]string{}}
				for _, h := range m.Headers {
					r.Headers[string(h.Key)] = string(h.Value)
				}
				sc.got = append(sc.got, r)
				sc.next[p] = m.Offset + 1
			case <-timeout:
				break read
			}
		}
		_ = pc.Close()
	}
	return nil
}

// failProduce makes the broker answer the next n produce requests with code for
// every partition they carry.
func (sc *sinkCluster) failProduce(n int, code int16) {
	var mu sync.Mutex
	left := n
	c := sc.cluster()
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		if left == 0 {
			c.DropControl()
			return nil, nil, false
		}
		left--
		if left > 0 {
			c.KeepControl()
		}
		return produceError(req.(*kmsg.ProduceRequest), code), nil, true
	})
}

// produceError answers req with code for every partition.
func produceError(req *kmsg.ProduceRequest, code int16) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Version = req.Version
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			sp.BaseOffset = -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// Kafka error codes the tests inject.
const (
	codeMessageTooLarge           int16 = 10
	codeNotEnoughReplicas         int16 = 19
	codeClusterAuthorizationFaild int16 = 31
)

// newTestSink builds a sink on sc's topic, changed by mod.
func newTestSink(t testing.TB, sc *sinkCluster, h adapters.Health, mod func(*SinkConfig)) *Sink {
	t.Helper()
	cfg := DefaultSinkConfig()
	cfg.Brokers = []string{sc.addr}
	cfg.Topic = sc.topic
	if sc.user != "" {
		cfg.SASL = SASLConfig{Username: sc.user, Password: secret.Value(sc.pass)}
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSink(cfg, adapters.Deps{Name: "ks", Log: testSinkLogger(t), Health: h, Now: time.Now})
	require.NoError(t, err)
	return s
}

func testSinkLogger(t testing.TB) *slog.Logger {
	if os.Getenv("KAFKA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// connect connects s and closes it when the test ends.
func connect(t testing.TB, s *Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, s.Connect(ctx))
	t.Cleanup(func() { _ = s.Close(context.Background()) })
}

// waitRecords waits until the topic holds at least n records and returns them.
func waitRecords(t testing.TB, sc *sinkCluster, n int) []record {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := sc.records(t)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the topic holds %d records, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
