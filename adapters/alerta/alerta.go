// Package alerta is the Alerta federation's shared model (spec alerta-federation.md):
// the alert, action and heartbeat bodies with Alerta 9.1's validation (§5.1) and the
// exact bytes its forwarder puts on the wire (§2), the alarm model's transitions
// (§5.2), de-duplication and correlation (§6), loop prevention (§3) and the forward
// filter words (§1.3). The receiver (source type alerta, package receiver), the
// forwarder (sink type alerta, package forward) and the Alerta fake (package
// alertatest) are built on it; Hawk is package hawk.
//
// # Events
//
// An event of the federation carries what it is in its attributes, so that every sink
// can tell an alert from an action without parsing the payload:
//
//	op         Kind       Key              Payload                       Attrs
//	alert      alert      stored alert id  Alert.Encode (§2.1 bytes)     alerta.op, alerta.id, alerta.dedup, alerta.loop
//	action     alert      stored alert id  Action.Encode (§2.2 bytes)    alerta.op, alerta.id, alerta.dedup, alerta.loop, alerta.resend
//	delete     alert      stored alert id  empty                         alerta.op, alerta.id, alerta.dedup, alerta.loop, alerta.resend
//	heartbeat  heartbeat  origin           Heartbeat.Encode              alerta.op, alerta.loop
//
// The Key is the id of the alert as this node stores it (the id of its first
// instance, whatever lastReceiveId a duplicate carried), so an action never overtakes
// its alert at any sink. alerta.loop is the X-Alerta-Loop value to send onward: the
// incoming header with this node's identity appended (LoopAppend). alerta.resend is
// the alert's last body, for a destination that answers an action or delete with 404
// because it missed the alert; it is absent when the node does not know the alert's
// body. alerta.dedup is the alert's de-duplication key as it was when the node first
// stored it (DedupKey of its environment, resource, event and customer): a
// correlated alert changes its event but keeps this key, so a sink that needs one
// stable name per alert (ilert's alertKey) resolves the alert it opened.
//
// An event is the federation's when it has AttrOp; any other event routed to an
// alerta sink is converted to an Alert by the documented mapping (convert.go).
package alerta

import "time"

// Event attributes of the federation.
const (
	AttrOp     = "alerta.op"
	AttrID     = "alerta.id"
	AttrLoop   = "alerta.loop"
	AttrResend = "alerta.resend"
	AttrDedup  = "alerta.dedup"
)

// Values of AttrOp.
const (
	OpAlert     = "alert"
	OpAction    = "action"
	OpDelete    = "delete"
	OpHeartbeat = "heartbeat"
)

// HTTP headers of the federation.
const (
	HeaderLoop      = "X-Alerta-Loop"
	HeaderRequestID = "X-Request-ID"
)

// TimeLayout is Alerta's datetime format on the wire: exactly three fractional
// digits and a literal Z, in UTC (§2, §5.1).
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Alert is the body of POST /alert after validation and defaults (§5.1), in the
// forwarder's key order (§2.1). Optional JSON nulls are nil pointers.
type Alert struct {
	ID          string
	Resource    string
	Event       string
	Environment string
	Severity    string
	Correlate   []string
	Service     []string
	Group       string
	Value       *string
	Text        string
	Tags        []string
	// Attributes is the attributes object as received, key order kept: a JSON
	// object's raw bytes ("{}" when empty). Its keys contain no '.' or '$'.
	Attributes []byte
	Origin     string
	Type       string
	CreateTime time.Time
	Timeout    int
	RawData    *string
	Customer   *string
	// Status is the status the sender asked for; empty when it gave none (the
	// forwarder never sends one). It is not part of the forwarded body.
	Status string
}

// Action is the body of PUT /alert/{id}/action (§2.2).
type Action struct {
	Action string
	// Text is the text as the action's node processed it: "<action> operator
	// action" when the operator gave none, "" for expired and timeout.
	Text string
	// Timeout is the operator's timeout in seconds, nil when none was given.
	Timeout *int
}

// Heartbeat is the body of POST /heartbeat (§5.3).
type Heartbeat struct {
	ID         string // empty: the receiver assigns one
	Origin     string
	Tags       []string
	Attributes []byte // a JSON object's raw bytes, key order kept
	Timeout    int
	CreateTime time.Time
	Customer   *string
}

// DedupKey is the de-duplication key of alerta.dedup: environment, resource and
// event joined by '|', and the customer after a fourth '|' when there is one.
func DedupKey(environment, resource, event string, customer *string) string {
	k := environment + "|" + resource + "|" + event
	if customer != nil {
		k += "|" + *customer
	}
	return k
}

// Error is an answer other than success that Alerta gives, with its status code and
// message; ErrorBody renders Alerta's error envelope.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }
