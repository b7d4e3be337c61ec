// Package clock is edgerelay's time source: the current time plus the timers and
// tickers that backoff, commit windows, deliver windows and the status LED's blink
// patterns (package hw) wait on. Production code takes a [Clock]
// (adapters.Deps.Clock, pipeline.Options.Clock, store.WriterOptions.Clock,
// daemon.Options.Clock) and uses [Real] when none is given.
// The pipeline, the store writer, the daemon's own timers (source restarts, the drain
// timeout, the status loop, state commit retries) and the adapters' timers and tickers
// (MQTT reconnect backoff, TLS reload ticker and SUBACK, UNSUBACK, idle and close
// waits; Kafka start and rejoin backoff, commit ticker and session quiesce; the ilert
// self-heartbeat) all run on it.
//
// What still reads the time package directly:
//
//   - daemon/broker's bridge: its start-grace timer and the Created and Received
//     stamps of the events it bridges;
//   - daemon/sdnotify's watchdog ticker;
//   - the store's own stamps (the time of the last commit, the time a batch applies to
//     its records, the name of a backup file) and its wait for the lock file;
//   - adapters/internal/httpc's reading of an HTTP-date Retry-After;
//   - I/O bounds: context deadlines around a TLS handshake, an HTTP request, an
//     ingest publish, a self-heartbeat ping and the web server's shutdown, and the
//     client libraries' own timers (paho's keepalive, connect timeout and disconnect
//     quiesce; sarama's retries and heartbeats; net/http's);
//   - the command-line tools (cmd/edgerelay's queue listing, cmd/edgerelay-bench).
//
// # Faking time in tests
//
// Two ways, chosen per test:
//
//   - testing/synctest (Go 1.25+) with the [Real] clock, for tests whose goroutines
//     all live in the test process and block only on channels, mutexes and timers
//     (the pipeline and the writer with in-process peers, a bbolt file). Inside a
//     bubble the time package itself is virtual: time advances only when every
//     goroutine is durably blocked, so a window or a backoff takes no wall time and
//     cannot be stretched by a loaded machine, and synctest.Wait reaches quiescence
//     before a test asserts that something did not happen. It also covers time the
//     code reads indirectly (context deadlines, a peer's own sleeps).
//   - a fake clock ([clocktest.Fake], advanced by hand), for tests that talk to a
//     real peer over TCP (an embedded broker, kfake, httptest): a goroutine blocked
//     on a socket is not durably blocked, so synctest cannot tell idle from busy
//     there. A fake clock leaves the network real and moves only the time the code
//     under test reads through its Clock; the test advances it to the next armed
//     timer ([clocktest.Fake.Next]) and checks what happened at that instant. It is
//     also the clock for LED pattern tests against a fake pin.
//
// The interface is therefore the seam for the second case and the explicit record
// of which code depends on time; synctest needs nothing from it.
//
// The package is a leaf (standard library only) so that adapters, the daemon and
// the store can all import it without the store learning anything about adapters.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and makes timers. Implementations are safe for concurrent
// use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Since returns the time elapsed since t.
	Since(t time.Time) time.Duration
	// NewTimer returns a timer that sends the time on its channel once d has
	// passed, like time.NewTimer.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine once d has passed, like
	// time.AfterFunc; the returned timer's C is nil.
	AfterFunc(d time.Duration, f func()) Timer
	// NewTicker returns a ticker that sends the time on its channel every d, like
	// time.NewTicker; d must be positive.
	NewTicker(d time.Duration) Ticker
}

// Timer is a single event, as time.Timer.
type Timer interface {
	// C is the channel the time is sent on; nil for AfterFunc timers.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was still armed.
	Stop() bool
	// Reset re-arms the timer to fire after d; it reports whether it was armed.
	Reset(d time.Duration) bool
}

// Ticker delivers ticks at intervals, as time.Ticker.
type Ticker interface {
	// C is the channel the ticks are sent on.
	C() <-chan time.Time
	// Stop turns the ticker off; no more ticks are sent.
	Stop()
	// Reset stops the ticker and restarts it with period d.
	Reset(d time.Duration)
}

// Real is the system clock (the time package).
var Real Clock = realClock{}

// Or returns c, or Real when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Real
	}
	return c
}

// Sleep waits d on c or until ctx ends; it reports whether the whole wait ran out.
func Sleep(ctx context.Context, c Clock, d time.Duration) bool {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

type realClock struct{}

func (realClock) Now() time.Time                  { return time.Now() }
func (realClock) Since(t time.Time) time.Duration { return time.Since(t) }
func (realClock) NewTimer(d time.Duration) Timer  { return realTimer{time.NewTimer(d)} }
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}
func (realClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }
