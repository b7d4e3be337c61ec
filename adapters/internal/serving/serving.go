// Package serving is what the HTTP sources (alerta, ilert_http) share about their
// Run: the publisher of the current Run, which handlers serving requests outside
// Run must see change, and the "serving" health condition that follows it.
package serving

import (
	"context"
	"sync"

	"github.com/edgerelay/edgerelay/adapters"
)

// Condition is the health condition a Slot keeps: true while Run serves.
const Condition = "serving"

// Slot holds the publisher of a source's current Run. Its methods are safe for
// concurrent use; the zero value holds none.
type Slot struct {
	mu  sync.RWMutex // guards pub
	pub adapters.Publisher
}

// NotStarted sets the health condition a source has before its first Run.
func NotStarted(h adapters.Health) { h.Set(Condition, false, "not started") }

// Publisher returns the publisher of the current Run, nil outside Run.
func (s *Slot) Publisher() adapters.Publisher {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pub
}

// Run holds pub until ctx ends, the condition true meanwhile, then returns nil: a
// source's Run whose requests are served by handlers outside it.
func (s *Slot) Run(ctx context.Context, pub adapters.Publisher, h adapters.Health) error {
	s.mu.Lock()
	s.pub = pub
	s.mu.Unlock()
	h.Set(Condition, true, "")
	<-ctx.Done()
	s.mu.Lock()
	s.pub = nil
	s.mu.Unlock()
	h.Set(Condition, false, "stopped")
	return nil
}
