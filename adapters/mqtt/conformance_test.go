package mqtt

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// TestConformance runs the source conformance suite against an in-process Mochi
// broker and the machine's Mosquitto. The source keeps a persistent session with
// QoS 1 (the defaults), so a message it leaves unacknowledged is redelivered after
// its reconnect: Redelivers holds.
//
// One client id and one topic serve every case of a run: each case's New builds a
// fresh source on the same session, as a restarted relay would, and the suite tells
// its cases' messages apart by their payloads.
func TestConformance(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		h := newHarness(t, b, nil)
		// The injector outlives the suite's subtests (InjectTo would tie it to the
		// first one); it publishes with QoS 1 and waits for each PUBACK.
		h.inj = connectInjector(t, b.url)
		adaptertest.RunSource(t, adaptertest.SourceHarness{
			New:        func(t *testing.T) adapters.Source { return h.New(t) },
			Inject:     func(t *testing.T, payload []byte) { h.Inject(t, payload) },
			Redelivers: true,
		})
	})
}

// connectInjector connects a clean-session publisher to url, disconnected when t ends.
func connectInjector(t *testing.T, url string) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID("edgerelay-inj-" + randHex(6)).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "injector connect timed out")
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}
