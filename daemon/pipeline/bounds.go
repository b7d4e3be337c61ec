package pipeline

import (
	"strconv"

	"github.com/edgerelay/edgerelay/adapters"
)

// What bad input may cost the store. A payload over Options.MaxEventBytes is never
// stored whole: its dead letter (rejects.oversize: dead_letter) keeps the event's
// identity, the first RejectPrefixBytes of the payload and, in the attribute
// TruncatedAttr, the payload's original size. Such a record is not the event and is
// never delivered: `queue retry` refuses it, and one found in an outbox is
// dead-lettered again at once.
const (
	// RejectPrefixBytes is how much of an oversize payload its dead letter keeps.
	RejectPrefixBytes = 1024
	// TruncatedAttr marks a truncated dead letter; its value is the original payload
	// size in bytes.
	TruncatedAttr = "edgerelay.truncated"
	// maxRejectField bounds the id, key, kind and topic kept in a truncated record.
	maxRejectField = 256
)

// Truncated reports whether e is the truncated record of an oversize event, and the
// size of the payload it was cut from.
func Truncated(e *adapters.Event) (size int, ok bool) {
	v, ok := e.Attrs[TruncatedAttr]
	if !ok {
		return 0, false
	}
	n, _ := strconv.Atoi(v)
	return n, true
}

// truncatedCopy returns the record an oversize e leaves in the dead letters: its
// identity (id, kind, key, source and topic, each cut to 256 bytes), the payload's
// first RejectPrefixBytes and TruncatedAttr. Its other attributes are not kept.
func truncatedCopy(e *adapters.Event) *adapters.Event {
	return &adapters.Event{
		ID: cut(e.ID), Kind: cut(e.Kind), Key: cut(e.Key), Source: cut(e.Source), Topic: cut(e.Topic),
		Payload:  e.Payload[:min(len(e.Payload), RejectPrefixBytes):min(len(e.Payload), RejectPrefixBytes)],
		Attrs:    map[string]string{TruncatedAttr: strconv.Itoa(len(e.Payload))},
		Received: e.Received,
	}
}

func cut(s string) string {
	if len(s) > maxRejectField {
		return s[:maxRejectField]
	}
	return s
}

// recordOverhead estimates a stored record's bytes besides the event and key: the
// record header, the sequence key and bbolt's element header.
const recordOverhead = 48

// room reports whether size more bytes may be written to the store under
// store.max_bytes, counting what the batch being prepared already holds. When it
// says no, the store stays full (store.Space) until a commit leaves it under 90% of
// the bound: publish jobs then wait in the retry list, unacknowledged unless their
// sinks deliver them, which is the back-pressure of a full disk before the disk is
// full. Deletes, attempt updates, dead letters and rejects are not held: they free
// room or are bounded by their own limits. Writer goroutine only.
func (p *Pipeline) room(size int64) bool {
	if size == 0 {
		return true
	}
	return p.opt.DB.HasRoom(p.batchBytes + size)
}

// eventSize is about the length of e's store encoding (adapters.Event.MarshalBinary):
// its fields and a few bytes of lengths each.
func eventSize(e *adapters.Event) int64 {
	n := 9 + 6*3 + len(e.ID) + len(e.Kind) + len(e.Key) + len(e.Source) + len(e.Topic) + len(e.Payload)
	for k, v := range e.Attrs {
		n += 6 + len(k) + len(v)
	}
	return int64(n)
}
