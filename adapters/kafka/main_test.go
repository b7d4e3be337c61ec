package kafka

import (
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// The tests that need the in-process kfake cluster carry the kfake build tag until
// go.mod requires a franz-go release kfake compiles against (v1.22.1 or later).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// healthRec records health conditions.
type healthRec struct {
	mu     sync.Mutex // guards conds
	conds  map[string]bool
	detail map[string]string
}

func newHealthRec() *healthRec {
	return &healthRec{conds: map[string]bool{}, detail: map[string]string{}}
}

func (h *healthRec) Set(cond string, ok bool, detail string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conds[cond] = ok
	h.detail[cond] = detail
}

// SetDegraded records like Set: the Kafka source reports no degraded condition.
func (h *healthRec) SetDegraded(cond string, ok bool, detail string) { h.Set(cond, ok, detail) }

func (h *healthRec) get(cond string) (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conds[cond], h.detail[cond]
}
