package adapters

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/logx"
)

// Sink delivers events to one downstream system.
//
// Calls, in order: Connect until it returns nil (the daemon backs off between tries
// and reports the error to the health tracker); then Send for each due event; then
// Close once. Send is called concurrently up to the MaxInFlight the sink registered,
// but never for two events with the same non-empty Key at the same time. Send must
// return promptly once ctx is done.
//
// Send's result decides the event's fate: nil means delivered (the outbox entry is
// removed); an error marked [Permanent] dead-letters it with the error as the reason;
// any other error schedules a retry with exponential backoff and jitter, no sooner
// than a [RetryAfter] hint carried by the error. An error that wraps
// [ErrNotConnected] additionally makes the daemon call Connect before the next Send.
//
// Close is called once, after the last Send has returned; it must release every
// resource and may be called even if Connect never succeeded.
type Sink interface {
	Connect(ctx context.Context) error
	Send(ctx context.Context, e *Event) error
	Close(ctx context.Context) error
}

// Source receives events from one upstream system and hands them to a Publisher.
//
// Run is called once per start, in its own goroutine. It blocks until ctx is done (then
// it returns nil) or until the source cannot continue (then it returns the error; the
// daemon logs it, marks the source unhealthy and calls Run again after a backoff).
//
// A source acknowledges an event upstream only once the done callback it passed to
// Publisher.Publish reported a settlement whose OK is true (stored, delivered,
// dead-lettered or dropped). Refused means the event was not accepted (store failure,
// an undeliverable event of a source requiring AckDelivered, shutdown): the source
// must leave it unacknowledged so that upstream redelivers it.
type Source interface {
	Run(ctx context.Context, pub Publisher) error
}

// Publisher is implemented by the daemon and handed to Source.Run.
type Publisher interface {
	// Publish hands e to the daemon. It returns as soon as the event is queued for
	// routing; it blocks only to apply back-pressure (the store is not keeping up or is
	// failing) and returns ctx.Err() if ctx ends first, in which case done is never
	// called. Otherwise done is called exactly once, from any goroutine, possibly before
	// Publish returns, with the event's settlement: Stored once every sink the event
	// routes to has it durably stored or already delivered, Delivered once every one
	// delivered it, DeadLettered or Dropped when the relay settled it without
	// delivering it, Refused (with the error) when upstream must redeliver it. With
	// several sinks the outcome is the one of highest precedence (see [Outcome]).
	//
	// Events published by one goroutine keep their order per Key. done must not block.
	Publish(ctx context.Context, e *Event, done func(Settlement)) error
}

// PublisherFunc adapts a function to the Publisher interface.
type PublisherFunc func(ctx context.Context, e *Event, done func(Settlement)) error

// Publish calls f.
func (f PublisherFunc) Publish(ctx context.Context, e *Event, done func(Settlement)) error {
	return f(ctx, e, done)
}

// PublishWait publishes e and waits until done is called. It returns nil when the
// event was accepted (any outcome but Refused), else Publish's error, the refusal's
// error or ctx.Err(). It suits sources that acknowledge one event at a time (HTTP
// ingest, one-shot commands); PublishSettle also returns the settlement.
func PublishWait(ctx context.Context, pub Publisher, e *Event) error {
	_, err := PublishSettle(ctx, pub, e)
	return err
}

// PublishSettle is PublishWait returning the settlement as well; it is Refused
// whenever the error is not nil.
func PublishSettle(ctx context.Context, pub Publisher, e *Event) (Settlement, error) {
	ch := make(chan Settlement, 1)
	if err := pub.Publish(ctx, e, func(s Settlement) { ch <- s }); err != nil {
		return Refuse(err), err
	}
	select {
	case s := <-ch:
		if !s.OK() {
			if s.Err == nil {
				s = Refuse(ErrNoOutcome)
			}
			return s, s.Err
		}
		return s, nil
	case <-ctx.Done():
		return Refuse(ctx.Err()), ctx.Err()
	}
}

// Health is the slice of the daemon's health tracker an adapter may use. Conditions are
// named by the adapter ("connected", "subscribed", "tls"); the daemon qualifies them
// with the adapter name. A nil Health is never passed to an adapter.
//
// A condition is critical (Set) when the adapter cannot do its job: the daemon is then
// not ready (/ready answers 503). It is degraded (SetDegraded) when the adapter works
// but not fully, and the node should stay in service: a standby edge connector, an open
// circuit breaker, an unreachable lifecycle broker, TLS files that changed but cannot
// be used while the old connection holds. Degraded conditions are reported (/ready's
// component list with 200, the STATUS line, the event bus). One condition may be set
// either way at different times; the last call wins. Details must not contain secrets.
type Health interface {
	// Set records a critical condition: ok=false with a short human-readable detail
	// makes the adapter not ready; ok=true clears it.
	Set(condition string, ok bool, detail string)
	// SetDegraded records a degraded condition: ok=false with a short detail reports
	// the adapter degraded but leaves it ready; ok=true clears it.
	SetDegraded(condition string, ok bool, detail string)
}

// Deps is what the daemon hands to an adapter's constructor. It is a struct so that
// new fields never break existing adapters.
type Deps struct {
	// Name is the instance name from the configuration ("plant-alarms").
	Name string
	// Log is already narrowed with the adapter's kind and name.
	Log *slog.Logger
	// Health reports conditions shown on /ready, the status line and LEDs.
	Health Health
	// Now tells the time: the daemon sets it to Clock.Now. Never nil. (Adapters
	// written before Clock read it; new code may use either.)
	Now func() time.Time
	// Clock tells the time and makes the timers an adapter waits on (backoff,
	// periodic work), so that tests can drive them (see package clock). Never nil
	// when the daemon builds an adapter; a caller that gives none (a test, a
	// one-shot command) means clock.Real: use clock.Or(d.Clock).
	Clock clock.Clock
	// Version is the daemon's version, for User-Agent headers.
	Version string
	// HTTP mounts request handlers on the daemon's HTTP server (http.listen), for
	// sources that receive over HTTP. Nil when the daemon gives none (tests).
	HTTP Mounter
	// State is the source's persisted named state (cursor, offsets, node id), already
	// loaded from the store. The daemon gives it to sources only; nil for sinks and
	// transforms, and when a caller gives none (tests, one-shot commands).
	State State
	// Table opens the source's persisted keyed table called name (a name like a
	// State name: 1 to MaxStateName ASCII letters, digits, '.', '_' and '-',
	// starting with a letter or digit), loading its records from the store, with
	// limits l. Call it from the constructor. Opening a name again returns the same
	// Table, with the limits of the latest call. It fails for a bad name or limits,
	// and when the store cannot be read. `config check` gives a table that starts
	// empty and keeps its records in memory only. The daemon gives it to sources
	// only; nil for sinks and transforms, and when a caller gives none (tests,
	// one-shot commands).
	Table func(name string, l TableLimits) (Table, error)
	// Listen binds an HTTP listener of the source's own on cfg.Listen, over TLS (and
	// mutual TLS) as cfg.TLS says, and returns the Mounter of its routes. The listener
	// serves only what the source mounts (not /metrics, /health or /ready); the daemon
	// serves it and shuts it down with its HTTP server. Call it from the constructor:
	// the address is bound and the TLS files loaded at once, so a problem fails the
	// start. Nil for sinks and transforms, and when the daemon gives none (tests).
	Listen func(cfg ListenerConfig) (Mounter, error)
	// Role reports the source's role in a high-availability group (RoleActive,
	// RoleStandby, or a role of the adapter's own) with a short reason. Each change is
	// published on the daemon's event bus (SourceRoleChanged), and any role but
	// RoleActive is a degraded "role" condition: reported on /ready and the STATUS
	// line, the node stays in service. Repeating the current role does nothing. Nil
	// for sinks and transforms, and when the caller gives none (tests, one-shot
	// commands).
	Role func(role, reason string)
	// Circuit reports the state of a sink's circuit breaker (package breaker:
	// "closed", "open", "half_open") each time it changes; the daemon exports it as
	// edgerelay_sink_circuit_state{sink, state}, 1 for the current state and 0 for
	// the others. The sink reports the condition itself through Health. Nil for
	// sources and transforms, and when the caller gives none (tests): report nothing
	// then.
	Circuit func(state string)
	// Reject counts a request or connection the source refused before it became an
	// event (a missing token, a malformed or oversize body, a wrong method or path)
	// in edgerelay_source_rejects_total{source, reason}. reason is a short fixed
	// snake_case code, never an error text. Nil for sinks and transforms, and when the
	// caller gives none (tests): count nothing then.
	Reject func(reason string)
	// Command reports a command a sink runs for one edge connector item (the script
	// sink, for an event carrying the ilert_edge source's env.ILERT_EDGE_ITEM_ID
	// attribute): created when it starts, then completed, failed or expired. The
	// daemon publishes each on its event bus (lifecycle events
	// edge.command_execution.*). Nil for sources and transforms, and when the caller
	// gives none (tests): report nothing then.
	Command func(CommandReport)
	// Limiter rate-limits the adapter's repeated warnings (logx.Limiter.Warn with
	// Log): an attacker's or a failing upstream's thousandth line is counted, not
	// written. The daemon gives its one limiter; nil limits nothing.
	Limiter *logx.Limiter
}

// Previewer is implemented by a sink that can show, without sending anything, the
// request it would send for an event (`edgerelay config check --sample`): the
// request as it goes on the wire, with every credential it would carry shown as
// "***". A sink that would send nothing for e says why in skip.
type Previewer interface {
	Preview(e *Event) (request []byte, skip string, err error)
}

// CommandReport is one step of a command run for an edge connector item
// (Deps.Command).
type CommandReport struct {
	// State is CommandCreated, CommandCompleted, CommandFailed or CommandExpired.
	State   string
	ItemID  string
	AlertID string
	// Exited is true once the command exited by itself; ExitCode is then its status.
	Exited   bool
	ExitCode int
	// Duration is the time since the command started (0 for CommandCreated).
	Duration time.Duration
}

// The states of a CommandReport.
const (
	CommandCreated   = "created"
	CommandCompleted = "completed"
	CommandFailed    = "failed"
	CommandExpired   = "expired"
)

// Roles a source reports through Deps.Role.
const (
	RoleActive  = "active"  // doing its job: polling, consuming, serving
	RoleStandby = "standby" // ready to take over; another node does the job
)

// Mounter mounts HTTP handlers; net/http.ServeMux pattern syntax.
type Mounter interface {
	// Mount serves pattern with h. It fails when pattern is invalid or taken.
	Mount(pattern string, h http.Handler) error
}

// Info describes a registered adapter; the daemon reads it at startup.
type Info struct {
	// MaxInFlight bounds concurrent Send calls for a sink. Zero means 1. A sink whose
	// limit comes from its configuration implements InFlightLimiter as well.
	MaxInFlight int
}

// InFlightLimiter is implemented by sinks whose concurrency is configurable
// (max_in_flight): the daemon uses MaxInFlight instead of Info.MaxInFlight when it
// returns a positive number.
type InFlightLimiter interface {
	MaxInFlight() int
}

// NopHealth discards conditions. Adapter constructors use it when a caller (a test,
// a one-shot command) gives no Health.
type NopHealth struct{}

// Set does nothing.
func (NopHealth) Set(string, bool, string) {}

// SetDegraded does nothing.
func (NopHealth) SetDegraded(string, bool, string) {}
