package pipeline

import (
	"testing"
	"time"
)

// SetCommitRetryDelay shortens the wait before a failed commit is tried again. Call it
// before Run.
func SetCommitRetryDelay(p *Pipeline, d time.Duration) { p.retryDelay = d }

// RetryWaiting counts the publish jobs waiting in p's retry list after failed commits.
func RetryWaiting(p *Pipeline) int64 { return p.retry.waiting.Load() }

// WithoutInvariantChecks turns the lane invariant checks off for a benchmark (they walk
// the lane after every operation, which production never does) until tb ends. Call it
// before the pipeline starts.
func WithoutInvariantChecks(tb testing.TB) {
	old := checkHook
	checkHook = nil
	tb.Cleanup(func() { checkHook = old })
}
