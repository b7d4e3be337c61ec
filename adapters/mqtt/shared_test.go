package mqtt

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// TestSourceSharedSubscription: two sources with different client ids in one shared
// subscription group on the machine's Mosquitto split the messages: each is handled
// by exactly one of them, and both get some. Once one stops (persistent session, the
// default), every later message goes to the other; started again, it rejoins.
func TestSourceSharedSubscription(t *testing.T) {
	adaptertest.NeedService(t, "mosquitto", mosquittoAddr)
	b := testBroker{url: "tcp://" + mosquittoAddr, mosquitto: true}
	id := randHex(6)
	filter := "$share/edgerelay-" + id + "/edgerelay-test/" + id + "/shared"
	mk := func() (*harness, *recPublisher) {
		h := newHarness(t, b, func(c *Config) { c.Topics = []string{filter} })
		h.topic = "edgerelay-test/" + id + "/shared"
		return h, &recPublisher{}
	}
	h1, pub1 := mk()
	h2, pub2 := mk()
	stop1 := runSource(t, h1.New(t), pub1)
	runSource(t, h2.New(t), pub2)
	h1.health.waitHealth(t, "subscriptions_ready", true)
	h2.health.waitHealth(t, "subscriptions_ready", true)

	const n = 200
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("s-%03d", i)
		h1.Inject(t, []byte(want[i]))
	}
	got := func() (map[string]int, map[string]int) {
		c1, c2 := map[string]int{}, map[string]int{}
		e1, _ := pub1.snapshot()
		e2, _ := pub2.snapshot()
		for _, e := range e1 {
			c1[string(e.Payload)]++
		}
		for _, e := range e2 {
			c2[string(e.Payload)]++
		}
		return c1, c2
	}
	require.Eventually(t, func() bool { c1, c2 := got(); return len(c1)+len(c2) >= n }, 20*time.Second, 10*time.Millisecond)
	c1, c2 := got()
	for _, w := range want {
		require.Equal(t, 1, c1[w]+c2[w], "%s handled %d+%d times", w, c1[w], c2[w])
	}
	require.NotEmpty(t, c1, "the first source got nothing")
	require.NotEmpty(t, c2, "the second source got nothing")

	require.NoError(t, stop1())
	before := len(c1)
	more := make([]string, 50)
	for i := range more {
		more[i] = fmt.Sprintf("t-%03d", i)
		h1.Inject(t, []byte(more[i]))
	}
	pub2.waitAccepted(t, more)
	c1, _ = got()
	require.Len(t, c1, before, "the stopped source got messages")

	// Started again with the same session, it rejoins the group and gets nothing
	// of what was published while it was away.
	h1.health = newHealthRec()
	runSource(t, h1.New(t), pub1)
	h1.health.waitHealth(t, "subscriptions_ready", true)
	last := make([]string, 50)
	for i := range last {
		last[i] = fmt.Sprintf("u-%03d", i)
		h1.Inject(t, []byte(last[i]))
	}
	require.Eventually(t, func() bool {
		c1, c2 := got()
		for _, w := range last {
			if c1[w]+c2[w] == 0 {
				return false
			}
		}
		return true
	}, 20*time.Second, 10*time.Millisecond)
	c1, c2 = got()
	for _, w := range more {
		require.Zero(t, c1[w], "%s redelivered to the source that had left", w)
	}
	for _, w := range last {
		require.Equal(t, 1, c1[w]+c2[w], w)
	}
	require.Greater(t, len(c1), before, "the restarted source got no share")
}
