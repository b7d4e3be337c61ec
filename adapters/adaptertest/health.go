package adaptertest

import (
	"sync"

	"github.com/edgerelay/edgerelay/adapters"
)

// HealthLog is an adapters.Health that records every change, critical or degraded
// alike, as "condition: detail" ("condition: ok" when it clears). Its methods are
// safe for concurrent use; the zero value is ready.
type HealthLog struct {
	mu  sync.Mutex // guards log
	log []string
}

// Set implements adapters.Health.
func (h *HealthLog) Set(c string, ok bool, d string) { h.SetDegraded(c, ok, d) }

// SetDegraded implements adapters.Health.
func (h *HealthLog) SetDegraded(c string, ok bool, d string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ok {
		d = "ok"
	}
	h.log = append(h.log, c+": "+d)
}

// Entries returns the changes so far, in order.
func (h *HealthLog) Entries() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.log...)
}

var _ adapters.Health = (*HealthLog)(nil)
