package adapters

import "time"

// The bounds of ReconnectDelay: ilagent's MQTT reconnect backoff, used by every
// source that reconnects or rejoins after a failure.
const (
	MinReconnectDelay = 100 * time.Millisecond
	MaxReconnectDelay = 30 * time.Second
)

// ReconnectDelay is the wait before reconnect attempt n (0-based) after n
// consecutive failures: 100 ms · 2ⁿ, capped at 30 s. A source resets n once it made
// progress.
func ReconnectDelay(n int) time.Duration {
	if n < 0 {
		n = 0
	}
	if n > 9 {
		return MaxReconnectDelay
	}
	return min(MinReconnectDelay<<n, MaxReconnectDelay)
}
