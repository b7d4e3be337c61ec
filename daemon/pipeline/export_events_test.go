package pipeline

import (
	"runtime"
	"time"
)

// LaneHeld reports whether the lock of sink's lane stays taken for a whole second: held
// by the calling goroutine itself, for instance, which then cannot release it. A lock
// another goroutine holds for a moment is not reported.
func LaneHeld(p *Pipeline, sink string) bool {
	l := p.sinks.Load().byName[sink]
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); runtime.Gosched() {
		if l.mu.TryLock() {
			l.mu.Unlock()
			return false
		}
	}
	return true
}
