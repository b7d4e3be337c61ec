package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/daemon/broker"
)

const mosquittoAddr = "127.0.0.1:1883"

// testLog returns a logger that writes to the test log only with -v.
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

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testBroker is a broker a test runs against.
type testBroker struct {
	url       string
	rec       *recorder // packets seen by an in-process Mochi broker; nil for Mosquitto
	mosquitto bool      // the machine's Mosquitto, which keeps sessions until wiped
}

// forEachBroker runs f against an in-process Mochi broker and the machine's
// Mosquitto.
func forEachBroker(t *testing.T, f func(t *testing.T, b testBroker)) {
	t.Run("mochi", func(t *testing.T) { f(t, startMochi(t, nil)) })
	t.Run("mosquitto", func(t *testing.T) {
		adaptertest.NeedService(t, "mosquitto", mosquittoAddr)
		f(t, testBroker{url: "tcp://" + mosquittoAddr, mosquitto: true})
	})
}

// startMochi starts an in-process Mochi broker on 127.0.0.1:0 that allows everything
// (or what acl allows, when it is non-nil) and records the QoS packets it exchanges.
func startMochi(t *testing.T, acl func(topic string, write bool) bool) testBroker {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if acl == nil {
		acl = func(string, bool) bool { return true }
	}
	require.NoError(t, srv.AddHook(&aclHook{acl: acl}, nil))
	rec := &recorder{sent: map[string][]uint16{}, acked: map[string][]uint16{}, queued: map[string]int{}}
	require.NoError(t, srv.AddHook(rec, nil))
	tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	require.NoError(t, srv.AddListener(tcp))
	require.NoError(t, srv.Serve())
	t.Cleanup(func() { stopMochi(t, srv, "t") })
	return testBroker{url: "tcp://" + tcp.Address(), rec: rec}
}

// aclHook authenticates everyone and asks acl for topic access.
type aclHook struct {
	mochi.HookBase
	acl func(topic string, write bool) bool
}

func (h *aclHook) ID() string { return "test-acl" }
func (h *aclHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *aclHook) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }
func (h *aclHook) OnACLCheck(_ *mochi.Client, topic string, write bool) bool {
	return h.acl(topic, write)
}

// recorder is a Mochi hook recording, per client id, the packet ids of the QoS 1
// PUBLISH packets the broker sent and of the PUBACK packets it read.
type recorder struct {
	mochi.HookBase
	mu     sync.Mutex
	sent   map[string][]uint16 // guarded by mu
	acked  map[string][]uint16 // guarded by mu
	queued map[string]int      // QoS 1 and 2 messages put in a session's inflight; guarded by mu
}

func (r *recorder) ID() string { return "test-recorder" }
func (r *recorder) Provides(b byte) bool {
	return b == mochi.OnPacketSent || b == mochi.OnPacketRead || b == mochi.OnQosPublish
}

// OnQosPublish runs when Mochi puts a message in a session's inflight, whether or not
// the client is connected, and again for each resend.
func (r *recorder) OnQosPublish(cl *mochi.Client, _ packets.Packet, _ int64, _ int) {
	r.mu.Lock()
	r.queued[cl.ID]++
	r.mu.Unlock()
}

// waitQueued waits until Mochi has put at least n messages in the session of client
// id. Mochi acknowledges a PUBLISH before it routes it to the subscribers, and a
// message routed to a session while a new connection takes the session over is lost
// (the new connection has already copied the inflight messages), so a test that
// publishes to a stopped persistent subscriber waits for this before it reconnects.
func (r *recorder) waitQueued(t *testing.T, id string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.queued[id] >= n
	}, 10*time.Second, time.Millisecond, "Mochi never queued %d messages for %s", n, id)
}
func (r *recorder) OnPacketSent(cl *mochi.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Qos == 1 {
		r.mu.Lock()
		r.sent[cl.ID] = append(r.sent[cl.ID], pk.PacketID)
		r.mu.Unlock()
	}
}
func (r *recorder) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Puback {
		r.mu.Lock()
		r.acked[cl.ID] = append(r.acked[cl.ID], pk.PacketID)
		r.mu.Unlock()
	}
	return pk, nil
}
func (r *recorder) get(id string) (sent, acked []uint16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint16(nil), r.sent[id]...), append([]uint16(nil), r.acked[id]...)
}

// harness is what a conformance suite needs from the MQTT source: New builds a
// source subscribed to a topic unique to the test, Inject publishes a payload there.
type harness struct {
	b      testBroker
	topic  string
	cfg    Config
	health *healthRec
	inj    paho.Client
	clock  clock.Clock // the source's Deps.Clock; nil: the real one
}

func newHarness(t *testing.T, b testBroker, mutate func(*Config)) *harness {
	t.Helper()
	id := randHex(6)
	cfg := DefaultConfig()
	cfg.URL = b.url
	cfg.ClientID = "edgerelay-test-" + id
	cfg.Topics = []string{"edgerelay-test/" + id + "/#"}
	cfg.ConnectTimeout = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	h := &harness{b: b, topic: "edgerelay-test/" + id + "/in", cfg: cfg, health: newHealthRec()}
	if b.mosquitto {
		// Mosquitto keeps persistent sessions forever: wipe this test's at the end.
		t.Cleanup(func() { wipeSession(b.url, cfg.ClientID) })
	}
	return h
}

// New builds a source from the harness config.
func (h *harness) New(t *testing.T) adapters.Source {
	t.Helper()
	d := adapters.Deps{Name: "test-src", Log: testLog(t), Health: h.health, Now: time.Now, Clock: h.clock}
	if h.clock != nil {
		d.Now = h.clock.Now
	}
	src, err := NewSource(h.cfg, d)
	require.NoError(t, err)
	return src
}

// Inject publishes payload with QoS 1 to the harness topic and waits for the PUBACK.
func (h *harness) Inject(t *testing.T, payload []byte) {
	t.Helper()
	h.InjectTo(t, h.topic, payload, 1, false)
}

// InjectTo publishes payload to topic.
func (h *harness) InjectTo(t *testing.T, topic string, payload []byte, qos byte, retain bool) {
	t.Helper()
	if h.inj == nil {
		o := paho.NewClientOptions().AddBroker(h.b.url).SetClientID("edgerelay-inj-" + randHex(6)).
			SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
		c := paho.NewClient(o)
		tok := c.Connect()
		require.True(t, tok.WaitTimeout(10*time.Second), "injector connect timed out")
		require.NoError(t, tok.Error())
		h.inj = c
		t.Cleanup(func() { c.Disconnect(100) })
	}
	tok := h.inj.Publish(topic, qos, retain, payload)
	require.True(t, tok.WaitTimeout(10*time.Second), "inject timed out")
	require.NoError(t, tok.Error())
}

// wipeSession removes a persistent session by connecting with clean session.
func wipeSession(url, clientID string) {
	o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(o)
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(100)
	}
}

// runSource runs src in a goroutine. The returned stop cancels it and returns Run's
// error; it fails the test if Run does not return within 10 seconds. stop is also
// registered as a cleanup.
func runSource(t *testing.T, src adapters.Source, pub adapters.Publisher) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	// Run's goroutine exits when ctx is cancelled by stop.
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

// healthRec records health conditions.
type healthRec struct {
	mu   sync.Mutex
	cond map[string]healthState // guarded by mu
}

type healthState struct {
	ok       bool
	detail   string
	degraded bool // set with SetDegraded rather than Set
}

func newHealthRec() *healthRec { return &healthRec{cond: map[string]healthState{}} }

func (h *healthRec) Set(c string, ok bool, detail string) {
	h.mu.Lock()
	h.cond[c] = healthState{ok, detail, false}
	h.mu.Unlock()
}

func (h *healthRec) SetDegraded(c string, ok bool, detail string) {
	h.mu.Lock()
	h.cond[c] = healthState{ok, detail, true}
	h.mu.Unlock()
}

func (h *healthRec) get(c string) healthState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cond[c]
}

// waitHealth waits until condition c has the given ok value.
func (h *healthRec) waitHealth(t *testing.T, c string, ok bool) healthState {
	t.Helper()
	var st healthState
	require.Eventually(t, func() bool { st = h.get(c); return st.ok == ok }, 15*time.Second, 5*time.Millisecond,
		"health %q never became %v (last %+v)", c, ok, h.get(c))
	return st
}

// recPublisher records published events; complete decides when and how each done
// callback is called (nil: at once, with nil), with nil for Stored and an error for
// a refusal.
type recPublisher struct {
	mu       sync.Mutex
	events   []*adapters.Event // every Publish, in call order; guarded by mu
	accepted []*adapters.Event // events whose done got nil; guarded by mu
	complete func(e *adapters.Event, done func(error))
}

func (p *recPublisher) Publish(ctx context.Context, e *adapters.Event, done func(adapters.Settlement)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	p.events = append(p.events, e)
	p.mu.Unlock()
	wrapped := func(err error) {
		if err == nil {
			p.mu.Lock()
			p.accepted = append(p.accepted, e)
			p.mu.Unlock()
			done(adapters.Settled(adapters.Stored, ""))
			return
		}
		done(adapters.Refuse(err))
	}
	if p.complete == nil {
		wrapped(nil)
	} else {
		p.complete(e, wrapped)
	}
	return nil
}

func (p *recPublisher) snapshot() (events, accepted []*adapters.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*adapters.Event(nil), p.events...), append([]*adapters.Event(nil), p.accepted...)
}

// waitAccepted waits until every payload in want was accepted at least once.
func (p *recPublisher) waitAccepted(t *testing.T, want []string) {
	t.Helper()
	ok := assert.Eventually(t, func() bool {
		_, acc := p.snapshot()
		got := map[string]bool{}
		for _, e := range acc {
			got[string(e.Payload)] = true
		}
		for _, w := range want {
			if !got[w] {
				return false
			}
		}
		return true
	}, 20*time.Second, 5*time.Millisecond)
	if !ok {
		_, acc := p.snapshot()
		t.Fatalf("not every payload was accepted: want %v, accepted %v", want, payloadsOf(acc))
	}
}

func payloadsOf(es []*adapters.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.Payload)
	}
	return out
}

func payloads(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("m-%03d", i)
	}
	return out
}

// stopMochi stops a test broker whose listeners are ids. It uses broker.StopMochi:
// Mochi's own Close deadlocks when a client connects or disconnects at that
// moment (a sink reconnecting while its broker stops), which hung this package's
// tests until go test's timeout.
func stopMochi(t testing.TB, srv *mochi.Server, ids ...string) {
	t.Helper()
	if err := broker.StopMochi(srv, ids, 30*time.Second); err != nil {
		t.Error(err)
	}
}
