package adapters

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"runtime"
	"strings"
	"testing"
	"time"
)

// sameEvent reports whether a and b are equal as the codec keeps events: the same
// instant (not the same location or monotonic reading), nil and empty payloads and
// attribute maps alike.
func sameEvent(a, b *Event) bool {
	return a.ID == b.ID && a.Kind == b.Kind && a.Key == b.Key && a.Source == b.Source &&
		a.Topic == b.Topic && bytes.Equal(a.Payload, b.Payload) && maps.Equal(a.Attrs, b.Attrs) &&
		a.Received.Equal(b.Received) && a.Received.IsZero() == b.Received.IsZero()
}

// attrsOf makes an attribute map from s: lines of key=value (a line without '=' is a
// key with an empty value); nil for an empty s.
func attrsOf(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := map[string]string{}
	for l := range strings.SplitSeq(s, "\n") {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

// FuzzEventRoundTrip: every event MarshalBinary encodes decodes to an equal event,
// and equal events encode to equal bytes.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add("0123456789ab-000000000001", KindAlert, "host-1", "plant", "plant/a/alarms", []byte(`{"v":1}`), "x-loop=1\nqos=1", time.Date(2025, 3, 4, 5, 6, 7, 891, time.UTC).UnixNano(), false)
	f.Add("", "", "", "", "", []byte(nil), "", int64(0), true)
	f.Add("id", KindRaw, "", "s", "t", []byte{0, 0xff, 0x80}, "=\n\n=x", int64(-1), false)
	f.Fuzz(func(t *testing.T, id, kind, key, source, topic string, payload []byte, attrs string, ns int64, zeroTime bool) {
		e := &Event{ID: id, Kind: kind, Key: key, Source: source, Topic: topic, Payload: payload,
			Attrs: attrsOf(attrs), Received: time.Unix(0, ns)}
		if zeroTime {
			e.Received = time.Time{}
		}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary: %v", err)
		}
		var got Event
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("UnmarshalBinary of MarshalBinary's bytes %q: %v", b, err)
		}
		if !sameEvent(e, &got) {
			t.Fatalf("round trip changed the event:\n in  %+v\n out %+v", e, &got)
		}
		again, _ := got.MarshalBinary()
		if !bytes.Equal(b, again) {
			t.Fatalf("equal events encode differently:\n %q\n %q", b, again)
		}
	})
}

// allocated returns the bytes f allocates on the heap, from the runtime's counters
// (the fuzz function runs alone in its worker process, so nothing else allocates
// meanwhile to speak of).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// FuzzEventUnmarshal: arbitrary bytes never panic UnmarshalBinary, a refusal is
// ErrCorruptEvent, the memory it allocates is bounded by the input's length (a few
// times for a refusal, a constant factor for the maps and strings of an event), and
// what it accepts encodes to bytes that decode to the same event again.
func FuzzEventUnmarshal(f *testing.F) {
	good, _ := (&Event{ID: "id-1", Kind: KindAlert, Key: "k", Source: "s", Topic: "a/b", Payload: []byte(`{}`),
		Attrs: map[string]string{"a": "1", "b": ""}, Received: time.Unix(1700000000, 5)}).MarshalBinary()
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{codecVersion})
	f.Add(good[:len(good)-1])
	f.Add(append(append([]byte(nil), good...), 0))
	// An attribute count as large as the rest of the input, and no attributes.
	hdr := append([]byte{codecVersion}, make([]byte, 8+6)...)
	f.Add(binary.AppendUvarint(append([]byte(nil), hdr...), 1<<20))
	f.Add(append(binary.AppendUvarint(append([]byte(nil), hdr...), 4000), make([]byte, 7999)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Event
		var err error
		n := allocated(func() { err = e.UnmarshalBinary(b) })
		// UnmarshalHead accepts and refuses exactly what UnmarshalBinary does, and
		// decodes the same event but for the payload.
		var head Event
		if herr := head.UnmarshalHead(b); (herr == nil) != (err == nil) {
			t.Fatalf("UnmarshalHead(%q): %v, UnmarshalBinary: %v", b, herr, err)
		} else if herr == nil {
			if head.Payload != nil {
				t.Fatalf("UnmarshalHead(%q) kept a payload", b)
			}
			full := e
			full.Payload = nil
			if !sameEvent(&full, &head) {
				t.Fatalf("UnmarshalHead(%q) differs:\n %+v\n %+v", b, &full, &head)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrCorruptEvent) {
				t.Fatalf("UnmarshalBinary(%q): %v does not wrap ErrCorruptEvent", b, err)
			}
			if limit := uint64(4*len(b) + 16<<10); n > limit {
				t.Fatalf("UnmarshalBinary refused %d bytes and allocated %d on the way (limit %d)", len(b), n, limit)
			}
			return
		}
		if limit := uint64(64*len(b) + 64<<10); n > limit {
			t.Fatalf("UnmarshalBinary decoded %d bytes into %d allocated (limit %d)", len(b), n, limit)
		}
		enc, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of a decoded event: %v", err)
		}
		var again Event
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("UnmarshalBinary of re-encoded %q: %v", enc, err)
		}
		if !sameEvent(&e, &again) {
			t.Fatalf("decode, encode, decode changed the event:\n %+v\n %+v", &e, &again)
		}
	})
}
