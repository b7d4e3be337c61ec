package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testLog(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startBroker starts an embedded broker on 127.0.0.1:0 with a packet recorder.
func startBroker(t *testing.T, mutate func(*Config)) (*Broker, *recorder) {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", Enabled: EnabledTrue}
	if mutate != nil {
		mutate(&cfg)
	}
	b, err := New(cfg, testLog(t))
	require.NoError(t, err)
	rec := &recorder{published: map[string][]uint16{}, acked: map[string][]uint16{}}
	require.NoError(t, b.addHook(rec))
	require.NoError(t, b.Start())
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b, rec
}

// recorder records, per client, the ids of the QoS 1 PUBLISH packets the broker read
// and of the PUBACK packets it wrote, and in one ordered log every acknowledgement
// (PUBACK, PUBREC) with the test's own steps (mark), so that a test can check that
// nothing was acknowledged before a step without watching for a while.
type recorder struct {
	mochi.HookBase
	mu        sync.Mutex
	published map[string][]uint16 // guarded by mu
	acked     map[string][]uint16 // guarded by mu
	log       []string            // guarded by mu: "ack <client>" and marks, in order
}

func (r *recorder) ID() string { return "test-recorder" }
func (r *recorder) Provides(b byte) bool {
	return b == mochi.OnPacketRead || b == mochi.OnPacketSent
}
func (r *recorder) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Qos == 1 {
		r.mu.Lock()
		r.published[cl.ID] = append(r.published[cl.ID], pk.PacketID)
		r.mu.Unlock()
	}
	return pk, nil
}
func (r *recorder) OnPacketSent(cl *mochi.Client, pk packets.Packet, _ []byte) {
	switch pk.FixedHeader.Type {
	case packets.Puback, packets.Pubrec:
		r.mu.Lock()
		if pk.FixedHeader.Type == packets.Puback {
			r.acked[cl.ID] = append(r.acked[cl.ID], pk.PacketID)
		}
		r.log = append(r.log, "ack "+cl.ID)
		r.mu.Unlock()
	}
}

// mark records a step of the test in the log.
func (r *recorder) mark(step string) {
	r.mu.Lock()
	r.log = append(r.log, step)
	r.mu.Unlock()
}

// acksBefore returns how many acknowledgements the broker wrote to client id
// before step was marked.
func (r *recorder) acksBefore(id, step string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.log {
		if l == step {
			return n
		}
		if l == "ack "+id {
			n++
		}
	}
	panic("step " + step + " was never marked")
}
func (r *recorder) get(id string) (published, acked []uint16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.published[id]), slices.Clone(r.acked[id])
}

// client connects a paho client (persistent session, quick reconnects) to b.
func client(t *testing.T, b *Broker, id string, onMsg paho.MessageHandler) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID(id).
		SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).
		SetConnectTimeout(5 * time.Second).SetOrderMatters(true)
	if onMsg != nil {
		o.SetDefaultPublishHandler(onMsg)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// subscriber connects a client subscribed to filter and returns its messages.
func subscriber(t *testing.T, b *Broker, filter string) <-chan paho.Message {
	t.Helper()
	ch := make(chan paho.Message, 100)
	c := client(t, b, "sub-"+strings.ReplaceAll(t.Name(), "/", "-"), func(_ paho.Client, m paho.Message) { ch <- m })
	tok := c.Subscribe(filter, 1, nil)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	return ch
}

// held is an event whose done callback the test calls.
type held struct {
	e    *adapters.Event
	done func(error)
}

// holdPublisher hands every Publish to the test on a channel.
type holdPublisher chan held

// The test's done(nil) settles the event Stored, done(err) refuses it.
func (p holdPublisher) Publish(ctx context.Context, e *adapters.Event, done func(adapters.Settlement)) error {
	settle := func(err error) {
		if err != nil {
			done(adapters.Refuse(err))
			return
		}
		done(adapters.Settled(adapters.Stored, ""))
	}
	select {
	case p <- held{e, settle}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p holdPublisher) next(t *testing.T) held {
	t.Helper()
	select {
	case h := <-p:
		return h
	case <-time.After(10 * time.Second):
		t.Fatal("no event published within 10s")
		return held{}
	}
}

// run runs src until the test ends.
func run(t *testing.T, src adapters.Source, pub adapters.Publisher) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	// The Run goroutine exits when stop cancels ctx.
	go func() { errc <- src.Run(ctx, pub) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitRunning waits until src's Run has attached.
func waitRunning(t *testing.T, b *Broker) {
	t.Helper()
	require.Eventually(t, func() bool {
		b.bridge.mu.Lock()
		defer b.bridge.mu.Unlock()
		for _, a := range b.bridge.atts {
			if a.run == nil {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond)
}

func msgOf(t *testing.T, ch <-chan paho.Message) paho.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return nil
	}
}

// TestPubackOnlyAfterDone: the publisher's QoS 1 token completes only once the relay
// accepted the event, and subscribers get the message (retained) then.
func TestPubackOnlyAfterDone(t *testing.T) {
	b, rec := startBroker(t, nil)
	pub := make(holdPublisher, 10)
	run(t, b.Source("plant", []string{"plant/+/alarm"}, "id", "alert"), pub)
	waitRunning(t, b)
	subs := subscriber(t, b, "plant/#")

	c := client(t, b, "device-1", nil)
	tok := c.Publish("plant/p1/alarm", 1, true, `{"id":"A-7"}`)
	h := pub.next(t)
	require.Equal(t, "plant/p1/alarm", h.e.Topic)
	require.Equal(t, "A-7", h.e.Key)
	require.Equal(t, "plant", h.e.Source)
	require.Equal(t, adapters.KindAlert, h.e.Kind)
	require.Equal(t, map[string]string{"mqtt.qos": "1", "mqtt.retained": "true", "mqtt.client_id": "device-1"}, h.e.Attrs)

	select {
	case m := <-subs:
		t.Fatalf("message %q distributed before the relay accepted it", m.Payload())
	default:
	}
	rec.mark("done")
	h.done(nil)
	require.True(t, tok.WaitTimeout(10*time.Second), "no PUBACK after done(nil)")
	require.NoError(t, tok.Error())
	require.Eventually(t, func() bool { _, acked := rec.get("device-1"); return len(acked) == 1 },
		10*time.Second, time.Millisecond)
	require.Zero(t, rec.acksBefore("device-1", "done"), "PUBACK before the relay accepted the event")
	m := msgOf(t, subs)
	require.Equal(t, `{"id":"A-7"}`, string(m.Payload()))

	// The retained flag survived the detour: a new subscriber gets the message.
	late := make(chan paho.Message, 1)
	lc := client(t, b, "late", func(_ paho.Client, m paho.Message) { late <- m })
	require.True(t, lc.Subscribe("plant/#", 1, nil).WaitTimeout(10*time.Second))
	m = msgOf(t, late)
	require.True(t, m.Retained())
	require.Equal(t, `{"id":"A-7"}`, string(m.Payload()))
}

// TestRefusedMessageIsResent: done(err) leaves the message unacknowledged and
// disconnects the client, which resends it; the second delivery is accepted.
// (paho completes the original publish token when it resends after a reconnect, so
// the broker's own record of PUBACKs is what the test checks.)
func TestRefusedMessageIsResent(t *testing.T) {
	b, rec := startBroker(t, nil)
	pub := make(holdPublisher, 10)
	run(t, b.Source("s", []string{"relay/#"}, "", ""), pub)
	waitRunning(t, b)

	c := client(t, b, "device-2", nil)
	c.Publish("relay/x", 1, false, "payload")
	h := pub.next(t)
	h.done(errors.New("store full"))
	h2 := pub.next(t)
	require.Equal(t, "payload", string(h2.e.Payload))
	require.Equal(t, "true", h2.e.Attrs["mqtt.duplicate"], "the client resent it")
	_, acked := rec.get("device-2")
	require.Empty(t, acked)
	h2.done(nil)
	require.Eventually(t, func() bool { _, acked := rec.get("device-2"); return len(acked) == 1 },
		10*time.Second, time.Millisecond, "no PUBACK after the accepted resend")
}

// TestRefusalKeepsEarlierAcks: a refused message in the middle lets the messages
// before it be acknowledged, holds everything after it, and after the client's
// resend every message is acknowledged.
func TestRefusalKeepsEarlierAcks(t *testing.T) {
	b, rec := startBroker(t, nil)
	pub := make(holdPublisher, 10)
	run(t, b.Source("s", []string{"relay/#"}, "", ""), pub)
	waitRunning(t, b)

	c := client(t, b, "device-9", nil)
	for i := range 3 {
		c.Publish("relay/x", 1, false, fmt.Sprintf("m-%d", i))
	}
	hs := []held{pub.next(t), pub.next(t), pub.next(t)}
	hs[2].done(nil)
	hs[1].done(errors.New("store full"))
	rec.mark("m-0 done")
	hs[0].done(nil)
	require.Eventually(t, func() bool { _, acked := rec.get("device-9"); return len(acked) == 1 },
		10*time.Second, time.Millisecond, "m-0 acknowledged")
	require.Zero(t, rec.acksBefore("device-9", "m-0 done"), "m-0 was pending: nothing may be acknowledged")
	published, acked := rec.get("device-9")
	require.Equal(t, published[:1], acked, "the one PUBACK is m-0's")

	// The client was disconnected and resends m-1 and m-2 (in its store's order).
	got := map[string]bool{}
	for range 2 {
		h := pub.next(t)
		require.Equal(t, "true", h.e.Attrs["mqtt.duplicate"])
		got[string(h.e.Payload)] = true
		h.done(nil)
	}
	require.Equal(t, map[string]bool{"m-1": true, "m-2": true}, got)
	require.Eventually(t, func() bool { _, acked := rec.get("device-9"); return len(acked) == 3 },
		10*time.Second, time.Millisecond)
	published, acked = rec.get("device-9")
	require.ElementsMatch(t, []uint16{published[0], published[1], published[2]}, acked)
}

// TestOtherTopicsPassThrough: messages outside the filters are delivered to
// subscribers as usual, without the relay.
func TestOtherTopicsPassThrough(t *testing.T) {
	b, _ := startBroker(t, nil)
	pub := make(holdPublisher, 10)
	run(t, b.Source("s", []string{"relay/#"}, "", ""), pub)
	waitRunning(t, b)
	subs := subscriber(t, b, "other/#")

	c := client(t, b, "device-3", nil)
	for _, q := range []byte{0, 1, 2} {
		tok := c.Publish("other/x", q, false, fmt.Sprintf("q%d", q))
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
		require.Equal(t, fmt.Sprintf("q%d", q), string(msgOf(t, subs).Payload()))
	}
	select {
	case h := <-pub:
		t.Fatalf("relay got %q", h.e.Topic)
	default:
	}
}

// TestAcksInOrder: done callbacks in reverse order still give PUBACKs in the order
// the PUBLISH packets arrived, interleaved non-matching QoS 1 messages included, and
// every publish completes.
func TestAcksInOrder(t *testing.T) {
	b, rec := startBroker(t, nil)
	pub := make(holdPublisher, 100)
	run(t, b.Source("s", []string{"relay/#"}, "", ""), pub)
	waitRunning(t, b)
	subs := subscriber(t, b, "#")

	c := client(t, b, "device-4", nil)
	var toks []paho.Token
	var want []string
	for i := range 10 {
		topic := "relay/x"
		if i%3 == 2 {
			topic = "other/x" // not for the relay, but its PUBACK must keep its place
		}
		p := fmt.Sprintf("m-%02d", i)
		want = append(want, p)
		toks = append(toks, c.Publish(topic, 1, false, p))
	}
	var hs []held
	for range 7 {
		hs = append(hs, pub.next(t))
	}
	rec.mark("dones")
	for _, h := range slices.Backward(hs) {
		h.done(nil)
	}
	for i, tok := range toks {
		require.True(t, tok.WaitTimeout(10*time.Second), "publish %d never acknowledged", i)
		require.NoError(t, tok.Error())
	}
	// The hook records a PUBACK after writing it: the client may have it first.
	require.Eventually(t, func() bool { _, acked := rec.get("device-4"); return len(acked) == 10 },
		10*time.Second, time.Millisecond)
	published, acked := rec.get("device-4")
	require.Len(t, published, 10)
	require.Equal(t, published, acked, "PUBACKs in PUBLISH order")
	require.Zero(t, rec.acksBefore("device-4", "dones"), "a PUBACK before the relay accepted its event or one before it")
	var got []string
	for range want {
		got = append(got, string(msgOf(t, subs).Payload()))
	}
	require.Equal(t, want, got, "subscribers see the publisher's order")
}

// TestQoS2WaitsForDone: a QoS 2 publish completes only after done(nil).
func TestQoS2WaitsForDone(t *testing.T) {
	b, rec := startBroker(t, nil)
	pub := make(holdPublisher, 10)
	run(t, b.Source("s", []string{"$share/relays/relay/#"}, "", ""), pub) // the share prefix is ignored
	waitRunning(t, b)
	subs := subscriber(t, b, "relay/#")

	c := client(t, b, "device-5", nil)
	tok := c.Publish("relay/q2", 2, false, "two")
	h := pub.next(t)
	require.Equal(t, "2", h.e.Attrs["mqtt.qos"])
	rec.mark("done")
	h.done(nil)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	// Mochi records the PUBREC before it reads the PUBREL that completes the publish.
	require.Zero(t, rec.acksBefore("device-5", "done"), "PUBREC before the relay accepted the event")
	require.Equal(t, "two", string(msgOf(t, subs).Payload()))
}

// TestQoS2RefusedIsResent: a refused QoS 2 message gets no PUBREC and is not
// distributed; the client is disconnected, resends it, and the accepted resend is
// acknowledged and distributed once. The resend's event carries its own client's
// Attrs (mqtt.duplicate), not the first connection's.
func TestQoS2RefusedIsResent(t *testing.T) {
	b, rec := startBroker(t, nil)
	pub := make(holdPublisher, 10)
	run(t, b.Source("s", []string{"relay/#"}, "", ""), pub)
	waitRunning(t, b)
	subs := subscriber(t, b, "relay/#")

	c := client(t, b, "device-9", nil)
	tok := c.Publish("relay/q2", 2, false, "two")
	h := pub.next(t)
	require.Equal(t, map[string]string{"mqtt.qos": "2", "mqtt.client_id": "device-9"}, h.e.Attrs)
	rec.mark("refused")
	h.done(errors.New("store full"))
	h2 := pub.next(t)
	require.Equal(t, "two", string(h2.e.Payload))
	require.Equal(t, map[string]string{"mqtt.qos": "2", "mqtt.client_id": "device-9", "mqtt.duplicate": "true"}, h2.e.Attrs)
	rec.mark("resent")
	require.Zero(t, rec.acksBefore("device-9", "resent"), "PUBREC for the refused message")
	h2.done(nil)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	require.Equal(t, "two", string(msgOf(t, subs).Payload()))
	select {
	case m := <-subs:
		t.Fatalf("message %q distributed twice", m.Payload())
	default:
	}
}

// TestQoS0PassesThrough: QoS 0 goes to the relay and to subscribers at once.
func TestQoS0PassesThrough(t *testing.T) {
	b, _ := startBroker(t, nil)
	pub := make(holdPublisher, 10)
	run(t, b.Source("s", []string{"relay/#"}, "", ""), pub)
	waitRunning(t, b)
	subs := subscriber(t, b, "relay/#")
	c := client(t, b, "device-6", nil)
	require.True(t, c.Publish("relay/q0", 0, false, "zero").WaitTimeout(10*time.Second))
	require.Equal(t, "zero", string(msgOf(t, subs).Payload()))
	h := pub.next(t)
	require.Equal(t, "0", h.e.Attrs["mqtt.qos"])
	h.done(nil)
}

// TestNotAckedWhileSourceStopped: a matching QoS 1 message published before Run is
// not acknowledged; once Run starts, the client's resend is accepted.
func TestNotAckedWhileSourceStopped(t *testing.T) {
	b, rec := startBroker(t, nil)
	src := b.Source("s", []string{"relay/#"}, "", "")
	c := client(t, b, "device-7", nil)
	c.Publish("relay/early", 1, false, "early")
	require.Eventually(t, func() bool { p, _ := rec.get("device-7"); return len(p) >= 1 }, 10*time.Second, time.Millisecond)

	pub := make(holdPublisher, 10)
	stop := run(t, src, pub)
	h := pub.next(t)
	require.Equal(t, "early", string(h.e.Payload))
	rec.mark("early done")
	h.done(nil)
	require.Eventually(t, func() bool { _, acked := rec.get("device-7"); return len(acked) == 1 },
		10*time.Second, time.Millisecond)
	require.Zero(t, rec.acksBefore("device-7", "early done"), "acknowledged with no relay running")
	require.NoError(t, stop())

	// Stopped again: refused again. The client resends it (a duplicate) once the
	// source runs again, which it would not do had the first copy been acknowledged.
	c.Publish("relay/late", 1, false, "late")
	require.Eventually(t, func() bool { p, _ := rec.get("device-7"); return len(p) >= 2 }, 10*time.Second, time.Millisecond)
	run(t, src, pub)
	h = pub.next(t)
	require.Equal(t, "late", string(h.e.Payload))
	require.Equal(t, "true", h.e.Attrs["mqtt.duplicate"], "the refused copy was resent")
	rec.mark("late done")
	h.done(nil)
	require.Eventually(t, func() bool { _, acked := rec.get("device-7"); return len(acked) == 2 },
		10*time.Second, time.Millisecond)
	require.Equal(t, 1, rec.acksBefore("device-7", "late done"), "acknowledged while the source was stopped")
}

// TestRunReturnsOnBrokerClose: Run returns and Close completes while a
// client's publish is blocked on back-pressure.
func TestRunReturnsOnBrokerClose(t *testing.T) {
	b, err := New(Config{Listen: "127.0.0.1:0"}, testLog(t))
	require.NoError(t, err)
	require.NoError(t, b.Start())
	blocked := make(chan struct{}, 1)
	pub := adapters.PublisherFunc(func(ctx context.Context, _ *adapters.Event, _ func(adapters.Settlement)) error {
		blocked <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	errc := make(chan error, 1)
	src := b.Source("s", []string{"#"}, "", "")                // before waitRunning, which checks registered sources
	go func() { errc <- src.Run(context.Background(), pub) }() // ends when b closes
	waitRunning(t, b)
	c := client(t, b, "device-8", nil)
	c.Publish("a", 1, false, "x")
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay never got the message")
	}
	require.NoError(t, b.Close())
	select {
	case err := <-errc:
		require.ErrorContains(t, err, "closed")
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}

func TestStartOnTakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	addr := ln.Addr().String()
	require.True(t, AddrInUse(addr))

	b, err := New(Config{Listen: addr}, testLog(t))
	require.NoError(t, err)
	h := &healthRec{}
	b.SetHealth(h)
	err = b.Start()
	require.Error(t, err)
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	require.Contains(t, err.Error(), addr)
	require.Contains(t, err.Error(), "broker.listen")
	require.Contains(t, err.Error(), "broker.enabled: false")
	require.False(t, h.ok)
	require.NoError(t, b.Close())
}

func TestCloseReleasesPort(t *testing.T) {
	b, err := New(Config{Listen: "127.0.0.1:0"}, testLog(t))
	require.NoError(t, err)
	h := &healthRec{}
	b.SetHealth(h)
	require.NoError(t, b.Start())
	require.True(t, h.ok)
	addr := b.Addr()
	require.NotEqual(t, "127.0.0.1:0", addr)
	// Probe with Listen, not AddrInUse: a connection arriving while Mochi closes
	// trips a WaitGroup race inside Mochi (Add in the accept goroutine).
	_, err = net.Listen("tcp", addr)
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "Close twice")
	require.False(t, h.ok)
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "port released")
	require.NoError(t, ln.Close())
}

func TestInlinePublish(t *testing.T) {
	b, _ := startBroker(t, nil)
	pub := make(holdPublisher, 10)
	run(t, b.Source("s", []string{"out/#"}, "", ""), pub)
	waitRunning(t, b)
	subs := subscriber(t, b, "out/#")
	require.NoError(t, b.Publish("out/a", []byte("hello"), false, 1))
	require.Equal(t, "hello", string(msgOf(t, subs).Payload()))
	select {
	case h := <-pub:
		t.Fatalf("the relay's own publish came back to it: %q", h.e.Topic)
	default:
	}
	require.Error(t, b.Publish("out/+", nil, false, 0))
	require.Error(t, b.Publish("out/a", nil, false, 3))
}

func TestSourceBadFilters(t *testing.T) {
	b, err := New(Config{Listen: "127.0.0.1:0"}, testLog(t))
	require.NoError(t, err)
	defer b.Close()
	err = b.Source("s", []string{"a/#/b", "$share/g", "b/c+"}, "", "").Run(context.Background(), make(holdPublisher))
	require.ErrorContains(t, err, "last level")
	require.ErrorContains(t, err, "$share/<group>/<filter>")
	require.ErrorContains(t, err, "'+'")
	err = b.Source("s", nil, "", "").Run(context.Background(), make(holdPublisher))
	require.ErrorContains(t, err, "at least one")
}

func TestAuth(t *testing.T) {
	users := map[string]string{"dev": "secret"}
	cases := []struct {
		name, anonymous, remote, user, pass string
		want                                bool
	}{
		{"anonymous loopback", AnonymousLoopback, "127.0.0.1:5000", "", "", true},
		{"anonymous loopback v6", AnonymousLoopback, "[::1]:5000", "", "", true},
		{"anonymous remote", AnonymousLoopback, "192.0.2.1:5000", "", "", false},
		{"anonymous always", AnonymousAlways, "192.0.2.1:5000", "", "", true},
		{"anonymous never", AnonymousNever, "127.0.0.1:5000", "", "", false},
		{"user ok", AnonymousNever, "192.0.2.1:5000", "dev", "secret", true},
		{"user bad password", AnonymousAlways, "127.0.0.1:5000", "dev", "nope", false},
		{"unknown user", AnonymousAlways, "127.0.0.1:5000", "who", "secret", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &authHook{anonymous: tc.anonymous, users: users}
			cl := &mochi.Client{}
			cl.Net.Remote = tc.remote
			var pk packets.Packet
			pk.Connect.Username, pk.Connect.Password = []byte(tc.user), []byte(tc.pass)
			pk.Connect.UsernameFlag, pk.Connect.PasswordFlag = tc.user != "", tc.pass != ""
			require.Equal(t, tc.want, h.OnConnectAuthenticate(cl, pk))
		})
	}
}

// TestUsersLogin: a configured account logs in over the network; a wrong password
// is refused.
func TestUsersLogin(t *testing.T) {
	b, _ := startBroker(t, func(c *Config) {
		c.Anonymous = AnonymousNever
		c.Users = []User{{Username: "dev", Password: "secret"}}
	})
	connect := func(user, pass string) error {
		o := paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("u-" + user + pass).
			SetUsername(user).SetPassword(pass).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
		c := paho.NewClient(o)
		tok := c.Connect()
		require.True(t, tok.WaitTimeout(10*time.Second))
		if tok.Error() == nil {
			c.Disconnect(100)
		}
		return tok.Error()
	}
	require.NoError(t, connect("dev", "secret"))
	require.Error(t, connect("dev", "wrong"))
	require.Error(t, connect("", ""))
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"zero", Config{}, nil},
		{"full", Config{Enabled: "true", Listen: "0.0.0.0:1884", MaxMessageBytes: 1 << 20, Anonymous: "never",
			Users: []User{{"a", "b"}}}, nil},
		{"localhost", Config{Listen: "localhost:1883"}, nil},
		{"any host", Config{Listen: ":1883"}, nil},
		{"enabled", Config{Enabled: "yes"}, []string{"enabled:"}},
		{"listen no port", Config{Listen: "127.0.0.1"}, []string{"listen:"}},
		{"listen bad port", Config{Listen: "127.0.0.1:x"}, []string{"listen:", "bad port"}},
		{"listen hostname", Config{Listen: "broker.example.org:1883"}, []string{"listen:", "IP address"}},
		{"max negative", Config{MaxMessageBytes: -1}, []string{"max_message_bytes:"}},
		{"anonymous", Config{Anonymous: "sometimes"}, []string{"anonymous:"}},
		{"never without users", Config{Anonymous: "never"}, []string{"anonymous: never"}},
		{"user fields", Config{Users: []User{{}}}, []string{"users[0].username", "users[0].password"}},
		{"user twice", Config{Users: []User{{"a", "b"}, {"a", "c"}}}, []string{"users[1].username", "twice"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestWanted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	taken := ln.Addr().String()
	require.False(t, Config{Enabled: "auto", Listen: taken}.Wanted())
	require.True(t, Config{Enabled: "true", Listen: taken}.Wanted())
	require.False(t, Config{Enabled: "false"}.Wanted())
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	freeAddr := free.Addr().String()
	require.NoError(t, free.Close())
	require.True(t, Config{Listen: freeAddr}.Wanted())
}

type healthRec struct {
	mu     sync.Mutex
	ok     bool   // guarded by mu
	detail string // guarded by mu
}

// SetDegraded records like Set: the broker reports no degraded condition.
func (h *healthRec) SetDegraded(c string, ok bool, detail string) { h.Set(c, ok, detail) }

func (h *healthRec) Set(c string, ok bool, detail string) {
	if c != "listening" {
		return
	}
	h.mu.Lock()
	h.ok, h.detail = ok, detail
	h.mu.Unlock()
}

// TestEarlyPublishWaitsForStart: a client that publishes after the broker listens but
// before the relay source has attached (the daemon is still starting) is held, not
// refused, and its message is relayed and acknowledged once the source runs.
func TestEarlyPublishWaitsForStart(t *testing.T) {
	b, rec := startBroker(t, nil)
	src := b.Source("early", []string{"early/#"}, "", "")
	c := client(t, b, "device-early", nil)
	tok := c.Publish("early/x", 1, false, "first")
	pub := make(holdPublisher, 10)
	run(t, src, pub)
	h := pub.next(t)
	require.Equal(t, "first", string(h.e.Payload))
	require.Empty(t, h.e.Attrs["mqtt.duplicate"], "held, not refused and resent")
	rec.mark("done")
	h.done(nil)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	require.Eventually(t, func() bool {
		_, acked := rec.get("device-early")
		return len(acked) == 1
	}, 10*time.Second, 5*time.Millisecond, "one PUBACK, sent once the relay had the event")
	require.Zero(t, rec.acksBefore("device-early", "done"), "acknowledged before the relay ran")
}
