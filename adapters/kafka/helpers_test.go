package kafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/edgerelay/edgerelay/adapters"
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cluster is an in-process kfake cluster with a producer, closed when the test ends.
type cluster struct {
	c     *kfake.Cluster
	addrs []string
	prod  sarama.SyncProducer

	mu   sync.Mutex // guards next
	next map[string]int32
	nump map[string]int32 // partitions per seeded topic
}

// newCluster starts kfake with the given topics, each of parts partitions.
func newCluster(t *testing.T, parts int32, topics ...string) *cluster {
	t.Helper()
	return newClusterOpts(t, parts, topics, nil)
}

func newClusterOpts(t *testing.T, parts int32, topics []string, opts []kfake.Opt, prodCfg ...func(*sarama.Config)) *cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(parts, topics...)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	cl := &cluster{c: c, addrs: c.ListenAddrs(), next: map[string]int32{}, nump: map[string]int32{}}
	for _, tp := range topics {
		cl.nump[tp] = parts
	}
	sc := testSaramaConfig()
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	// Idempotent, so that a produce retried on a loaded machine (a timeout whose
	// request did land) writes no second copy: the tests count offsets.
	sc.Producer.Idempotent = true
	sc.Net.MaxOpenRequests = 1
	for _, f := range prodCfg {
		f(sc)
	}
	cl.prod, err = sarama.NewSyncProducer(cl.addrs, sc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.prod.Close() })
	return cl
}

func testSaramaConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	return sc
}

// produce sends one message to partition part of topic (-1: round robin).
func (cl *cluster) produce(t testing.TB, topic string, part int32, key, value []byte) {
	t.Helper()
	if part < 0 {
		cl.mu.Lock()
		part = cl.next[topic] % cl.nump[topic]
		cl.next[topic]++
		cl.mu.Unlock()
	}
	m := &sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.ByteEncoder(value)}
	if key != nil {
		m.Key = sarama.ByteEncoder(key)
	}
	_, _, err := cl.prod.SendMessage(m)
	require.NoError(t, err)
}

// produceN sends n messages "<prefix>-<i>" round robin over the partitions and
// returns their payloads.
func (cl *cluster) produceN(t testing.TB, topic, prefix string, n int) []string {
	t.Helper()
	out := make([]string, n)
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
		cl.mu.Lock()
		part := cl.next[topic] % cl.nump[topic]
		cl.next[topic]++
		cl.mu.Unlock()
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(out[i])}
	}
	for len(msgs) > 0 {
		k := min(len(msgs), 500)
		require.NoError(t, cl.prod.SendMessages(msgs[:k]))
		msgs = msgs[k:]
	}
	return out
}

// committed returns the group's committed offset per partition of topic (-1: none).
func (cl *cluster) committed(t testing.TB, group, topic string) map[int32]int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(cl.addrs, testSaramaConfig())
	require.NoError(t, err)
	defer admin.Close()
	parts := make([]int32, cl.nump[topic])
	for i := range parts {
		parts[i] = int32(i)
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: parts})
	require.NoError(t, err)
	out := map[int32]int64{}
	for _, p := range parts {
		b := resp.GetBlock(topic, p)
		require.NotNil(t, b, "no offset block for %s/%d", topic, p)
		out[p] = b.Offset
	}
	return out
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("KAFKA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// newSource builds a source on cl consuming topic in group, changed by mod.
func newSource(t *testing.T, cl *cluster, group, topic string, h adapters.Health, mod func(*Config)) *Source {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Brokers = cl.addrs
	cfg.GroupID = group
	cfg.Topics = []string{topic}
	if mod != nil {
		mod(&cfg)
	}
	if h == nil {
		h = newHealthRec()
	}
	s, err := NewSource(cfg, adapters.Deps{Name: "k", Log: testLogger(t), Health: h, Now: time.Now})
	require.NoError(t, err)
	return s
}

// running is a source's Run in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

// start runs s with pub; the run is stopped when the test ends if not before.
func start(t *testing.T, s *Source, pub adapters.Publisher) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx, pub) }() // exits when Run returns
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
		}
	})
	return r
}

// stop cancels the run and requires Run to return nil.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of its context being cancelled")
	}
	r.done <- nil // for the cleanup
}

// pub is a Publisher for tests: it records every Publish and decides each done by
// a mode function, which may also hold done back (hold returns true) for release.
type pub struct {
	mu        sync.Mutex // guards the fields below
	published []*adapters.Event
	accepted  map[string]int // accepted deliveries per payload
	parts     map[int32]bool // partitions of accepted events
	held      []func(adapters.Settlement)
	decide    func(e *adapters.Event, nth int) (err error, hold bool)
	seen      map[string]int
}

func newPub(decide func(e *adapters.Event, nth int) (error, bool)) *pub {
	return &pub{accepted: map[string]int{}, parts: map[int32]bool{}, seen: map[string]int{}, decide: decide}
}

func (p *pub) Publish(ctx context.Context, e *adapters.Event, done func(adapters.Settlement)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	p.published = append(p.published, e)
	p.seen[string(e.Payload)]++
	nth := p.seen[string(e.Payload)]
	decide := p.decide
	p.mu.Unlock()
	var err error
	var hold bool
	if decide != nil {
		err, hold = decide(e, nth)
	}
	p.mu.Lock()
	if hold {
		p.held = append(p.held, done)
		p.mu.Unlock()
		return nil
	}
	if err == nil {
		p.accepted[string(e.Payload)]++
		var part int32
		fmt.Sscan(e.Attrs["kafka.partition"], &part)
		p.parts[part] = true
	}
	p.mu.Unlock()
	done(settlement(err))
	return nil
}

// settlement is Stored for nil, else the refusal of err.
func settlement(err error) adapters.Settlement {
	if err != nil {
		return adapters.Refuse(err)
	}
	return adapters.Settled(adapters.Stored, "")
}

// setDecide replaces the mode function.
func (p *pub) setDecide(f func(e *adapters.Event, nth int) (error, bool)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.decide = f
}

// release completes every held done with err.
func (p *pub) release(err error) {
	p.mu.Lock()
	held := p.held
	p.held = nil
	p.mu.Unlock()
	for _, d := range held {
		d(settlement(err))
	}
}

func (p *pub) heldCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.held)
}

func (p *pub) acceptedCount(payload string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted[payload]
}

func (p *pub) seenCount(payload string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[payload]
}

// acceptedAll reports whether every payload was accepted at least once.
func (p *pub) acceptedAll(payloads []string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range payloads {
		if p.accepted[s] == 0 {
			return false
		}
	}
	return true
}

// acceptedAny reports how many of payloads were accepted.
func (p *pub) acceptedOf(payloads []string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range payloads {
		if p.accepted[s] > 0 {
			n++
		}
	}
	return n
}

func (p *pub) partitions() map[int32]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int32]bool{}
	for k := range p.parts {
		out[k] = true
	}
	return out
}

func (p *pub) events() []*adapters.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*adapters.Event(nil), p.published...)
}
