package mqtt

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
)

var clockStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// tickClock is a fake clock that also hands the tickers it made to the test, which
// can then see that the code under test took a tick from one.
type tickClock struct {
	*clocktest.Fake
	mu      sync.Mutex // guards tickers
	tickers []clock.Ticker
}

func newTickClock() *tickClock { return &tickClock{Fake: clocktest.NewFake(clockStart)} }

func (c *tickClock) NewTicker(d time.Duration) clock.Ticker {
	tk := c.Fake.NewTicker(d)
	c.mu.Lock()
	c.tickers = append(c.tickers, tk)
	c.mu.Unlock()
	return tk
}

// lastTicker returns the newest ticker and how many were made; nil when none was.
func (c *tickClock) lastTicker() (clock.Ticker, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tickers) == 0 {
		return nil, 0
	}
	return c.tickers[len(c.tickers)-1], len(c.tickers)
}

// advanceUntil advances clk by step until cond holds (polling, with a generous
// bound on wall time); it asserts nothing about how long that takes.
func advanceUntil(t *testing.T, clk *clocktest.Fake, step time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	require.Eventually(t, func() bool {
		if cond() {
			return true
		}
		clk.Advance(step)
		return cond()
	}, 15*time.Second, 20*time.Millisecond, append([]any{msg}, args...)...)
}

// TestReconnectBackoffFollowsTheClock: with nothing listening at the broker's
// address, the source waits between attempts on the injected clock: each wait is
// armed there with the ReconnectDelay of its attempt, and the next attempt (which
// reports its own failure) comes only once the fake clock reaches it.
func TestReconnectBackoffFollowsTheClock(t *testing.T) {
	clk := clocktest.NewFake(clockStart)
	cfg := DefaultConfig()
	cfg.URL = "tcp://127.0.0.1:1" // nothing listens: every attempt fails
	cfg.ClientID = "edgerelay-test-" + randHex(6)
	cfg.Topics = []string{"a/#"}
	hr := newHealthRec()
	src, err := NewSource(cfg, adapters.Deps{Name: "x", Health: hr, Clock: clk, Now: clk.Now, Log: testLog(t)})
	require.NoError(t, err)
	stop := runSource(t, src, &recPublisher{})
	for n := range 3 {
		at, armed := clk.WaitNext(15 * time.Second)
		require.True(t, armed, "no timer armed on the injected clock")
		require.Equal(t, clk.Now().Add(adapters.ReconnectDelay(n)), at, "wait %d", n)
		clk.AdvanceTo(at)
	}
	require.NoError(t, stop())
	require.False(t, hr.get("connected").ok)
}
