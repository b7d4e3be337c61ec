package lifecycle

// The catalogue is the one definition of every lifecycle event: the publisher
// builds each event's data from it (Data.check refuses a member it does not list),
// the AsyncAPI document and the /asyncdoc page are generated from it, and
// docs/lifecycle-events.md is checked against it (TestCatalogueDocumented).

// The event types. The names are part of the wire contract and never change.
const (
	TypeNodeRegistered       = "edge.node.registered"
	TypeNodeStarted          = "edge.node.started"
	TypeNodeVersionChanged   = "edge.node.version_changed"
	TypeNodeStatusChanged    = "edge.node.status_changed"
	TypeNodeStopping         = "edge.node.stopping"
	TypeDeliveryDeadLettered = "edge.node.delivery_dead_lettered"
	TypeCommandCreated       = "edge.command_execution.created"
	TypeCommandCompleted     = "edge.command_execution.completed"
	TypeCommandFailed        = "edge.command_execution.failed"
	TypeCommandExpired       = "edge.command_execution.expired"
	TypeAlertRelayed         = "edge.alert.relayed"
)

// JSON types of a data member, as JSON Schema names them.
const (
	String  = "string"
	Integer = "integer"
	Strings = "array" // of strings
)

// Field is one member of an event's data.
type Field struct {
	Name     string
	Type     string // String, Integer or Strings
	Nullable bool   // null is a value it can have
	Doc      string
	Example  any // string, int64, []string or nil
}

// EventType is one entry of the catalogue.
type EventType struct {
	Type string
	// When says when the event is emitted.
	When string
	// OptIn is true for a type that is off unless the configuration turns it on.
	OptIn bool
	Data  []Field
}

var (
	fNodeID  = Field{Name: "node_id", Type: String, Doc: "The node id: generated once, kept in the store.", Example: "01JE5Q2W9RZ7K3M4N5P6Q7R8ST"}
	fVersion = Field{Name: "version", Type: String, Doc: "edgerelay's version.", Example: "1.4.0"}
	fSink    = Field{Name: "sink", Type: String, Doc: "The sink's name in the configuration.", Example: "ilert-main"}
	fEventID = Field{Name: "event_id", Type: String, Doc: "The relayed event's id.", Example: "01JE5Q3A0B1C2D3E4F5G6H7J8K"}
	fKey     = Field{Name: "key", Type: String, Doc: "The relayed event's ordering key (the alert key), empty when it has none.", Example: "pump-7/pressure"}
	fReason  = Field{Name: "reason", Type: String, Doc: "Why, in a short sentence (secrets redacted, at most 256 bytes).", Example: "permanent: 400 Bad Request"}
	fItemID  = Field{Name: "item_id", Type: String, Doc: "The edge connector's item id.", Example: "99"}
	fAlertID = Field{Name: "alert_id", Type: String, Doc: "The ilert alert id of the item, empty when it has none.", Example: "123456"}
	fExit    = Field{Name: "exit_code", Type: Integer, Nullable: true, Doc: "The script's exit status; null until it ended, and when it was killed.", Example: nil}
	fDur     = Field{Name: "duration_ms", Type: Integer, Doc: "Milliseconds since the script started (0 for created).", Example: int64(0)}
)

func commandFields(exit any, dur int64) []Field {
	e, d := fExit, fDur
	e.Example, d.Example = exit, dur
	return []Field{fItemID, fAlertID, e, d}
}

// Catalogue lists every event type edgerelay publishes, in documentation order.
var Catalogue = []EventType{
	{Type: TypeNodeRegistered, When: "The first start on a new store, before edge.node.started.",
		Data: []Field{fNodeID, fVersion}},
	{Type: TypeNodeStarted, When: "Every start, once the sources have subscribed (or the startup grace ended).",
		Data: []Field{fNodeID, fVersion,
			{Name: "previous_version", Type: String, Nullable: true, Doc: "The version of the last start on this store; null on the first start.", Example: "1.3.2"},
			{Name: "adapters", Type: Strings, Doc: "The adapter types compiled into this binary.", Example: []string{"ilert", "mqtt", "stdout"}},
			{Name: "sources", Type: Strings, Doc: "The configured sources' names.", Example: []string{"plc-alarms"}},
			{Name: "sinks", Type: Strings, Doc: "The configured sinks' names.", Example: []string{"ilert-main"}},
		}},
	{Type: TypeNodeVersionChanged, When: "A start whose version differs from the one recorded at the last start (after edge.node.started).",
		Data: []Field{
			{Name: "from", Type: String, Doc: "The version recorded at the last start.", Example: "1.3.2"},
			{Name: "to", Type: String, Doc: "The version now running.", Example: "1.4.0"},
		}},
	{Type: TypeNodeStatusChanged, When: "The node's health state changes between ok, degraded and not_ready: a sink or source goes down or comes back, a store is quarantined, a breaker opens, the lifecycle broker becomes unreachable.",
		Data: []Field{
			{Name: "from", Type: String, Doc: "The state before: ok, degraded or not_ready.", Example: "ok"},
			{Name: "to", Type: String, Doc: "The state now: ok, degraded or not_ready.", Example: "degraded"},
			{Name: "component", Type: String, Doc: "The component whose condition changed (sink:<name>, source:<name>, store, events …).", Example: "sink:ilert-main"},
			{Name: "reason", Type: String, Doc: "The condition and its detail (secrets redacted, at most 256 bytes).", Example: "connected: dial tcp 10.0.0.5:443: connection refused"},
		}},
	{Type: TypeNodeStopping, When: "SIGTERM or SIGINT received (or a fatal error), before the drain; flushed to the broker for a short bounded time.",
		Data: []Field{
			{Name: "reason", Type: String, Doc: "Why the daemon stops.", Example: "signal: terminated"},
			{Name: "queued", Type: Integer, Doc: "Events waiting in the outboxes at that moment.", Example: int64(3)},
		}},
	{Type: TypeDeliveryDeadLettered, When: "An event is moved to a sink's dead letters.",
		Data: []Field{fSink, fEventID, fKey, fReason}},
	{Type: TypeCommandCreated, When: "The edge connector's script mode starts a script for one item.",
		Data: commandFields(nil, 0)},
	{Type: TypeCommandCompleted, When: "The script for an item exited with status 0.",
		Data: commandFields(int64(0), 412)},
	{Type: TypeCommandFailed, When: "The script for an item exited with another status, was killed by a signal, could not be started, or was stopped by the daemon's shutdown (exit_code null for the last three; the item runs again after a restart).",
		Data: commandFields(int64(1), 97)},
	{Type: TypeCommandExpired, When: "The script for an item ran past its timeout and was killed.",
		Data: commandFields(nil, 30000)},
	{Type: TypeAlertRelayed, When: "Opt-in (events.alert_relayed, off by default): each event delivered to a sink.", OptIn: true,
		Data: []Field{
			{Name: "source", Type: String, Doc: "The source the event came from.", Example: "plc-alarms"},
			fSink, fEventID, fKey,
		}},
}

// Lookup returns the catalogue entry of typ.
func Lookup(typ string) (EventType, bool) {
	for _, t := range Catalogue {
		if t.Type == typ {
			return t, true
		}
	}
	return EventType{}, false
}
