package adapters

import "fmt"

// Outcome is what became of a published event, as the done callback reports it.
//
// The values are ordered by precedence: when an event goes to several sinks, the
// settlement the source receives carries the highest outcome among them (see
// [Settlement.Merge]). Refused beats everything (one sink not having the event means
// upstream must redeliver it), then Stored (some sink still has to deliver it), then
// DeadLettered (settled, but some sink will never get it), then Delivered, then
// Dropped.
type Outcome uint8

// The outcomes, lowest precedence first. The zero value is no outcome at all: the
// identity of Merge, never reported to a source.
const (
	// Dropped: a policy discarded the event (unrouted, skipped by a route's
	// transform, rejected with policy drop). Nothing of it is kept.
	Dropped Outcome = iota + 1
	// Delivered: every sink the event routes to delivered it.
	Delivered
	// DeadLettered: the event is durably in a dead-letter bucket: a sink refused it
	// permanently or gave up on it, or the rejects policy kept it in @rejected.
	DeadLettered
	// Stored: the event is durable in the outbox of every sink still waiting for it.
	Stored
	// Refused: the relay does not have the event (store failure, a sink that could
	// not deliver it to a source requiring AckDelivered, shutdown); upstream must
	// redeliver it. Settlement.Err says why.
	Refused
)

var outcomeNames = [...]string{"none", "dropped", "delivered", "dead_lettered", "stored", "refused"}

// String returns the outcome's lowercase name ("dead_lettered").
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Settlement is the report of a done callback: the outcome and, for Refused, the
// error. A source acknowledges upstream unless the outcome is Refused.
type Settlement struct {
	Outcome Outcome
	// Err is why the event was refused; nil for every other outcome.
	Err error
	// Reason is why the event was dead-lettered or dropped, when known ("rejected:
	// 400 Bad Request", "unrouted: no route matches topic …"); empty otherwise.
	Reason string
}

// Refuse returns the Refused settlement for err (which must not be nil).
func Refuse(err error) Settlement { return Settlement{Outcome: Refused, Err: err} }

// Settled returns the settlement of outcome o with an optional reason.
func Settled(o Outcome, reason string) Settlement { return Settlement{Outcome: o, Reason: reason} }

// OK reports whether the source may acknowledge upstream: the outcome is known and
// not Refused.
func (s Settlement) OK() bool { return s.Outcome != 0 && s.Outcome != Refused }

// Merge combines the settlements of two parts of one event (one per sink): the one
// with the higher outcome wins, the receiver on a tie. The zero Settlement is its
// identity.
func (s Settlement) Merge(o Settlement) Settlement {
	if o.Outcome > s.Outcome {
		return o
	}
	return s
}

// String describes the settlement for logs ("refused: store full").
func (s Settlement) String() string {
	switch {
	case s.Err != nil:
		return s.Outcome.String() + ": " + s.Err.Error()
	case s.Reason != "":
		return s.Outcome.String() + ": " + s.Reason
	}
	return s.Outcome.String()
}

// Ack is the acknowledgement a source requires before it acknowledges upstream.
type Ack string

// The acknowledgement modes; the values are those of a source's YAML ack key.
const (
	// AckStored: the source acknowledges once every sink has the event durably
	// stored or delivered (outcome Stored or better). The default.
	AckStored Ack = "stored"
	// AckDelivered: the source acknowledges only once every sink has delivered the
	// event; nothing is stored for it, and anything short of delivery except a dead
	// letter settles it Refused for upstream to redeliver.
	AckDelivered Ack = "delivered"
)
