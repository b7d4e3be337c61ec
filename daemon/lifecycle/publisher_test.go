package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	contract "github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/daemon/events"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memBroker is a broker in memory: it records what it took and can be made
// unreachable. (The brokers' own adapters pass lifecycletest against real ones.)
type memBroker struct {
	mu       sync.Mutex
	down     bool
	closed   int
	got      []contract.Message
	took     chan struct{}
	connects int
}

func newMemBroker() *memBroker { return &memBroker{took: make(chan struct{}, 1<<16)} }

func (b *memBroker) Connect(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.connects++
	if b.down {
		return errors.New("dial tcp 127.0.0.1:4222: connection refused")
	}
	return nil
}

func (b *memBroker) Publish(_ context.Context, m contract.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return errors.New("connection lost")
	}
	b.got = append(b.got, m)
	b.took <- struct{}{}
	return nil
}

func (b *memBroker) Close() error { b.mu.Lock(); b.closed++; b.mu.Unlock(); return nil }

func (b *memBroker) setDown(v bool) { b.mu.Lock(); b.down = v; b.mu.Unlock() }

func (b *memBroker) messages() []contract.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]contract.Message(nil), b.got...)
}

// waitN waits until the broker took n messages in all.
func (b *memBroker) waitN(t *testing.T, n int) []contract.Message {
	t.Helper()
	require.Eventually(t, func() bool { return len(b.messages()) >= n }, 10*time.Second, time.Millisecond,
		"the broker took %d of %d", len(b.messages()), n)
	return b.messages()
}

// health records the "broker" condition.
type health struct {
	mu       sync.Mutex
	degraded bool
	detail   string
	changes  int
}

func (h *health) Set(string, bool, string) {}
func (h *health) SetDegraded(_ string, ok bool, detail string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.degraded, h.detail = !ok, detail
	h.changes++
}
func (h *health) state() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.degraded, h.detail
}

type rig struct {
	bus    *events.Bus
	broker *memBroker
	health *health
	pub    *Publisher
	clk    *clocktest.Fake
	logs   *bytes.Buffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once

	announced atomic.Int32
}

func newRig(t *testing.T, cfg Config, node Node) *rig {
	t.Helper()
	clk := clocktest.NewFake(ExampleTime)
	r := &rig{bus: events.New(clk.Now), broker: newMemBroker(), health: &health{}, clk: clk, logs: &bytes.Buffer{}}
	if cfg.CoreName == "" {
		cfg.CoreName = "plant-7"
	}
	if cfg.Buffer == 0 {
		cfg.Buffer = 64
	}
	if cfg.StopFlush == 0 {
		cfg.StopFlush = 2 * time.Second
	}
	cfg.Adapter = "mem"
	r.pub = New(Options{Config: cfg, Publisher: r.broker, Bus: r.bus, Health: r.health, Clock: clk, Version: "1.4.0",
		Adapters: []string{"mqtt", "stdout"}, Log: slog.New(slog.NewTextHandler(r.logs, nil)),
		OnAnnounced: func() { r.announced.Add(1) }})
	r.pub.SetNode(node)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.pub.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *rig) stop() {
	r.once.Do(func() {
		r.cancel()
		<-r.done
	})
}

func decode(t *testing.T, m contract.Message) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal(m.Body, &v))
	require.Equal(t, m.Type, v["type"])
	require.Equal(t, m.ID, v["id"])
	require.Equal(t, m.CoreName, v["corename"])
	require.Equal(t, contract.DomainTopic(m.Type), m.Topic)
	return v
}

func types(ms []contract.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Type)
	}
	return out
}

// TestStartOnANewStore: the first start publishes edge.node.registered, then
// edge.node.started (once Ready came: the sources subscribed) with a null
// previous_version, the compiled adapters and the configured names.
func TestStartOnANewStore(t *testing.T) {
	r := newRig(t, Config{}, Node{ID: "N1", Registered: true})
	r.bus.Publish(events.Event{Kind: events.Started, Version: "1.4.0", Sources: []string{"plc"}, Sinks: []string{"ilert-main"}})
	require.Never(t, func() bool { return len(r.broker.messages()) > 0 }, 50*time.Millisecond, time.Millisecond,
		"nothing before the sources subscribed")
	r.bus.Publish(events.Event{Kind: events.Ready})
	ms := r.broker.waitN(t, 2)
	require.Equal(t, []string{TypeNodeRegistered, TypeNodeStarted}, types(ms))
	reg := decode(t, ms[0])
	require.Equal(t, map[string]any{"node_id": "N1", "version": "1.4.0"}, reg["data"])
	require.Equal(t, "edgerelay://plant-7/N1", reg["source"])
	st := decode(t, ms[1])
	require.Equal(t, map[string]any{"node_id": "N1", "version": "1.4.0", "previous_version": nil,
		"adapters": []any{"mqtt", "stdout"}, "sources": []any{"plc"}, "sinks": []any{"ilert-main"}}, st["data"])
	r.bus.Publish(events.Event{Kind: events.Ready}) // a second Ready changes nothing
	require.Never(t, func() bool { return len(r.broker.messages()) > 2 }, 50*time.Millisecond, time.Millisecond)
}

// TestStartAfterAnUpgrade: a start on a store whose recorded version differs
// publishes edge.node.started with previous_version, then edge.node.version_changed;
// the same version again publishes started alone.
func TestStartAfterAnUpgrade(t *testing.T) {
	r := newRig(t, Config{}, Node{ID: "N1", Previous: "1.3.2"})
	r.bus.Publish(events.Event{Kind: events.Started, Version: "1.4.0"})
	r.bus.Publish(events.Event{Kind: events.Ready})
	ms := r.broker.waitN(t, 2)
	require.Equal(t, []string{TypeNodeStarted, TypeNodeVersionChanged}, types(ms))
	require.Equal(t, "1.3.2", decode(t, ms[0])["data"].(map[string]any)["previous_version"])
	require.Equal(t, map[string]any{"from": "1.3.2", "to": "1.4.0"}, decode(t, ms[1])["data"])

	r2 := newRig(t, Config{}, Node{ID: "N1", Previous: "1.4.0"})
	r2.bus.Publish(events.Event{Kind: events.Started, Version: "1.4.0"})
	r2.bus.Publish(events.Event{Kind: events.Ready})
	require.Equal(t, []string{TypeNodeStarted}, types(r2.broker.waitN(t, 1)))
	require.Never(t, func() bool { return len(r2.broker.messages()) > 1 }, 50*time.Millisecond, time.Millisecond)
}

// TestEveryCatalogueTypeIsEmitted: the bus events the daemon publishes produce
// every type of the catalogue (alert_relayed on), each with exactly its
// catalogue's data members (the publisher refuses anything else and logs an
// error, which would fail this test), and nothing of another type.
func TestEveryCatalogueTypeIsEmitted(t *testing.T) {
	r := newRig(t, Config{AlertRelayed: true}, Node{ID: "N1", Registered: true, Previous: ""})
	r.bus.Publish(events.Event{Kind: events.Started, Version: "1.4.0"})
	r.bus.Publish(events.Event{Kind: events.Ready})
	r.bus.Publish(events.Event{Kind: events.ReadinessChanged, Component: "sink:a", Condition: "connected", From: "ok",
		To: "critical", Reason: "refused", NodeFrom: events.NodeOK, NodeTo: events.NodeNotReady})
	r.bus.Publish(events.Event{Kind: events.ReadinessChanged, Component: "sink:b", Condition: "x", NodeFrom: events.NodeNotReady,
		NodeTo: events.NodeNotReady}) // the node's state did not change: nothing
	r.bus.Publish(events.Event{Kind: events.DeadLettered, Sink: "a", EventID: "E1", Key: "k", Reason: "permanent: 400"})
	for _, st := range []string{events.CommandCreated, events.CommandCompleted, events.CommandFailed, events.CommandExpired, "bogus"} {
		r.bus.Publish(events.Event{Kind: events.CommandExecution, Sink: "hook", To: st, ItemID: "99", AlertID: "7",
			Exited: st == events.CommandCompleted, DurationMS: 5})
	}
	r.bus.Publish(events.Event{Kind: events.Delivered, Source: "plc", Sink: "a", EventID: "E2", Key: "k2"})
	r.bus.Publish(events.Event{Kind: events.Stopping, Reason: "signal: terminated", Queued: 3})
	ms := r.broker.waitN(t, 10)
	got := map[string]bool{}
	for _, m := range ms {
		decode(t, m)
		got[m.Type] = true
	}
	for _, et := range Catalogue {
		if et.Type == TypeNodeVersionChanged {
			continue // TestStartAfterAnUpgrade
		}
		require.True(t, got[et.Type], "%s was never emitted", et.Type)
	}
	require.Len(t, ms, 10)
	require.NotContains(t, r.logs.String(), "level=ERROR")
	byType := map[string]contract.Message{}
	for _, m := range ms {
		byType[m.Type] = m
	}
	cmd := decode(t, byType[TypeCommandCreated])
	require.Equal(t, map[string]any{"item_id": "99", "alert_id": "7", "exit_code": nil, "duration_ms": 5.0}, cmd["data"])
	require.Equal(t, 0.0, decode(t, byType[TypeCommandCompleted])["data"].(map[string]any)["exit_code"], "completed has its exit status")
	require.Equal(t, contract.TopicCommands, byType[TypeCommandCompleted].Topic)
	// OnAnnounced runs once the publish of the start's batch has returned, which can
	// be after the broker has recorded every message.
	require.Eventually(t, func() bool { return r.announced.Load() == 1 }, 5*time.Second, time.Millisecond)
	require.Never(t, func() bool { return r.announced.Load() > 1 }, 20*time.Millisecond, time.Millisecond)
}

// TestRelayedIsOptIn: without alert_relayed, deliveries publish nothing (and the
// publisher does not even subscribe to them).
func TestRelayedIsOptIn(t *testing.T) {
	r := newRig(t, Config{}, Node{ID: "N1"})
	require.False(t, r.bus.Wants(events.Delivered))
	r.bus.Publish(events.Event{Kind: events.Delivered, Source: "plc", Sink: "a", EventID: "E2"})
	r.bus.Publish(events.Event{Kind: events.Stopping, Reason: "x"})
	require.Equal(t, []string{TypeNodeStopping}, types(r.broker.waitN(t, 1)))
}

// TestBrokerDown: while the broker is unreachable the condition is degraded (with
// the error, once), events wait in the bounded buffer and the oldest are dropped
// and counted; connection attempts back off; when the broker is back the
// condition clears and the kept events arrive in order.
func TestBrokerDown(t *testing.T) {
	r := newRig(t, Config{Buffer: 8}, Node{ID: "N1"})
	r.broker.setDown(true)
	r.bus.Publish(events.Event{Kind: events.Stopping, Reason: "first"}) // taken, waits for the broker
	_, ok := r.clk.WaitNext(10 * time.Second)
	require.True(t, ok, "a backoff timer")
	degraded, detail := r.health.state()
	require.True(t, degraded)
	require.Contains(t, detail, "connection refused")
	for i := range 20 {
		r.bus.Publish(events.Event{Kind: events.DeadLettered, Sink: "s", EventID: string(rune('a' + i)), Reason: "r"})
	}
	// Backoff: each wait at most double the last, capped.
	var last time.Duration
	for range 8 {
		when, ok := r.clk.WaitNext(10 * time.Second)
		require.True(t, ok)
		wait := when.Sub(r.clk.Now())
		require.LessOrEqual(t, wait, BackoffMax)
		if last > 0 {
			require.LessOrEqual(t, wait, 4*last+time.Millisecond, "jittered doubling")
		}
		last = wait
		r.clk.AdvanceTo(when)
	}
	require.GreaterOrEqual(t, last, BackoffMax/4, "the wait grew")
	st := r.pub.Stats()
	require.Equal(t, uint64(12), st.Dropped, "20 waiting in a buffer of 8: the 12 oldest went")
	require.False(t, st.Connected)
	require.Positive(t, st.Failed)

	r.broker.setDown(false)
	when, _ := r.clk.WaitNext(10 * time.Second)
	r.clk.AdvanceTo(when)
	ms := r.broker.waitN(t, 9)
	require.Equal(t, TypeNodeStopping, ms[0].Type, "the event in hand first")
	var ids []string
	for _, m := range ms[1:] {
		ids = append(ids, decode(t, m)["data"].(map[string]any)["event_id"].(string))
	}
	require.Equal(t, []string{"m", "n", "o", "p", "q", "r", "s", "t"}, ids, "the newest 8, in order")
	require.Eventually(t, func() bool { d, _ := r.health.state(); return !d }, 10*time.Second, time.Millisecond)
	st = r.pub.Stats()
	require.True(t, st.Connected)
	require.Equal(t, uint64(9), st.Published[TypeNodeStopping]+st.Published[TypeDeliveryDeadLettered])
	require.Equal(t, 1, countLines(r.logs.String(), "lifecycle broker unreachable"), "one warning for the outage")
}

func countLines(s, sub string) int {
	n := 0
	for _, l := range bytes.Split([]byte(s), []byte("\n")) {
		if bytes.Contains(l, []byte(sub)) {
			n++
		}
	}
	return n
}

// TestShutdownFlush: at shutdown what is buffered is published (edge.node.stopping
// last), and Run closes the adapter; with the broker unreachable Run still returns
// (after at most stop_flush) and counts what it could not publish as dropped.
func TestShutdownFlush(t *testing.T) {
	r := newRig(t, Config{}, Node{ID: "N1"})
	r.bus.Publish(events.Event{Kind: events.DeadLettered, Sink: "s", EventID: "e", Reason: "r"})
	r.bus.Publish(events.Event{Kind: events.Stopping, Reason: "signal: terminated", Queued: 2})
	r.stop()
	require.ElementsMatch(t, []string{TypeDeliveryDeadLettered, TypeNodeStopping}, types(r.broker.messages()))
	require.Equal(t, 1, r.broker.closed)

	d := newRig(t, Config{StopFlush: 100 * time.Millisecond}, Node{ID: "N1"})
	d.broker.setDown(true)
	d.bus.Publish(events.Event{Kind: events.DeadLettered, Sink: "s", EventID: "e", Reason: "r"})
	_, ok := d.clk.WaitNext(10 * time.Second) // in the backoff
	require.True(t, ok)
	d.bus.Publish(events.Event{Kind: events.Stopping, Reason: "signal: terminated"})
	d.stop()
	st := d.pub.Stats()
	require.Equal(t, uint64(2), st.Dropped)
	require.Empty(t, d.broker.messages())
	require.Equal(t, 1, d.broker.closed)
}

// batchBroker is a memBroker that also takes batches, recording their sizes.
type batchBroker struct {
	*memBroker
	sizes []int
}

func (b *batchBroker) PublishBatch(ctx context.Context, ms []contract.Message) error {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(ms))
	b.mu.Unlock()
	for _, m := range ms {
		if err := b.Publish(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// TestBatches: events that waited in the buffer (here: while the broker was away)
// go to a BatchPublisher together, at most MaxBatch at a time, in order; a failed
// batch is published again whole.
func TestBatches(t *testing.T) {
	clk := clocktest.NewFake(ExampleTime)
	bus := events.New(clk.Now)
	br := &batchBroker{memBroker: newMemBroker()}
	br.setDown(true)
	pub := New(Options{Config: Config{Adapter: "mem", CoreName: "c", Buffer: 400, StopFlush: time.Second},
		Publisher: br, Bus: bus, Clock: clk})
	pub.SetNode(Node{ID: "N"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pub.Run(ctx) }()
	defer func() { cancel(); <-done }()
	bus.Publish(events.Event{Kind: events.DeadLettered, Sink: "s", EventID: "first", Reason: "r"})
	_, ok := clk.WaitNext(10 * time.Second)
	require.True(t, ok)
	for i := range 300 {
		bus.Publish(events.Event{Kind: events.DeadLettered, Sink: "s", EventID: fmt.Sprint(i), Reason: "r"})
	}
	br.setDown(false)
	when, _ := clk.WaitNext(10 * time.Second)
	clk.AdvanceTo(when)
	ms := br.waitN(t, 301)
	require.Equal(t, "first", decode(t, ms[0])["data"].(map[string]any)["event_id"])
	for i, m := range ms[1:] {
		require.Equal(t, fmt.Sprint(i), decode(t, m)["data"].(map[string]any)["event_id"], "in order")
	}
	br.mu.Lock()
	defer br.mu.Unlock()
	require.Greater(t, len(br.sizes), 1)
	total := 0
	for _, n := range br.sizes {
		require.LessOrEqual(t, n, MaxBatch)
		total += n
	}
	require.Equal(t, 300, total, "all but the first, which waited alone for the broker")
	require.Equal(t, MaxBatch, slices.Max(br.sizes), "the waiting events went in full batches")
}

// refusingBroker refuses every message of one type, permanently or not.
type refusingBroker struct {
	*memBroker
	typ       string
	permanent bool
	refused   atomic.Int32
}

func (b *refusingBroker) Publish(ctx context.Context, m contract.Message) error {
	if m.Type == b.typ {
		b.refused.Add(1)
		err := errors.New("404 Not Found: topic edge-commands-events does not exist")
		if b.permanent {
			return adapters.Permanent(err)
		}
		return err
	}
	return b.memBroker.Publish(ctx, m)
}

// TestRefusedMessageIsDropped: a message the broker refuses while it is reachable
// (a topic that does not exist) is dropped and counted, at once when the error is
// permanent and after MaxAttempts otherwise; the messages after it go out.
func TestRefusedMessageIsDropped(t *testing.T) {
	for _, permanent := range []bool{true, false} {
		t.Run(fmt.Sprint("permanent=", permanent), func(t *testing.T) {
			clk := clocktest.NewFake(ExampleTime)
			bus := events.New(clk.Now)
			br := &refusingBroker{memBroker: newMemBroker(), typ: TypeCommandCreated, permanent: permanent}
			pub := New(Options{Config: Config{Adapter: "mem", CoreName: "c", Buffer: 64, StopFlush: time.Second},
				Publisher: br, Bus: bus, Clock: clk})
			pub.SetNode(Node{ID: "N"})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- pub.Run(ctx) }()
			defer func() { cancel(); <-done }()
			bus.Publish(events.Event{Kind: events.CommandExecution, To: events.CommandCreated, ItemID: "1"})
			for i := range 5 {
				bus.Publish(events.Event{Kind: events.DeadLettered, Sink: "s", EventID: fmt.Sprint(i), Reason: "r"})
			}
			// Not permanent: each failed attempt waits out a backoff.
			go func() {
				for ctx.Err() == nil {
					if when, ok := clk.WaitNext(50 * time.Millisecond); ok {
						clk.AdvanceTo(when)
					}
				}
			}()
			ms := br.waitN(t, 5)
			require.Equal(t, []string{TypeDeliveryDeadLettered, TypeDeliveryDeadLettered, TypeDeliveryDeadLettered,
				TypeDeliveryDeadLettered, TypeDeliveryDeadLettered}, types(ms))
			want := int32(MaxAttempts)
			if permanent {
				want = 1
			}
			require.Equal(t, want, br.refused.Load())
			require.Equal(t, uint64(1), pub.Stats().Dropped)
		})
	}
}

// TestStartAndStopSurviveABurst: edge.node.started and edge.node.stopping do not
// wait in the ring: a burst of edge.alert.relayed far over the buffer around
// them, with the broker away, pushes relayed events out, never those two; and
// started still carries the configured names.
func TestStartAndStopSurviveABurst(t *testing.T) {
	r := newRig(t, Config{AlertRelayed: true, Buffer: 4}, Node{ID: "N1"})
	r.broker.setDown(true)
	r.bus.Publish(events.Event{Kind: events.Started, Version: "1.4.0", Sources: []string{"plc"}, Sinks: []string{"hook"}})
	for i := range 200 {
		r.bus.Publish(events.Event{Kind: events.Delivered, Source: "plc", Sink: "hook", EventID: fmt.Sprint(i)})
	}
	r.bus.Publish(events.Event{Kind: events.Ready})
	for i := range 200 {
		r.bus.Publish(events.Event{Kind: events.Delivered, Source: "plc", Sink: "hook", EventID: fmt.Sprint(i)})
	}
	r.bus.Publish(events.Event{Kind: events.Stopping, Reason: "signal: terminated"})
	for i := range 200 {
		r.bus.Publish(events.Event{Kind: events.Delivered, Source: "plc", Sink: "hook", EventID: fmt.Sprint(i)})
	}
	r.broker.setDown(false)
	for range 3 {
		if when, ok := r.clk.WaitNext(time.Second); ok {
			r.clk.AdvanceTo(when)
		}
	}
	// The messages in hand when the broker came back (a batch) go first; the start's and the
	// stop's come right after it, ahead of what the ring still holds.
	require.Eventually(t, func() bool { return slices.Contains(types(r.broker.messages()), TypeNodeStopping) }, 10*time.Second, time.Millisecond)
	ms := r.broker.messages()
	i := slices.Index(types(ms), TypeNodeStarted)
	require.GreaterOrEqual(t, i, 0, "edge.node.started was published")
	require.LessOrEqual(t, i, MaxBatch, "right after the messages in hand")
	require.Equal(t, []any{"plc"}, decode(t, ms[i])["data"].(map[string]any)["sources"])
	require.Positive(t, r.pub.Stats().Dropped)
	require.Eventually(t, func() bool { return r.announced.Load() == 1 }, 5*time.Second, time.Millisecond,
		"announced once the start's batch is out")
}

// TestStatusBeforeReadyIsSummed: changes of the node's state before the sources
// subscribed (each source is "starting" at first; a quarantined store) are not
// published one by one: once ready, a node that is not ok says so in one
// edge.node.status_changed from ok, after edge.node.started; a node that is ok
// publishes none. The announcement callback runs once the start is out, and not at
// all when Ready never came.
func TestStatusBeforeReadyIsSummed(t *testing.T) {
	r := newRig(t, Config{}, Node{ID: "N1"})
	r.bus.Publish(events.Event{Kind: events.ReadinessChanged, Component: "store", Condition: "quarantined", To: events.StateDegraded,
		Reason: "moved aside: checksum mismatch", NodeFrom: events.NodeOK, NodeTo: events.NodeDegraded})
	r.bus.Publish(events.Event{Kind: events.ReadinessChanged, Component: "source:plc", Condition: "connected", To: events.StateCritical,
		Reason: "starting", NodeFrom: events.NodeDegraded, NodeTo: events.NodeNotReady})
	r.bus.Publish(events.Event{Kind: events.ReadinessChanged, Component: "source:plc", Condition: "connected", To: events.StateOK,
		NodeFrom: events.NodeNotReady, NodeTo: events.NodeDegraded})
	r.bus.Publish(events.Event{Kind: events.Started, Version: "1.4.0"})
	require.Never(t, func() bool { return len(r.broker.messages()) > 0 }, 50*time.Millisecond, time.Millisecond)
	require.Zero(t, r.announced.Load())
	r.bus.Publish(events.Event{Kind: events.Ready})
	ms := r.broker.waitN(t, 2)
	require.Equal(t, []string{TypeNodeStarted, TypeNodeStatusChanged}, types(ms))
	require.Equal(t, map[string]any{"from": "ok", "to": "degraded", "component": "store",
		"reason": "quarantined: moved aside: checksum mismatch"}, decode(t, ms[1])["data"])
	require.Eventually(t, func() bool { return r.announced.Load() == 1 }, 10*time.Second, time.Millisecond)
	// After the start, each change is published.
	r.bus.Publish(events.Event{Kind: events.ReadinessChanged, Component: "store", Condition: "quarantined", To: events.StateOK,
		NodeFrom: events.NodeDegraded, NodeTo: events.NodeOK})
	ms = r.broker.waitN(t, 3)
	require.Equal(t, map[string]any{"from": "degraded", "to": "ok", "component": "store", "reason": "quarantined"}, decode(t, ms[2])["data"])

	ok := newRig(t, Config{}, Node{ID: "N2"})
	ok.bus.Publish(events.Event{Kind: events.ReadinessChanged, Component: "source:plc", Condition: "connected", To: events.StateCritical,
		Reason: "starting", NodeFrom: events.NodeOK, NodeTo: events.NodeNotReady})
	ok.bus.Publish(events.Event{Kind: events.ReadinessChanged, Component: "source:plc", Condition: "connected", To: events.StateOK,
		NodeFrom: events.NodeNotReady, NodeTo: events.NodeOK})
	ok.bus.Publish(events.Event{Kind: events.Ready})
	require.Equal(t, []string{TypeNodeStarted}, types(ok.broker.waitN(t, 1)))
	require.Never(t, func() bool { return len(ok.broker.messages()) > 1 }, 50*time.Millisecond, time.Millisecond)

	never := newRig(t, Config{}, Node{ID: "N3", Registered: true})
	never.bus.Publish(events.Event{Kind: events.Started, Version: "1.4.0"})
	never.bus.Publish(events.Event{Kind: events.Stopping, Reason: "signal: terminated"})
	require.Equal(t, []string{TypeNodeStopping}, types(never.broker.waitN(t, 1)))
	never.stop()
	require.Zero(t, never.announced.Load(), "a start that never became ready announces itself again next time")
}
