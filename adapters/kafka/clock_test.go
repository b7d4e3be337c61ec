package kafka

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
)

var clockStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TestStartBackoffFollowsTheClock: with no broker to reach, the source waits
// between attempts on the injected clock: each wait is armed there with the
// ReconnectDelay of its attempt, and the next attempt comes only once the fake clock
// is advanced to it.
func TestStartBackoffFollowsTheClock(t *testing.T) {
	clk := clocktest.NewFake(clockStart)
	cfg := DefaultConfig()
	cfg.Brokers = []string{"127.0.0.1:1"} // nothing listens: every attempt fails
	cfg.GroupID = "g-backoff"
	cfg.Topics = []string{"t"}
	s, err := NewSource(cfg, adapters.Deps{Name: "k", Log: testLogger(t), Health: newHealthRec(), Clock: clk, Now: clk.Now})
	require.NoError(t, err)
	r := start(t, s, newPub(nil))
	for n := range 3 {
		at, armed := clk.WaitNext(30 * time.Second)
		require.True(t, armed, "no timer armed on the injected clock")
		require.Equal(t, clk.Now().Add(adapters.ReconnectDelay(n)), at, "wait %d", n)
		clk.AdvanceTo(at) // the next attempt; it arms the next, longer wait
	}
	r.stop(t)
}

// TestCommitTickerFollowsTheClock: during a session, settled offsets are committed
// on the commit ticker of the injected clock: nothing before it is advanced, the
// settled prefix once it is.
func TestCommitTickerFollowsTheClock(t *testing.T) {
	const topic, group = "clock-commit", "g-clock-commit"
	cl := newCluster(t, 1, topic)
	clk := clocktest.NewFake(clockStart)
	h := newHealthRec()
	cfg := DefaultConfig()
	cfg.Brokers = cl.addrs
	cfg.GroupID = group
	cfg.Topics = []string{topic}
	cfg.InitialOffset = "oldest"
	s, err := NewSource(cfg, adapters.Deps{Name: "k", Log: testLogger(t), Health: h, Clock: clk, Now: clk.Now})
	require.NoError(t, err)
	payloads := cl.produceN(t, topic, "m", 5)
	p := newPub(nil)
	r := start(t, s, p)

	// The session's committer arms its ticker on the fake clock at Setup.
	at, armed := clk.WaitNext(30 * time.Second)
	require.True(t, armed, "no commit ticker armed on the injected clock")
	require.Equal(t, clockStart.Add(commitInterval), at)
	require.Eventually(t, func() bool { return p.acceptedAll(payloads) }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, int64(-1), cl.committed(t, group, topic)[0], "no tick yet, so no commit")

	clk.Advance(commitInterval)
	require.Eventually(t, func() bool { return cl.committed(t, group, topic)[0] == int64(len(payloads)) },
		30*time.Second, 20*time.Millisecond, "the tick commits the settled prefix")
	r.stop(t)
}
