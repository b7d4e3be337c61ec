package adapters

import (
	"errors"
	"fmt"
)

// Transform rewrites events on a route before they are stored for the route's sinks:
// an ilert route turns a raw MQTT or Kafka message into an ilert event, heartbeat or
// policy update, so that what the store holds is what the sink sends and an invalid
// message is refused before it is acknowledged upstream.
//
// Transform must be safe for concurrent use, must not modify e and must not block: it
// runs on the publishing source's goroutine. It returns the event to store (e itself
// when nothing changes), an error wrapping [ErrSkip] when the event is deliberately
// not for this route (filtered out, a topic the transform does not handle), or any
// other error when the event cannot be converted; the daemon then applies the
// rejects.invalid policy (by default the event is kept as a dead letter with the
// error as the reason).
type Transform interface {
	Transform(e *Event) (*Event, error)
}

// TransformFunc adapts a function to the Transform interface.
type TransformFunc func(e *Event) (*Event, error)

// Transform calls f.
func (f TransformFunc) Transform(e *Event) (*Event, error) { return f(e) }

// ErrSkip marks an event a transform drops on purpose.
var ErrSkip = errors.New("skipped")

// Skip returns an error wrapping ErrSkip with the reason, for logs and metrics.
func Skip(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrSkip, fmt.Sprintf(format, a...))
}

// IsSkip reports whether err marks a deliberate skip.
func IsSkip(err error) bool { return errors.Is(err, ErrSkip) }
