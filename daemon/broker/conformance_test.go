package broker

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// TestConformance runs the source conformance suite against the embedded broker's
// in-process source, with a paho client publishing at QoS 1 over TCP.
//
// Redelivers holds: a refused message is left unacknowledged and its publisher is
// disconnected; the publisher (persistent session) reconnects and resends every
// unacknowledged message.
//
// Each case gets its own topic and its own publisher. A Source's filters stay
// registered after its Run ends and from then on make the bridge refuse matching
// messages and disconnect their publisher, so a publisher still holding an
// unacknowledged message of an earlier case would be refused on every reconnect;
// separate topics and publishers keep the cases independent.
func TestConformance(t *testing.T) {
	b, _ := startBroker(t, nil)
	var (
		mu   sync.Mutex // guards pubs
		pubs = map[*testing.T]*resender{}
	)
	// publisher returns the case's publisher, connecting it on first use; it is
	// closed when the case ends.
	publisher := func(t *testing.T) *resender {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if r := pubs[t]; r != nil {
			return r
		}
		r := newResender(t, "tcp://"+b.Addr(), "conformance-"+caseID(t))
		pubs[t] = r
		t.Cleanup(func() {
			mu.Lock()
			delete(pubs, t)
			mu.Unlock()
		})
		return r
	}
	adaptertest.RunSource(t, adaptertest.SourceHarness{
		New: func(t *testing.T) adapters.Source {
			return b.Source("conformance", []string{caseTopic(t)}, "", "")
		},
		Inject: func(t *testing.T, payload []byte) {
			publisher(t).publish(t, caseTopic(t), payload)
		},
		Redelivers: true,
	})
}

// caseID names a subtest in a form fit for a client id and a topic level.
func caseID(t *testing.T) string {
	return strings.NewReplacer("/", "-", "#", "-", "+", "-").Replace(t.Name())
}

// caseTopic is the topic of one case.
func caseTopic(t *testing.T) string { return "conformance/" + caseID(t) }

// resender is a QoS 1 publisher with a persistent session that reconnects by itself
// and then resends what was not acknowledged, as a device would.
//
// It reconnects itself rather than use paho's auto-reconnect: paho resumes the
// session (setting DUP on its stored packets) while new publishes may already go
// out on the fresh connection, a data race the race detector reports
// (eclipse-paho/paho.mqtt.golang#703). mu keeps publishes and reconnects apart:
// paho's Connect returns only after the resume.
type resender struct {
	c    paho.Client
	lost chan struct{} // capacity 1: the connection was lost
	done chan struct{} // closed by close: the reconnect loop exits
	wg   sync.WaitGroup

	mu     sync.Mutex // held by publish and by a reconnect, so that they never overlap
	closed bool       // guarded by mu: no more reconnects
}

// newResender connects a publisher with client id id; it is closed when t ends.
func newResender(t *testing.T, url, id string) *resender {
	t.Helper()
	r := &resender{lost: make(chan struct{}, 1), done: make(chan struct{})}
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(false).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetOrderMatters(true).
		SetConnectionLostHandler(func(paho.Client, error) {
			select {
			case r.lost <- struct{}{}:
			default:
			}
		})
	r.c = paho.NewClient(o)
	tok := r.c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "publisher connect timed out")
	require.NoError(t, tok.Error())
	r.wg.Add(1)
	// The reconnect loop exits when close closes done.
	go func() {
		defer r.wg.Done()
		r.reconnectLoop()
	}()
	t.Cleanup(r.close)
	return r
}

// reconnectLoop connects again, with a short pause between attempts, whenever the
// connection is lost, until close.
func (r *resender) reconnectLoop() {
	for {
		select {
		case <-r.done:
			return
		case <-r.lost:
		}
		for {
			r.mu.Lock()
			if r.closed {
				r.mu.Unlock()
				return
			}
			tok := r.c.Connect() // resends the unacknowledged messages before it completes
			ok := tok.WaitTimeout(10*time.Second) && tok.Error() == nil
			r.mu.Unlock()
			if ok {
				break
			}
			select {
			case <-r.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// publish publishes payload with QoS 1. It does not wait for the PUBACK, which
// comes only once the relay accepted the event (some cases delay or refuse it), nor
// does it report a failed write: paho stores the message first and resends it after
// the reconnect. While the client is disconnected, it waits for the reconnect.
func (r *resender) publish(t *testing.T, topic string, payload []byte) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		tok := r.c.Publish(topic, 1, false, payload)
		r.mu.Unlock()
		// ErrNotConnected comes at once and means nothing was stored: try again.
		select {
		case <-tok.Done():
			if !errors.Is(tok.Error(), paho.ErrNotConnected) {
				return
			}
		default:
			return
		}
		require.True(t, time.Now().Before(deadline), "publisher not reconnected within 10s")
		time.Sleep(10 * time.Millisecond)
	}
}

// close stops reconnecting and disconnects.
func (r *resender) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	close(r.done)
	r.wg.Wait()
	r.c.Disconnect(100)
}
