package pipeline

import "time"

// SetCommitRetryDelay shortens the wait before a failed commit is tried again. Call it
// before Run.
func SetCommitRetryDelay(p *Pipeline, d time.Duration) { p.retryDelay = d }
