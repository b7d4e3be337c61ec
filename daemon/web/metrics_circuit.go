package web

import (
	"slices"
	"sync"
)

// MetricSinkCircuit is 1 for the state a sink's circuit breaker is in now
// (adapters.Deps.Circuit: "closed", "open", "half_open") and 0 for the others, by
// sink and state.
const MetricSinkCircuit = "edgerelay_sink_circuit_state"

// circuitStates are the states every sink that reports a circuit has a series for.
var circuitStates = []string{"closed", "open", "half_open"}

// circuits holds each reporting sink's current state.
type circuits struct {
	mu  sync.Mutex // guards cur
	cur map[string]string
}

func (c *circuits) get(sink string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur[sink]
}

// SinkCircuit records that sink's circuit breaker is now in state: its series reads
// 1 and the series of every other state 0. The first report creates the series of
// all three states (and of state, if it is another), so that a rate or an alert on
// "open" works before the circuit first opens.
func (m *Metrics) SinkCircuit(sink, state string) {
	m.circuits.mu.Lock()
	if m.circuits.cur == nil {
		m.circuits.cur = map[string]string{}
	}
	_, seen := m.circuits.cur[sink]
	m.circuits.cur[sink] = state
	m.circuits.mu.Unlock()
	var states []string
	if !seen {
		states = circuitStates
	}
	if !slices.Contains(circuitStates, state) {
		states = append(slices.Clone(states), state)
	}
	for _, s := range states {
		m.callbackGauge(series(MetricSinkCircuit, "sink", sink, "state", s), func() float64 {
			if m.circuits.get(sink) == s {
				return 1
			}
			return 0
		})
	}
}
