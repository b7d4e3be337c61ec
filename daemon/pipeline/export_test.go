package pipeline

import "time"

// SetCommitRetryDelay shortens the wait before a failed commit is tried again. Call it
// before Run.
func SetCommitRetryDelay(p *Pipeline, d time.Duration) { p.retryDelay = d }

// RetryWaiting counts the publish jobs waiting in p's retry list after failed commits.
func RetryWaiting(p *Pipeline) int64 { return p.retry.waiting.Load() }
