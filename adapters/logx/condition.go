package logx

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Condition logs a failing state once when it starts and once when it has ended for
// good, however often it flaps in between. Make one with Limiter.Condition; it is safe
// for concurrent use.
type Condition struct {
	now    func() time.Time
	settle time.Duration

	mu       sync.Mutex // guards the fields below
	failing  bool       // a failure was logged and its recovery was not
	since    time.Time  // when the logged failure started
	failures int        // Fail calls since then
	okSince  time.Time  // start of the current OK stretch; zero while failing
	log      *slog.Logger
	okMsg    string
	okArgs   []any
}

// Condition returns a new condition whose recovery is logged once it has stayed OK
// for the limiter's Settle time. The limiter's Flush checks it, so a recovery is
// logged even when nothing calls OK again. On a nil Limiter it logs its recovery at
// the first OK.
func (l *Limiter) Condition() *Condition {
	if l == nil {
		return &Condition{now: time.Now}
	}
	c := &Condition{now: l.now, settle: l.opt.Settle}
	l.mu.Lock()
	l.conds = append(l.conds, c)
	l.mu.Unlock()
	return c
}

// Fail records a failure. The first one since the condition was last healthy is
// logged at level ERROR with msg and args; later ones, including those after a short
// OK stretch, are only counted. It reports whether it logged.
func (c *Condition) Fail(log *slog.Logger, msg string, args ...any) bool {
	c.mu.Lock()
	c.okSince = time.Time{}
	c.failures++
	if c.failing {
		c.mu.Unlock()
		return false
	}
	c.failing, c.since, c.failures = true, c.now(), 1
	c.mu.Unlock()
	if log != nil {
		log.Error(msg, args...)
	}
	return true
}

// OK records that the condition holds again. Its recovery is logged, at level INFO
// with msg, args and the attributes failures and failing_for_s, once it has been OK
// for the settle time: now, at a later OK, or at a flush. It reports whether it
// logged.
func (c *Condition) OK(log *slog.Logger, msg string, args ...any) bool {
	c.mu.Lock()
	if !c.failing {
		c.mu.Unlock()
		return false
	}
	now := c.now()
	if c.okSince.IsZero() {
		c.okSince = now
	}
	c.log, c.okMsg, c.okArgs = log, msg, args
	c.mu.Unlock()
	return c.check(now)
}

// Failing reports whether a failure was logged and its recovery was not.
func (c *Condition) Failing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failing
}

// check logs the recovery if the condition has been OK for the settle time.
func (c *Condition) check(now time.Time) bool {
	c.mu.Lock()
	if !c.failing || c.okSince.IsZero() || now.Sub(c.okSince) < c.settle {
		c.mu.Unlock()
		return false
	}
	log, msg, failures := c.log, c.okMsg, c.failures
	args := append(c.okArgs[:len(c.okArgs):len(c.okArgs)],
		"failures", failures, "failing_for_s", int64(c.okSince.Sub(c.since).Round(time.Second)/time.Second))
	c.failing, c.failures, c.okSince = false, 0, time.Time{}
	c.log, c.okArgs = nil, nil
	c.mu.Unlock()
	if log != nil {
		log.Log(context.Background(), slog.LevelInfo, msg, args...)
	}
	return true
}
