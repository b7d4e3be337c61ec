package hw

import "github.com/edgerelay/edgerelay/daemon/events"

// Facts are what the pattern is chosen from: the health tracker's node state and the
// store's and queues' facts, gathered by the daemon.
type Facts struct {
	// Running is false before the daemon runs and after it stopped.
	Running bool
	// ConfigInvalid is set when the configuration failed to load or validate.
	ConfigInvalid bool
	// Node is the tracker's node state: events.NodeOK (or empty), NodeDegraded or
	// NodeNotReady.
	Node string
	// StoreFault is set when the store was quarantined at start (events.
	// StoreQuarantined), cannot commit, or is full (at store.max_bytes).
	StoreFault bool
	// NearFull is set when the store is close to store.max_bytes.
	NearFull bool
	// Backlog is set when some sink is draining a backlog.
	Backlog bool
}

// Choose returns the pattern for f: the most urgent that applies, in the order
// config-invalid, storage-fault, near-full, degraded (the node degraded or not ready),
// draining, heartbeat; off when the daemon is not running and the configuration is
// fine.
func Choose(f Facts) Pattern {
	switch {
	case f.ConfigInvalid:
		return ConfigInvalid
	case !f.Running:
		return Off
	case f.StoreFault:
		return StorageFault
	case f.NearFull:
		return NearFull
	case f.Node == events.NodeDegraded || f.Node == events.NodeNotReady:
		return Degraded
	case f.Backlog:
		return Draining
	}
	return Heartbeat
}
