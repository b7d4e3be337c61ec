package pipeline

import (
	"math/rand/v2"
	"time"
)

// Retry is a sink's retry policy.
type Retry struct {
	// Initial is the delay after the first failure. Zero means 1s.
	Initial time.Duration `yaml:"initial"`
	// Max caps the delay. Zero means 60s (ilagent's cap).
	Max time.Duration `yaml:"max"`
	// Jitter is the random fraction taken off each delay, 0 to 1. Zero means 0.3.
	Jitter float64 `yaml:"jitter"`
	// MaxAttempts dead-letters an event after this many failed attempts. Zero means
	// never give up.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxAge dead-letters an event that is still undelivered this long after it was
	// received. Zero means no limit.
	MaxAge time.Duration `yaml:"max_age"`
}

// WithDefaults returns r with zero fields replaced by defaults.
func (r Retry) WithDefaults() Retry {
	if r.Initial <= 0 {
		r.Initial = time.Second
	}
	if r.Max <= 0 {
		r.Max = 60 * time.Second
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	if r.Jitter <= 0 || r.Jitter > 1 {
		r.Jitter = 0.3
	}
	return r
}

// Delay returns the wait before the next try after attempts failures, at least hint
// (a Retry-After from the peer).
func (r Retry) Delay(attempts int, hint time.Duration) time.Duration {
	d := r.Initial
	for i := 1; i < attempts && d < r.Max; i++ {
		d *= 2
	}
	if d > r.Max {
		d = r.Max
	}
	if j := time.Duration(float64(d) * r.Jitter * rand.Float64()); j > 0 {
		d -= j
	}
	if hint > d {
		d = hint
	}
	return d
}
