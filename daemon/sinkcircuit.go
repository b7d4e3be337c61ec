package daemon

import "github.com/edgerelay/edgerelay/adapters"

// circuitFor returns the Deps.Circuit of the sink named name (nil for sources and
// transforms): each state its circuit breaker reports becomes the sink's
// edgerelay_sink_circuit_state series. The sink reports the matching health
// condition itself.
func (d *Daemon) circuitFor(dir adapters.Direction, name string) func(state string) {
	if dir != adapters.DirSink || d.m == nil {
		return nil
	}
	return func(state string) { d.m.SinkCircuit(name, state) }
}
