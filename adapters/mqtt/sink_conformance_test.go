package mqtt

import (
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// TestSinkConformance runs the sink conformance suite against an in-process Mochi
// broker and the machine's Mosquitto, with QoS 1 (the default) and credentials
// whose password is the suite's secret.
//
// FailNext makes the broker drop the sink's connection (another client takes its
// client id over): the next Send fails with a retryable error, as it does when the
// broker goes away. Restart restarts Mochi on the same address; the machine's
// Mosquitto is shared and cannot be restarted by a test, so there it drops the
// connection the same way, which is all the sink sees of a restart.
func TestSinkConformance(t *testing.T) {
	t.Run("mochi", func(t *testing.T) {
		m := startRestartableMochi(t)
		runSinkConformance(t, m.url, m.restart)
	})
	t.Run("mosquitto", func(t *testing.T) {
		adaptertest.NeedService(t, "mosquitto", mosquittoAddr)
		runSinkConformance(t, "tcp://"+mosquittoAddr, nil)
	})
}

func runSinkConformance(t *testing.T, url string, restart func(t *testing.T)) {
	pw := "conformance-secret-" + randHex(8)
	h := &sinkHarness{owner: t, url: url, filter: sinkPrefix + "conformance-" + randHex(6) + "/#"}
	h.resubscribe(t)
	adaptertest.RunSink(t, adaptertest.SinkHarness{
		New: func(t *testing.T) adapters.Sink {
			cfg := DefaultSinkConfig()
			cfg.URL = url
			h.mu.Lock()
			h.clientID = "edgerelay-sink-conf-" + randHex(6)
			cfg.ClientID = h.clientID
			h.mu.Unlock()
			cfg.Topic = h.filter[:len(h.filter)-1] + "{key}"
			cfg.Username = "conformance"
			cfg.Password = secret.Value(pw)
			cfg.ConnectTimeout = 5 * time.Second
			s, err := NewSink(cfg, adapters.Deps{Name: "conformance", Log: testLog(t), Health: newHealthRec()})
			require.NoError(t, err)
			return s
		},
		Received: func(*testing.T) []adaptertest.Delivery { return h.received() },
		FailNext: func(t *testing.T, _ int, _ bool) {
			h.mu.Lock()
			id := h.clientID
			h.mu.Unlock()
			takeOver(t, url, id)
		},
		Restart: func(t *testing.T) {
			if restart == nil {
				h.mu.Lock()
				id := h.clientID
				h.mu.Unlock()
				takeOver(t, url, id)
				return
			}
			restart(t)
			h.resubscribe(t)
		},
		Ordered: true,
		Secret:  pw,
		Unsupported: map[string]string{
			"PermanentErrorIsMarked": "an MQTT 3.1.1 broker never refuses a publish with an answer; the sink's " +
				"only permanent error is a topic the template cannot build for an event (TestSinkTopicErrorIsPermanent)",
		},
	})
}

// sinkHarness collects what the conformance sinks publish through subscribers on
// one filter (a new one after each broker restart).
type sinkHarness struct {
	owner       *testing.T // the subscribers live as long as it
	url, filter string
	mu          sync.Mutex
	clientID    string        // of the newest sink; guarded by mu
	subs        []*subscriber // guarded by mu
}

func (h *sinkHarness) resubscribe(t *testing.T) {
	sub := subscribeOwned(t, h.owner, h.url, h.filter, 1)
	h.mu.Lock()
	h.subs = append(h.subs, sub)
	h.mu.Unlock()
}

func (h *sinkHarness) received() []adaptertest.Delivery {
	h.mu.Lock()
	subs := append([]*subscriber(nil), h.subs...)
	h.mu.Unlock()
	var out []adaptertest.Delivery
	for _, s := range subs {
		for _, m := range s.all() {
			out = append(out, adaptertest.Delivery{Payload: []byte(m.payload)})
		}
	}
	return out
}

// restartableMochi is a Mochi broker that a test can restart on the same address.
type restartableMochi struct {
	url  string
	addr string
	mu   sync.Mutex
	srv  *mochi.Server // guarded by mu
}

func startRestartableMochi(t *testing.T) *restartableMochi {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	m := &restartableMochi{url: "tcp://" + addr, addr: addr}
	m.start(t)
	t.Cleanup(func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		stopMochi(t, m.srv, "t")
	})
	return m
}

func (m *restartableMochi) start(t *testing.T) {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, srv.AddHook(&aclHook{acl: func(string, bool) bool { return true }}, nil))
	require.NoError(t, srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: m.addr})))
	require.NoError(t, srv.Serve())
	m.mu.Lock()
	m.srv = srv
	m.mu.Unlock()
}

// restart closes the broker, dropping every connection, and starts a new one on
// the same address.
func (m *restartableMochi) restart(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	stopMochi(t, m.srv, "t")
	m.mu.Unlock()
	m.start(t)
}
