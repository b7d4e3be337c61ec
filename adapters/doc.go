// Package adapters is the contract between edgerelay's daemon and the code that
// talks to the outside world.
//
// Every intake is a [Source] and every destination a [Sink]. Between them sits the
// daemon's store: a source hands each [Event] to a [Publisher]; the daemon routes it to
// one or more sinks, keeps it in each sink's durable outbox until that sink has
// delivered it, and tells the source when the event is safe. The source only then
// acknowledges upstream (MQTT PUBACK, Kafka offset commit, HTTP 2xx, poll cursor).
// That single rule gives at-least-once delivery on every path.
//
// # Lifecycle
//
// The daemon builds adapters from configuration through the [Registry]: the entry's
// Defaults are applied, the YAML section is decoded strictly over them, Validate is
// called, and New builds the adapter. Nothing is connected or started by New.
//
// Sinks: the daemon calls Connect until it returns nil (with backoff between tries),
// then Send for each due event, concurrently up to the MaxInFlight the sink was
// registered with, and never two events of the same ordering key at once. Send returning
// nil means the event is delivered. A Send error is retried with exponential backoff
// and jitter unless it is marked [Permanent], in which case the event is dead-lettered
// with the error text as the reason. A [RetryAfter] hint on the error is honoured as the
// earliest next attempt. [ErrNotConnected] (or an error wrapping it) makes the daemon call
// Connect again before the next Send. Close is called exactly once, after the last Send
// has returned.
//
// Sources: the daemon calls Run once in its own goroutine. Run returns nil when its
// context is cancelled, and an error when it cannot continue; the daemon logs the error,
// reports it to the health tracker and calls Run again after a backoff. A source must
// not acknowledge anything upstream before the completion callback it passed to
// Publish has been called with a [Settlement] whose OK is true (stored, delivered,
// dead-lettered or dropped); a refused event stays unacknowledged so that upstream
// redelivers it.
//
// A source that must remember something across restarts (a poll cursor, consumer
// offsets, a node id) keeps it in [Deps].State ([State]): small named values that
// the daemon stores under the source's instance name, commits with its group commits
// (coalesced, nothing for an unchanged value) and loads before the source is built.
//
// # Errors
//
// Classification happens once, in the adapter that saw the failure: transport errors,
// timeouts, HTTP 408, 429 and 5xx are retryable; other 4xx and malformed events are
// [Permanent]. The daemon never inspects error text.
package adapters
