package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
)

// sinkPrefix is the topic prefix of every test sink, so that Mosquitto's retained
// messages and subscriptions of other tests stay apart.
const sinkPrefix = "edgerelay-sink-test/"

// newTestSink builds an unconnected sink publishing to sinkPrefix<id>/{key} on b.
// It returns the sink and the filter that matches everything it publishes.
func newTestSink(t *testing.T, b testBroker, clk clock.Clock, log *testLogBuf, mutate func(*SinkConfig)) (*Sink, string) {
	t.Helper()
	id := randHex(6)
	cfg := DefaultSinkConfig()
	cfg.URL = b.url
	cfg.ClientID = "edgerelay-sinktest-" + id
	cfg.Topic = sinkPrefix + id + "/{key}"
	cfg.ConnectTimeout = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	d := adapters.Deps{Name: "test-sink", Log: testLog(t), Health: newHealthRec(), Clock: clk}
	if log != nil {
		d.Log = log.logger()
	}
	s, err := NewSink(cfg, d)
	require.NoError(t, err)
	return s, sinkPrefix + id + "/#"
}

// connectSink connects s and closes it when the test ends.
func connectSink(t *testing.T, s *Sink) {
	t.Helper()
	require.NoError(t, s.Connect(t.Context()))
	t.Cleanup(func() { _ = s.Close(t.Context()) })
}

// received is one message a test subscriber got.
type received struct {
	topic    string
	payload  string
	qos      byte
	retained bool
}

// subscriber is a clean-session paho client that records every message on a filter.
type subscriber struct {
	mu   sync.Mutex
	msgs []received // guarded by mu
}

// subscribe connects a subscriber to url for filter at qos; it disconnects when t
// ends.
func subscribe(t testing.TB, url, filter string, qos byte) *subscriber {
	t.Helper()
	return subscribeOwned(t, t, url, filter, qos)
}

// subscribeOwned is subscribe with the disconnect tied to owner's end.
func subscribeOwned(t, owner testing.TB, url, filter string, qos byte) *subscriber {
	t.Helper()
	sub := &subscriber{}
	o := paho.NewClientOptions().AddBroker(url).SetClientID("edgerelay-sub-" + randHex(6)).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetOrderMatters(true)
	c := paho.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "subscriber connect timed out")
	require.NoError(t, tok.Error())
	owner.Cleanup(func() { c.Disconnect(100) })
	st := c.Subscribe(filter, qos, func(_ paho.Client, m paho.Message) {
		sub.mu.Lock()
		sub.msgs = append(sub.msgs, received{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()})
		sub.mu.Unlock()
	})
	require.True(t, st.WaitTimeout(10*time.Second), "subscribe timed out")
	require.NoError(t, st.Error())
	return sub
}

func (s *subscriber) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// waitFor waits until every payload in want arrived and returns the messages.
func (s *subscriber) waitFor(t *testing.T, want ...string) []received {
	t.Helper()
	var got []received
	require.Eventually(t, func() bool {
		got = s.all()
		seen := map[string]bool{}
		for _, m := range got {
			seen[m.payload] = true
		}
		for _, w := range want {
			if !seen[w] {
				return false
			}
		}
		return true
	}, 15*time.Second, 5*time.Millisecond, "not every payload arrived: want %v, got %v", want, s.all())
	return got
}

// testLogBuf collects a sink's log lines, unredacted, so that a test can check no
// secret reaches them.
type testLogBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *testLogBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *testLogBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logger returns a debug-level logger writing to b.
func (b *testLogBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startMochiWith starts an in-process Mochi broker on 127.0.0.1:0 that allows
// everything, with the extra hooks.
func startMochiWith(t testing.TB, hooks ...mochi.Hook) testBroker {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, srv.AddHook(&aclHook{acl: func(string, bool) bool { return true }}, nil))
	for _, h := range hooks {
		require.NoError(t, srv.AddHook(h, nil))
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	require.NoError(t, srv.AddListener(tcp))
	require.NoError(t, srv.Serve())
	t.Cleanup(func() { stopMochi(t, srv, "t") })
	return testBroker{url: "tcp://" + tcp.Address()}
}

// TestSinkPublishesQoS: with QoS 0, 1 and 2 each payload arrives unchanged at the
// topic its template gives, with the QoS asked for, on Mochi and on Mosquitto.
func TestSinkPublishesQoS(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		for _, qos := range []byte{0, 1, 2} {
			t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
				s, filter := newTestSink(t, b, nil, nil, func(c *SinkConfig) {
					c.QoS = qos
					c.Topic = strings.TrimSuffix(c.Topic, "{key}") + "{kind}/{key}"
				})
				sub := subscribe(t, b.url, filter, 2)
				connectSink(t, s)
				var want []string
				for i := range 20 {
					p := fmt.Sprintf(`{"n":%d,"qos":%d}`, i, qos)
					want = append(want, p)
					require.NoError(t, s.Send(t.Context(), &adapters.Event{
						ID: adapters.NewID(), Kind: "alert", Key: fmt.Sprint("a", i%3), Payload: []byte(p),
					}))
				}
				got := sub.waitFor(t, want...)
				base := strings.TrimSuffix(filter, "#")
				for i, m := range got {
					require.Equal(t, want[i], m.payload, "in order, once each")
					require.Equal(t, fmt.Sprint(base, "alert/a", i%3), m.topic)
					require.Equal(t, qos, m.qos)
					require.False(t, m.retained)
				}
				require.Len(t, got, len(want))
			})
		}
	})
}

// TestSinkRetain: with retain: true a subscriber that arrives later still gets the
// last message of each topic, flagged retained.
func TestSinkRetain(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		s, filter := newTestSink(t, b, nil, nil, func(c *SinkConfig) { c.Retain = true })
		connectSink(t, s)
		topic := strings.TrimSuffix(filter, "#") + "k"
		t.Cleanup(func() { // clears the retained message (Mosquitto keeps it)
			_ = s.Send(t.Context(), &adapters.Event{Key: "k"})
		})
		require.NoError(t, s.Send(t.Context(), &adapters.Event{Key: "k", Payload: []byte("state-1")}))
		require.NoError(t, s.Send(t.Context(), &adapters.Event{Key: "k", Payload: []byte("state-2")}))
		// A broker may acknowledge a publish before it has fanned it out and stored
		// it as retained (Mochi does): a subscriber arriving in between gets state-2
		// live (not flagged retained). One arriving later gets it as retained.
		var got []received
		for range 50 {
			sub := subscribe(t, b.url, filter, 1)
			got = sub.waitFor(t, "state-2")
			if got[0] == (received{topic, "state-2", 1, true}) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		require.Equal(t, received{topic, "state-2", 1, true}, got[0])
	})
}

// holdHook makes Mochi read a PUBLISH whose payload contains "hold" without
// acknowledging it (no PUBACK, no PUBREC), and records the acknowledgements the
// broker sends, per packet id.
type holdHook struct {
	mochi.HookBase
	mu   sync.Mutex
	held []uint16 // packet ids of the publishes left unacknowledged; guarded by mu
	acks []uint16 // packet ids of the PUBACK and PUBCOMP packets sent; guarded by mu
}

func (h *holdHook) ID() string { return "test-hold" }
func (h *holdHook) Provides(b byte) bool {
	return b == mochi.OnPublish || b == mochi.OnPacketSent
}

func (h *holdHook) OnPublish(_ *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if bytes.Contains(pk.Payload, []byte("hold")) {
		h.mu.Lock()
		h.held = append(h.held, pk.PacketID)
		h.mu.Unlock()
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

func (h *holdHook) OnPacketSent(_ *mochi.Client, pk packets.Packet, _ []byte) {
	if t := pk.FixedHeader.Type; t == packets.Puback || t == packets.Pubcomp {
		h.mu.Lock()
		h.acks = append(h.acks, pk.PacketID)
		h.mu.Unlock()
	}
}

func (h *holdHook) state() (held, acks []uint16) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]uint16(nil), h.held...), append([]uint16(nil), h.acks...)
}

// TestSinkWaitsForItsOwnAck is ilagent §11.21 fixed: with QoS 1 and 2, a Send
// returns only when the acknowledgement of its own packet arrived. The broker
// leaves publish A unacknowledged and acknowledges B: B's Send returns nil while A's
// keeps waiting; once ack_timeout passes (on the test's clock) A's Send returns a
// retryable error wrapping ErrNotConnected, and the sink needs a new connection.
func TestSinkWaitsForItsOwnAck(t *testing.T) {
	for _, qos := range []byte{1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			hook := &holdHook{}
			b := startMochiWith(t, hook)
			clk := newTickClock()
			s, filter := newTestSink(t, b, clk, nil, func(c *SinkConfig) { c.QoS = qos; c.AckTimeout = time.Minute })
			sub := subscribe(t, b.url, filter, 2)
			connectSink(t, s)

			aDone := make(chan error, 1)
			go func() { // exits when A's Send returns (its ack timeout or the test's end)
				aDone <- s.Send(t.Context(), &adapters.Event{Key: "a", Payload: []byte("A hold")})
			}()
			require.Eventually(t, func() bool { held, _ := hook.state(); return len(held) == 1 }, 10*time.Second, time.Millisecond)
			require.NoError(t, s.Send(t.Context(), &adapters.Event{Key: "b", Payload: []byte("B")}))
			sub.waitFor(t, "B")
			select {
			case err := <-aDone:
				t.Fatalf("A's Send returned (%v) although only B was acknowledged", err)
			default:
			}
			// The hook records a sent acknowledgement after writing it, so the sink may
			// have read it first.
			var held, acks []uint16
			require.Eventually(t, func() bool { held, acks = hook.state(); return len(acks) == 1 }, 10*time.Second, time.Millisecond)
			require.NotEqual(t, held[0], acks[0], "the broker acknowledged B's packet, not A's")

			// A's ack timeout runs out: retryable, and a reconnect is asked for.
			var err error
			require.Eventually(t, func() bool {
				clk.Advance(time.Minute)
				select {
				case err = <-aDone:
					return true
				default:
					return false
				}
			}, 10*time.Second, 5*time.Millisecond)
			require.ErrorIs(t, err, adapters.ErrNotConnected)
			require.False(t, adapters.IsPermanent(err))
			require.ErrorContains(t, err, "within 1m0s")
			require.ErrorIs(t, s.Send(t.Context(), &adapters.Event{Key: "c", Payload: []byte("C")}), adapters.ErrNotConnected)
			require.NoError(t, s.Connect(t.Context()))
			require.NoError(t, s.Send(t.Context(), &adapters.Event{Key: "c", Payload: []byte("C")}))
			sub.waitFor(t, "C")
			for _, m := range sub.all() {
				require.NotEqual(t, "A hold", m.payload, "the held publish was never routed")
			}
		})
	}
}

// TestSinkConnectionLost: when the broker drops the connection (another client
// takes the client id over), a Send waiting for its acknowledgement and every
// later Send return an error wrapping ErrNotConnected; after Connect it publishes
// again. On Mosquitto no publish is held, so only the later Send is checked.
func TestSinkConnectionLost(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		hook := &holdHook{}
		if !b.mosquitto {
			b = startMochiWith(t, hook)
		}
		s, filter := newTestSink(t, b, nil, nil, nil)
		sub := subscribe(t, b.url, filter, 1)
		connectSink(t, s)
		require.NoError(t, s.Send(t.Context(), &adapters.Event{Key: "k", Payload: []byte("before")}))
		sub.waitFor(t, "before")

		aDone := make(chan error, 1)
		if !b.mosquitto {
			go func() { // exits when the connection is lost
				aDone <- s.Send(t.Context(), &adapters.Event{Key: "a", Payload: []byte("A hold")})
			}()
			require.Eventually(t, func() bool { held, _ := hook.state(); return len(held) == 1 }, 10*time.Second, time.Millisecond)
		}
		takeOver(t, b.url, s.cfg.ClientID)
		if !b.mosquitto {
			err := <-aDone
			require.ErrorIs(t, err, adapters.ErrNotConnected)
			require.False(t, adapters.IsPermanent(err))
		}
		require.Eventually(t, func() bool {
			err := s.Send(t.Context(), &adapters.Event{Key: "k", Payload: []byte("lost")})
			return errors.Is(err, adapters.ErrNotConnected) && !adapters.IsPermanent(err)
		}, 10*time.Second, 5*time.Millisecond, "Send on a lost connection must report ErrNotConnected")
		require.NoError(t, s.Connect(t.Context()))
		require.NoError(t, s.Send(t.Context(), &adapters.Event{Key: "k", Payload: []byte("after")}))
		sub.waitFor(t, "after")
	})
}

// takeOver connects with client id id and disconnects: the broker drops the
// connection that had the id.
func takeOver(t testing.TB, url, id string) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "take-over connect timed out")
	require.NoError(t, tok.Error())
	c.Disconnect(50)
}

// TestSinkCloseAndSend: Send before Connect and after Close reports ErrNotConnected;
// Close without Connect and twice is fine.
func TestSinkCloseAndSend(t *testing.T) {
	b := startMochi(t, nil)
	s, _ := newTestSink(t, b, nil, nil, nil)
	require.ErrorIs(t, s.Send(t.Context(), &adapters.Event{Key: "k"}), adapters.ErrNotConnected)
	require.NoError(t, s.Connect(t.Context()))
	require.NoError(t, s.Send(t.Context(), &adapters.Event{Key: "k", Payload: []byte("x")}))
	require.NoError(t, s.Close(t.Context()))
	require.NoError(t, s.Close(t.Context()))
	require.ErrorIs(t, s.Send(t.Context(), &adapters.Event{Key: "k"}), adapters.ErrNotConnected)
	require.ErrorIs(t, s.Connect(t.Context()), adapters.ErrNotConnected)
}

// TestSinkSendRacingALostConnection: Sends running while the connection goes away
// return at once with nil (acknowledged before) or a retryable ErrNotConnected,
// never after paho's write timeout: ack_timeout is an hour here, and the test
// fails if any Send is still running after its bound.
func TestSinkSendRacingALostConnection(t *testing.T) {
	b := startMochi(t, nil)
	s, _ := newTestSink(t, b, nil, nil, func(c *SinkConfig) { c.AckTimeout = time.Hour })
	defer s.Close(t.Context())
	for round := range 20 {
		require.NoError(t, s.Connect(t.Context()))
		s.mu.Lock()
		c := s.conn
		s.mu.Unlock()
		const workers = 4
		errs := make(chan error, workers*50)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() { // exits after 50 Sends or at the first error
				defer wg.Done()
				for i := range 50 {
					err := s.Send(t.Context(), &adapters.Event{Key: fmt.Sprint("k", w), Payload: []byte(fmt.Sprint(round, "-", w, "-", i))})
					errs <- err
					if err != nil {
						return
					}
				}
			}()
		}
		s.drop(c, "test")
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }() // exits when every worker has
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: a Send is still waiting after the connection was dropped", round)
		}
		close(errs)
		for err := range errs {
			if err != nil {
				require.ErrorIs(t, err, adapters.ErrNotConnected)
				require.False(t, adapters.IsPermanent(err))
			}
		}
	}
}
