// Package logx keeps edgerelay's logs readable when something repeats a thousand
// times a second: an attacker guessing broker passwords, a client sending oversize
// packets, a sink's upstream failing every request, a full disk.
//
// # The limiter
//
// A [Limiter] rate-limits log lines by key: the component that logs (a sink, a
// source, "broker", "store") and the message. Each key has a token bucket: a burst of
// lines passes at once, then one line per interval. A line the bucket refuses is
// counted, not written; the next line that passes, or a [Limiter.Flush] once a token
// is back, carries the count in its message and as the attribute suppressed:
//
//	level=WARN msg="broker refused a connection (suppressed 1234 similar in the last 60s)" reason=auth_failed ... suppressed=1234
//
// A flush writes the count with the attributes of the last suppressed line, so a
// storm that stops is still accounted for. The daemon runs [Limiter.Run] to flush
// every few seconds and flushes once more at shutdown ([Limiter.FlushAll]).
//
// It is an explicit API used at the noisy call sites, not a slog.Handler wrapper: a
// handler would see every line (lifecycle lines that must never be dropped, a
// library's debug lines) and could only guess the key from the level, the message and
// some attributes, while the call site knows which attributes make two lines
// "similar" (the sink, the reason) and which only vary (an event id, a remote port).
// Lines that are not rate-limited keep going to the logger unchanged.
//
// # Conditions
//
// A [Condition] logs a failing state and its recovery once each however often it
// flaps: a disk that fails, recovers for one commit and fails again prints one ERROR
// line, and one INFO line once it has stayed healthy for the settle time (checked at
// each OK and at each flush), with the number of failures in between.
//
// The package is a leaf (the standard library and adapters/clock) so that the daemon,
// the store and adapters can all use it; times come from the daemon's clock, so tests
// drive it with clocktest.Fake.
package logx

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
)

// Defaults of Options.
const (
	// DefaultBurst is how many lines of one key pass before the limit applies.
	DefaultBurst = 5
	// DefaultInterval is how often a key may log once its burst is spent.
	DefaultInterval = time.Minute
	// DefaultSettle is how long a Condition must stay OK before its recovery is
	// logged.
	DefaultSettle = 10 * time.Second
	// DefaultFlushEvery is how often Run flushes.
	DefaultFlushEvery = 5 * time.Second
)

// Options configures a Limiter. The zero value uses the defaults and the real clock.
type Options struct {
	// Burst is how many lines of one key pass at once. Zero or less means
	// DefaultBurst.
	Burst int
	// Interval is the time one more line of a key needs once its burst is spent.
	// Zero or less means DefaultInterval.
	Interval time.Duration
	// Settle is how long a Condition must stay OK before its recovery is logged.
	// Zero or less means DefaultSettle.
	Settle time.Duration
	// FlushEvery is the period of Run. Zero or less means DefaultFlushEvery.
	FlushEvery time.Duration
	// Clock tells the time and times Run. Nil means clock.Real.
	Clock clock.Clock
	// Now tells the time when set, overriding Clock.Now (a test that moves time by
	// hand without timers).
	Now func() time.Time
}

// Limiter rate-limits log lines per key. It is safe for concurrent use. A nil
// *Limiter limits nothing: every line is written.
type Limiter struct {
	opt Options
	now func() time.Time

	mu    sync.Mutex // guards keys, conds
	keys  map[key]*bucket
	conds []*Condition
}

type key struct{ component, msg string }

// bucket is one key's token bucket and what it suppressed since its last line.
type bucket struct {
	tokens     float64
	refilled   time.Time // when tokens was last brought up to date
	lastLine   time.Time // when a line of this key was last written
	suppressed int
	// What the last suppressed line would have written, for the flush.
	log   *slog.Logger
	level slog.Level
	args  []any
}

// New returns a Limiter.
func New(opt Options) *Limiter {
	if opt.Burst <= 0 {
		opt.Burst = DefaultBurst
	}
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.Settle <= 0 {
		opt.Settle = DefaultSettle
	}
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = DefaultFlushEvery
	}
	opt.Clock = clock.Or(opt.Clock)
	now := opt.Now
	if now == nil {
		now = opt.Clock.Now
	}
	return &Limiter{opt: opt, now: now, keys: map[key]*bucket{}}
}

// Warn logs msg at level WARN unless component's msg has spent its tokens. It reports
// whether the line was written.
func (l *Limiter) Warn(log *slog.Logger, component, msg string, args ...any) bool {
	return l.Log(log, slog.LevelWarn, component, msg, args...)
}

// Error is Warn at level ERROR.
func (l *Limiter) Error(log *slog.Logger, component, msg string, args ...any) bool {
	return l.Log(log, slog.LevelError, component, msg, args...)
}

// Log writes msg with args to log at level, keyed by (component, msg), unless the
// key's bucket is empty; then it counts the line. A line written after suppressed
// ones says how many in its message and in the attribute suppressed. msg must not be
// empty. It reports whether the line was written.
func (l *Limiter) Log(log *slog.Logger, level slog.Level, component, msg string, args ...any) bool {
	if log == nil {
		return false
	}
	if l == nil {
		log.Log(context.Background(), level, msg, args...)
		return true
	}
	l.mu.Lock()
	now := l.now()
	k := key{component, msg}
	b := l.keys[k]
	if b == nil {
		b = &bucket{tokens: float64(l.opt.Burst), refilled: now}
		l.keys[k] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		b.suppressed++
		b.log, b.level, b.args = log, level, args
		l.mu.Unlock()
		return false
	}
	b.tokens--
	n, since := b.suppressed, now.Sub(b.lastLine)
	b.suppressed, b.lastLine = 0, now
	b.log, b.args = nil, nil
	l.mu.Unlock()
	write(log, level, msg, n, since, args)
	return true
}

// refill adds the tokens earned since b was last refilled, up to the burst.
func (l *Limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.refilled); d > 0 {
		b.tokens = min(float64(l.opt.Burst), b.tokens+float64(d)/float64(l.opt.Interval))
		b.refilled = now
	}
}

// write logs one line, with the suppressed count when there is one.
func write(log *slog.Logger, level slog.Level, msg string, suppressed int, since time.Duration, args []any) {
	if suppressed > 0 {
		msg = fmt.Sprintf("%s (suppressed %d similar in the last %s)", msg, suppressed, seconds(since))
		args = append(args[:len(args):len(args)], "suppressed", suppressed)
	}
	log.Log(context.Background(), level, msg, args...)
}

// seconds formats d as whole seconds, "60s".
func seconds(d time.Duration) string {
	return fmt.Sprintf("%ds", int64(d.Round(time.Second)/time.Second))
}

// Flush writes, for every key with suppressed lines and a token to spend, one line
// with the count and the last suppressed line's attributes, and logs the recoveries
// of Conditions that have settled. Keys with nothing pending and a full bucket are
// forgotten, so the limiter's memory follows the keys in use.
func (l *Limiter) Flush() { l.flush(false) }

// FlushAll is Flush that writes every pending count whatever the tokens: at shutdown.
func (l *Limiter) FlushAll() { l.flush(true) }

func (l *Limiter) flush(all bool) {
	if l == nil {
		return
	}
	type line struct {
		log   *slog.Logger
		level slog.Level
		msg   string
		n     int
		since time.Duration
		args  []any
	}
	var out []line
	l.mu.Lock()
	now := l.now()
	for k, b := range l.keys {
		l.refill(b, now)
		if b.suppressed > 0 && (all || b.tokens >= 1) {
			b.tokens = max(b.tokens-1, 0)
			out = append(out, line{b.log, b.level, k.msg, b.suppressed, now.Sub(b.lastLine), b.args})
			b.suppressed, b.lastLine = 0, now
			b.log, b.args = nil, nil
		}
		if b.suppressed == 0 && b.tokens >= float64(l.opt.Burst) {
			delete(l.keys, k)
		}
	}
	conds := l.conds
	l.mu.Unlock()
	for _, o := range out {
		write(o.log, o.level, o.msg, o.n, o.since, o.args)
	}
	for _, c := range conds {
		c.check(now)
	}
}

// Run flushes every FlushEvery until ctx ends, then flushes every pending count
// (FlushAll) and returns nil.
func (l *Limiter) Run(ctx context.Context) error {
	t := l.opt.Clock.NewTicker(l.opt.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.FlushAll()
			return nil
		case <-t.C():
			l.Flush()
		}
	}
}

// Pending reports how many lines are suppressed and not yet accounted for by a
// written line, over every key: for tests.
func (l *Limiter) Pending() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, b := range l.keys {
		n += b.suppressed
	}
	return n
}
