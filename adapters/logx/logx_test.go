package logx_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/logx"
)

// capture is a slog.Handler that keeps every record's level, message and attributes.
type capture struct {
	mu    sync.Mutex
	lines []line
}

type line struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	l := line{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool { l.attrs[a.Key] = a.Value.Any(); return true })
	c.mu.Lock()
	c.lines = append(c.lines, l)
	c.mu.Unlock()
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

func (c *capture) all() []line {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]line(nil), c.lines...)
}

var t0 = time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)

func newLimiter() (*logx.Limiter, *clocktest.Fake, *capture, *slog.Logger) {
	clk := clocktest.NewFake(t0)
	c := &capture{}
	return logx.New(logx.Options{Burst: 3, Interval: time.Minute, Settle: 10 * time.Second, Clock: clk}), clk, c, slog.New(c)
}

func TestLimiterBurstThenOnePerInterval(t *testing.T) {
	l, clk, c, log := newLimiter()
	for i := range 1000 {
		l.Warn(log, "broker", "broker refused a connection", "attempt", i)
	}
	require.Len(t, c.all(), 3, "the burst passes, the rest is counted")
	require.Equal(t, 997, l.Pending())

	clk.Advance(30 * time.Second) // half a token
	require.False(t, l.Warn(log, "broker", "broker refused a connection", "attempt", 1000))
	clk.Advance(30 * time.Second)
	require.True(t, l.Warn(log, "broker", "broker refused a connection", "attempt", 1001))
	got := c.all()
	require.Len(t, got, 4)
	last := got[3]
	require.Equal(t, slog.LevelWarn, last.level)
	require.Equal(t, "broker refused a connection (suppressed 998 similar in the last 60s)", last.msg)
	require.EqualValues(t, 998, last.attrs["suppressed"])
	require.EqualValues(t, 1001, last.attrs["attempt"])
	require.Zero(t, l.Pending())
}

func TestLimiterKeysAreIndependent(t *testing.T) {
	l, _, c, log := newLimiter()
	for range 10 {
		l.Warn(log, "sink:a", "send failed")
		l.Warn(log, "sink:b", "send failed")
		l.Error(log, "sink:a", "connect failed")
	}
	require.Len(t, c.all(), 9, "three keys, a burst each")
	require.Equal(t, 21, l.Pending())
}

func TestLimiterFlush(t *testing.T) {
	l, clk, c, log := newLimiter()
	for i := range 50 {
		l.Error(log, "store", "commit failed", "n", i)
	}
	l.Flush()
	require.Len(t, c.all(), 3, "no token yet: the flush waits")
	clk.Advance(time.Minute)
	l.Flush()
	got := c.all()
	require.Len(t, got, 4)
	require.Equal(t, "commit failed (suppressed 47 similar in the last 60s)", got[3].msg)
	require.Equal(t, slog.LevelError, got[3].level)
	require.EqualValues(t, 49, got[3].attrs["n"], "the last suppressed line's attributes")
	l.Flush()
	require.Len(t, c.all(), 4, "nothing left to flush")

	l.Warn(log, "x", "m")
	l.Warn(log, "x", "m")
	l.Warn(log, "x", "m")
	l.Warn(log, "x", "m")
	l.FlushAll()
	got = c.all()
	require.Len(t, got, 8)
	require.Equal(t, "m (suppressed 1 similar in the last 0s)", got[7].msg)
}

func TestLimiterRunFlushesOnItsTicker(t *testing.T) {
	clk := clocktest.NewFake(t0)
	c := &capture{}
	log := slog.New(c)
	l := logx.New(logx.Options{Burst: 1, Interval: time.Second, FlushEvery: 2 * time.Second, Clock: clk})
	l.Warn(log, "k", "m")
	l.Warn(log, "k", "m")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	at, ok := clk.WaitNext(10 * time.Second)
	require.True(t, ok, "Run arms its ticker")
	clk.AdvanceTo(at)
	require.Eventually(t, func() bool { return len(c.all()) == 2 }, 10*time.Second, time.Millisecond)
	require.Equal(t, "m (suppressed 1 similar in the last 2s)", c.all()[1].msg)
	l.Warn(log, "k", "m")
	l.Warn(log, "k", "m")
	cancel()
	require.NoError(t, <-done)
	require.Len(t, c.all(), 3, "the flush spent the token: both are counted, in the final flush's line")
	require.Equal(t, "m (suppressed 2 similar in the last 0s)", c.all()[2].msg)
	require.Zero(t, l.Pending())
}

func TestNilLimiterLimitsNothing(t *testing.T) {
	var l *logx.Limiter
	c := &capture{}
	for range 10 {
		require.True(t, l.Warn(slog.New(c), "k", "m"))
	}
	l.Flush()
	require.Len(t, c.all(), 10)
}

func TestConditionDoesNotFlap(t *testing.T) {
	l, clk, c, log := newLimiter()
	cond := l.Condition()
	// A disk that fails, works for one commit, and fails again, a thousand times.
	for range 1000 {
		cond.Fail(log, "store commit failed", "err", "no space left on device")
		cond.OK(log, "store commits recovered")
		clk.Advance(time.Second)
	}
	got := c.all()
	require.Len(t, got, 1, "one ERROR line for the whole flapping")
	require.Equal(t, slog.LevelError, got[0].level)
	require.True(t, cond.Failing())

	// Healthy since the last OK (a second ago): the recovery comes once it has
	// settled, from a flush.
	clk.Advance(8 * time.Second)
	l.Flush()
	require.Len(t, c.all(), 1, "not settled yet")
	clk.Advance(time.Second)
	l.Flush()
	got = c.all()
	require.Len(t, got, 2)
	require.Equal(t, slog.LevelInfo, got[1].level)
	require.Equal(t, "store commits recovered", got[1].msg)
	require.EqualValues(t, 1000, got[1].attrs["failures"])
	require.EqualValues(t, 999, got[1].attrs["failing_for_s"], "from the first failure to the last OK stretch")
	require.False(t, cond.Failing())

	// A new failure after the recovery is logged again.
	require.True(t, cond.Fail(log, "store commit failed"))
	require.Len(t, c.all(), 3)
}

func TestConditionOKWithoutFailureLogsNothing(t *testing.T) {
	l, _, c, log := newLimiter()
	cond := l.Condition()
	for range 10 {
		cond.OK(log, "recovered")
	}
	l.FlushAll()
	require.Empty(t, c.all())
}
