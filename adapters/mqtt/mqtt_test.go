package mqtt

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/keypath"
)

func TestMain(m *testing.M) {
	// A sink Send that raced a lost connection returns at once, but the goroutine
	// it handed paho's Publish to waits out paho's write timeout (ack_timeout)
	// first, by design (see Sink.Send): bounded, and not a leak.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/edgerelay/edgerelay/adapters/mqtt.(*Sink).Send.func1"))
}

func TestRegistered(t *testing.T) {
	f, ok := adapters.Lookup(adapters.DirSource, "mqtt")
	require.True(t, ok)
	cfg, ok := f.NewConfig().(*Config)
	require.True(t, ok)
	require.Equal(t, DefaultConfig(), *cfg)
	require.NotEmpty(t, f.Sample)
}

// TestSourceDeliversInOrder: QoS 1 messages reach the Publisher once each, in the
// order they were published, with the event fields filled in.
func TestSourceDeliversInOrder(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		h := newHarness(t, b, nil)
		pub := &recPublisher{}
		runSource(t, h.New(t), pub)
		h.health.waitHealth(t, "subscriptions_ready", true)
		require.True(t, h.health.get("connected").ok)

		want := payloads(50)
		for _, p := range want {
			h.Inject(t, []byte(p))
		}
		pub.waitAccepted(t, want)
		events, _ := pub.snapshot()
		require.Equal(t, want, payloadsOf(events), "published once each, in order")
		e := events[0]
		require.Equal(t, h.topic, e.Topic)
		require.Equal(t, h.topic, e.Key)
		require.Equal(t, "test-src", e.Source)
		require.Equal(t, adapters.KindRaw, e.Kind)
		require.Equal(t, map[string]string{"mqtt.qos": "1"}, e.Attrs)
		require.NotEmpty(t, e.ID)
		require.False(t, e.Received.IsZero())
	})
}

// TestSourceRedeliversRefusedMessage: a message whose first delivery the daemon
// refuses is not acknowledged; the source reconnects, the broker redelivers it from
// the persistent session and nothing is lost.
func TestSourceRedeliversRefusedMessage(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		h := newHarness(t, b, nil)
		var mu sync.Mutex
		seen := map[string]int{}
		pub := &recPublisher{complete: func(e *adapters.Event, done func(error)) {
			mu.Lock()
			seen[string(e.Payload)]++
			n := seen[string(e.Payload)]
			mu.Unlock()
			if string(e.Payload) == "m-005" && n == 1 {
				done(errors.New("store full"))
				return
			}
			done(nil)
		}}
		runSource(t, h.New(t), pub)
		h.health.waitHealth(t, "subscriptions_ready", true)

		want := payloads(20)
		for _, p := range want {
			h.Inject(t, []byte(p))
		}
		pub.waitAccepted(t, want)
		mu.Lock()
		require.GreaterOrEqual(t, seen["m-005"], 2, "the refused message was redelivered")
		mu.Unlock()

		if !b.mosquitto {
			return // Mochi resends a resumed session's messages in no particular order
		}
		// Per topic (the key), the last delivery of each message keeps publish order.
		events, _ := pub.snapshot()
		last := map[string]int{}
		for i, e := range events {
			last[string(e.Payload)] = i
		}
		for i := 1; i < len(want); i++ {
			require.Less(t, last[want[i-1]], last[want[i]], "final deliveries out of order at %s", want[i])
		}
	})
}

// TestSourceAcksInOrder: when done callbacks come back in reverse order per batch,
// the acknowledgements still leave in arrival order, every message is acknowledged,
// and a restarted source with the same client id gets nothing redelivered.
func TestSourceAcksInOrder(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		const batch = 5
		h := newHarness(t, b, nil)
		var mu sync.Mutex
		var pending []func(error)
		pub := &recPublisher{complete: func(_ *adapters.Event, done func(error)) {
			mu.Lock()
			pending = append(pending, done)
			var run []func(error)
			if len(pending) == batch {
				run, pending = pending, nil
			}
			mu.Unlock()
			for _, d := range slices.Backward(run) {
				d(nil)
			}
		}}
		stop := runSource(t, h.New(t), pub)
		h.health.waitHealth(t, "subscriptions_ready", true)

		want := payloads(4 * batch)
		for _, p := range want {
			h.Inject(t, []byte(p))
		}
		pub.waitAccepted(t, want)
		events, _ := pub.snapshot()
		require.Equal(t, want, payloadsOf(events))

		if b.rec != nil {
			// The broker saw a PUBACK for every PUBLISH, in the order it sent them.
			require.Eventually(t, func() bool {
				sent, acked := b.rec.get(h.cfg.ClientID)
				return len(sent) == len(want) && slices.Equal(sent, acked)
			}, 10*time.Second, 5*time.Millisecond)
		}
		require.NoError(t, stop())

		// Same client id again: the broker must have nothing left to redeliver, so the
		// first event the new source sees is the sentinel published after it subscribed.
		pub2 := &recPublisher{}
		h.health = newHealthRec()
		runSource(t, h.New(t), pub2)
		h.health.waitHealth(t, "subscriptions_ready", true)
		h.Inject(t, []byte("sentinel"))
		pub2.waitAccepted(t, []string{"sentinel"})
		events2, _ := pub2.snapshot()
		require.Equal(t, []string{"sentinel"}, payloadsOf(events2), "nothing redelivered")
	})
}

// TestSourceResumesSession: messages published while the source is stopped are
// delivered when it comes back with the same client id.
func TestSourceResumesSession(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		h := newHarness(t, b, nil)
		pub := &recPublisher{}
		stop := runSource(t, h.New(t), pub)
		h.health.waitHealth(t, "subscriptions_ready", true)
		require.NoError(t, stop())

		want := payloads(5)
		for _, p := range want {
			h.Inject(t, []byte(p))
		}
		if b.rec != nil {
			b.rec.waitQueued(t, h.cfg.ClientID, len(want))
		}
		h.health = newHealthRec()
		runSource(t, h.New(t), pub)
		pub.waitAccepted(t, want)
		events, _ := pub.snapshot()
		if !b.mosquitto {
			// Mochi resends a resumed session's messages sorted by their creation
			// second only, so their order within a second is arbitrary.
			require.ElementsMatch(t, want, payloadsOf(events))
			return
		}
		require.Equal(t, want, payloadsOf(events))
	})
}

// TestSourceKeyPath: the ordering key comes from the JSON payload when key_path is
// set, and falls back to the topic.
func TestSourceKeyPath(t *testing.T) {
	b := startMochi(t, nil)
	h := newHarness(t, b, func(c *Config) { c.KeyPath = "alert.id"; c.Kind = adapters.KindAlert })
	pub := &recPublisher{}
	runSource(t, h.New(t), pub)
	h.health.waitHealth(t, "subscriptions_ready", true)
	h.Inject(t, []byte(`{"alert":{"id":"A-1"}}`))
	h.Inject(t, []byte(`not json`))
	h.InjectTo(t, h.topic+"/retained", []byte(`{"alert":{"id":7}}`), 0, true)
	pub.waitAccepted(t, []string{`{"alert":{"id":"A-1"}}`, `not json`, `{"alert":{"id":7}}`})
	events, _ := pub.snapshot()
	require.Equal(t, "A-1", events[0].Key)
	require.Equal(t, adapters.KindAlert, events[0].Kind)
	require.Equal(t, h.topic, events[1].Key)
	require.Equal(t, "7", events[2].Key)
	require.Equal(t, "0", events[2].Attrs["mqtt.qos"])
}

func TestEventKey(t *testing.T) {
	cases := []struct {
		name, path, payload, want string
	}{
		{"no path", "", `{"id":"x"}`, "topic"},
		{"string", "id", `{"id":"x"}`, "x"},
		{"nested", "a.b", `{"a":{"b":"y"}}`, "y"},
		{"number", "n", `{"n":42}`, "42"},
		{"missing", "id", `{"other":1}`, "topic"},
		{"empty value", "id", `{"id":""}`, "topic"},
		{"not json", "id", `id=x`, "topic"},
		{"empty payload", "id", ``, "topic"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, keypath.Key(tc.path, "topic", []byte(tc.payload)))
		})
	}
}

// TestSourceSubscriptionRejected: a SUBACK failure code shows on the "subscriptions_ready"
// condition with the filter.
func TestSourceSubscriptionRejected(t *testing.T) {
	b := startMochi(t, func(topic string, write bool) bool { return write || topic != "forbidden/#" })
	h := newHarness(t, b, func(c *Config) { c.Topics = append(c.Topics, "forbidden/#") })
	runSource(t, h.New(t), &recPublisher{})
	h.health.waitHealth(t, "connected", true)
	require.Eventually(t, func() bool {
		return h.health.get("subscriptions_ready").detail == "subscription rejected: forbidden/#"
	}, 10*time.Second, 5*time.Millisecond)
	require.False(t, h.health.get("subscriptions_ready").ok)
}

// TestSourceRunReturnsOnCancel: Run returns nil promptly when cancelled while
// connected, while the Publisher applies back-pressure, and while no broker answers.
func TestSourceRunReturnsOnCancel(t *testing.T) {
	t.Run("connected", func(t *testing.T) {
		h := newHarness(t, startMochi(t, nil), nil)
		stop := runSource(t, h.New(t), &recPublisher{})
		h.health.waitHealth(t, "subscriptions_ready", true)
		require.NoError(t, stop())
		require.False(t, h.health.get("connected").ok)
	})
	t.Run("back-pressure", func(t *testing.T) {
		h := newHarness(t, startMochi(t, nil), nil)
		entered := make(chan struct{}, 1)
		pub := adapters.PublisherFunc(func(ctx context.Context, _ *adapters.Event, _ func(adapters.Settlement)) error {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-ctx.Done() // block like a full store
			return ctx.Err()
		})
		stop := runSource(t, h.New(t), pub)
		h.health.waitHealth(t, "subscriptions_ready", true)
		h.Inject(t, []byte("x"))
		<-entered
		require.NoError(t, stop())
	})
	t.Run("no broker", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close()) // nothing listens there now
		h := newHarness(t, testBroker{url: "tcp://" + addr}, nil)
		stop := runSource(t, h.New(t), &recPublisher{})
		require.Eventually(t, func() bool {
			return strings.Contains(h.health.get("connected").detail, "connection refused")
		}, 10*time.Second, 5*time.Millisecond)
		require.NoError(t, stop())
	})
}

// TestSourceQoS2 and QoS 0: a QoS 2 subscription receives QoS 2 messages exactly
// once and completes the PUBREC/PUBREL/PUBCOMP exchange after done (a restarted
// source with the same session gets nothing again); QoS 0 messages arrive too.
func TestSourceQoS2AndQoS0(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		h := newHarness(t, b, func(c *Config) { c.QoS = 2 })
		pub := &recPublisher{}
		stop := runSource(t, h.New(t), pub)
		h.health.waitHealth(t, "subscriptions_ready", true)

		want := payloads(20)
		for _, p := range want {
			h.InjectTo(t, h.topic, []byte(p), 2, false)
		}
		pub.waitAccepted(t, want)
		events, _ := pub.snapshot()
		require.Equal(t, want, payloadsOf(events), "exactly once each, in order")
		require.Equal(t, "2", events[0].Attrs["mqtt.qos"])

		h.InjectTo(t, h.topic, []byte("fire-and-forget"), 0, false)
		pub.waitAccepted(t, append(want, "fire-and-forget"))
		require.NoError(t, stop())

		// Everything was acknowledged: the same session brings nothing back.
		again := &recPublisher{}
		stop2 := runSource(t, h.New(t), again)
		h.health.waitHealth(t, "subscriptions_ready", true)
		h.InjectTo(t, h.topic, []byte("marker"), 2, false)
		again.waitAccepted(t, []string{"marker"})
		evs, _ := again.snapshot()
		require.Equal(t, []string{"marker"}, payloadsOf(evs))
		require.NoError(t, stop2())
	})
}
