package edge

import "time"

// SetMinInterval lowers the least poll_interval and standby_interval Validate
// accepts, for tests that run the whole daemon in real time; it returns the undo.
func SetMinInterval(d time.Duration) (undo func()) {
	old := minInterval
	minInterval = d
	return func() { minInterval = old }
}
