package adapters

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync/atomic"
	"time"
)

// Kinds of events. Adapters may define more; the daemon treats Kind as opaque except
// for routing rules that match on it.
const (
	KindAlert     = "alert"     // an alert event (create, accept, resolve …)
	KindHeartbeat = "heartbeat" // a liveness ping for an upstream heartbeat monitor
	KindPolicy    = "policy"    // an escalation-policy update request
	KindRaw       = "raw"       // a message with no interpretation yet
)

// Event is the envelope every source produces and every sink consumes. It is
// immutable once handed to a Publisher: sinks must not modify it, and the daemon may
// hand the same *Event to several sinks concurrently.
type Event struct {
	// ID identifies the event for its whole life: dedup at sinks, log lines, the
	// queue CLI. NewID makes one; a source may reuse an upstream id.
	ID string
	// Kind is one of the Kind constants or an adapter-defined kind.
	Kind string
	// Key is the ordering key: events with the same Key reach a sink in the order they
	// were published, even across retries. An empty Key means "no order constraint".
	Key string
	// Source is the name of the source instance that produced the event.
	Source string
	// Topic is the upstream topic, subject or path the event arrived on, if any.
	Topic string
	// Payload is the body, usually JSON.
	Payload []byte
	// Attrs carries small string metadata: MQTT properties, HTTP headers worth
	// forwarding, loop-prevention headers (X-Alerta-Loop) and similar.
	Attrs map[string]string
	// Received is when the daemon first saw the event.
	Received time.Time
}

var (
	idPrefix  = func() string { var b [6]byte; _, _ = rand.Read(b[:]); return hex.EncodeToString(b[:]) }()
	idCounter atomic.Uint64
)

// NewID returns a new event id, unique across restarts in practice and cheap enough
// to call per event: a random 48-bit per-process prefix and a counter.
func NewID() string {
	n := idCounter.Add(1)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], n)
	// One allocation: the prefix, "-" and the counter's low 48 bits in hex, built on
	// the stack and copied once into the string.
	var b [len("0123456789ab-0123456789ab")]byte
	i := copy(b[:], idPrefix)
	b[i] = '-'
	hex.Encode(b[i+1:], c[2:])
	return string(b[:])
}

const codecVersion = 1

// maxAttrsHint caps the attribute map's size hint when decoding; more attributes
// grow the map as they are read.
const maxAttrsHint = 16

// ErrCorruptEvent is returned by UnmarshalBinary for bytes that are not an encoded
// event.
var ErrCorruptEvent = errors.New("corrupt event encoding")

// zeroReceived is the encoding of a zero Received: time.Time{} has no Unix
// nanoseconds (UnixNano's result is undefined before 1678), and it must decode as
// zero again.
const zeroReceived = math.MinInt64

// MarshalBinary encodes the event compactly for the store: a version byte, then
// length-prefixed fields. Attributes are written in key order so equal events encode
// to equal bytes. Received keeps its instant (not its location) between the years
// 1678 and 2262, the range of Unix nanoseconds in an int64; a zero Received stays
// zero.
func (e *Event) MarshalBinary() ([]byte, error) {
	n := 1 + 8 + 6*binary.MaxVarintLen64 + len(e.ID) + len(e.Kind) + len(e.Key) +
		len(e.Source) + len(e.Topic) + len(e.Payload)
	for k, v := range e.Attrs {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	ns := int64(zeroReceived)
	if !e.Received.IsZero() {
		ns = e.Received.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(ns))
	for _, s := range []string{e.ID, e.Kind, e.Key, e.Source, e.Topic} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Payload)))
	b = append(b, e.Payload...)
	keys := make([]string, 0, len(e.Attrs))
	for k := range e.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		v := e.Attrs[k]
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b, nil
}

// UnmarshalBinary decodes bytes written by MarshalBinary. The event does not keep a
// reference to b.
func (e *Event) UnmarshalBinary(b []byte) error { return e.unmarshal(b, true) }

// UnmarshalHead is UnmarshalBinary without the payload: it checks all of b as
// UnmarshalBinary does and fails alike, but leaves Payload nil, so that looking at a
// stored event's id and attributes does not copy a payload of hundreds of KiB.
func (e *Event) UnmarshalHead(b []byte) error { return e.unmarshal(b, false) }

func (e *Event) unmarshal(b []byte, payload bool) error {
	if len(b) < 9 || b[0] != codecVersion {
		return ErrCorruptEvent
	}
	e.Received = time.Time{}
	if ns := int64(binary.BigEndian.Uint64(b[1:9])); ns != zeroReceived {
		e.Received = time.Unix(0, ns)
	}
	b = b[9:]
	next := func() ([]byte, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, false
		}
		v := b[n : n+int(l)]
		b = b[n+int(l):]
		return v, true
	}
	var fields [6][]byte
	for i := range fields {
		v, ok := next()
		if !ok {
			return fmt.Errorf("%w: field %d", ErrCorruptEvent, i)
		}
		fields[i] = v
	}
	e.ID, e.Kind, e.Key = string(fields[0]), string(fields[1]), string(fields[2])
	e.Source, e.Topic = string(fields[3]), string(fields[4])
	e.Payload = nil
	if payload {
		e.Payload = append([]byte(nil), fields[5]...)
	}
	count, n := binary.Uvarint(b)
	// Each attribute takes at least two bytes (two lengths), and the map's size hint
	// is capped: a corrupt count must not allocate beyond what the input holds.
	if n <= 0 || count > uint64(len(b)-n)/2 {
		return fmt.Errorf("%w: attribute count", ErrCorruptEvent)
	}
	b = b[n:]
	e.Attrs = nil
	if count > 0 {
		e.Attrs = make(map[string]string, min(count, maxAttrsHint))
	}
	for i := uint64(0); i < count; i++ {
		k, ok1 := next()
		v, ok2 := next()
		if !ok1 || !ok2 {
			return fmt.Errorf("%w: attribute %d", ErrCorruptEvent, i)
		}
		e.Attrs[string(k)] = string(v)
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorruptEvent, len(b))
	}
	return nil
}
