package adapters

import (
	"errors"
	"time"
)

// ErrNotConnected tells the daemon that the sink lost its connection: the event is
// retried and Connect is called again before the next Send.
var ErrNotConnected = errors.New("not connected")

// ErrNoOutcome is the error of a settlement that is not OK but carries no error of
// its own (a done callback called with the zero Settlement): it counts as refused.
var ErrNoOutcome = errors.New("event settled without an outcome")

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the event is dead-lettered with err's
// text as the reason. Use it for 4xx answers other than 408 and 429, schema
// rejections and events the sink can never accept. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as retryable no sooner than after d (an HTTP Retry-After
// header, a broker's throttle hint). The daemon uses the larger of d and its own
// backoff. RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d}
}

// RetryDelay returns the hint set by RetryAfter, if any.
func RetryDelay(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}
