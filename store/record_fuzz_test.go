package store

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"runtime"
	"testing"
	"time"
)

// sameRecord compares records as the codec keeps them: times as instants, nil and
// empty data alike.
func sameRecord(a, b record) bool {
	return a.version == b.version && a.kind == b.kind && a.sink == b.sink && a.seq == b.seq && a.txid == b.txid &&
		a.corrupt == b.corrupt && a.key == b.key && bytes.Equal(a.data, b.data) && a.attempts == b.attempts &&
		a.lastError == b.lastError && a.reason == b.reason &&
		a.enqueued.Equal(b.enqueued) && a.nextAttempt.Equal(b.nextAttempt) && a.at.Equal(b.at)
}

// msTime is the time of Unix milliseconds ms, or the zero time when zero is set: the
// codec keeps milliseconds.
func msTime(ms int64, zero bool) time.Time {
	if zero {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// FuzzRecordRoundTrip: a record decodes to what was encoded, within size(). Its
// placement is derived from the other inputs (a dead letter when it has a reason, the
// key as sink, the times as seq and txid), so that seeds keep their shape.
func FuzzRecordRoundTrip(f *testing.F) {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC).UnixMilli()
	f.Add("alert-1", []byte(`{"id":1}`), t0, false, uint32(0), int64(0), true, "", "", int64(0), true)
	f.Add("k", []byte("x"), t0, false, uint32(9), t0+60_000, false, "503 service unavailable", "permanent: bad request", t0+3_600_000, false)
	f.Add("", []byte(nil), int64(-315619200000), false, uint32(math.MaxInt32), int64(math.MinInt64), false, "", "", int64(math.MaxInt64), false)
	f.Fuzz(func(t *testing.T, key string, data []byte, enq int64, noEnq bool, attempts uint32, next int64, noNext bool,
		lastErr, reason string, at int64, noAt bool) {
		r := record{key: key, data: data, enqueued: msTime(enq, noEnq), attempts: int(attempts & math.MaxInt32),
			nextAttempt: msTime(next, noNext), lastError: lastErr, reason: reason, at: msTime(at, noAt)}
		kind := byte(kindOutbox)
		if reason != "" {
			kind = kindDead
		}
		r.place(kind, key, uint64(enq), uint64(next))
		enc := r.encode()
		if len(enc) > r.size() {
			t.Fatalf("encoded %d bytes, over size() %d", len(enc), r.size())
		}
		got, err := decodeRecord(enc, true)
		if err != nil {
			t.Fatalf("decodeRecord of encode's bytes %q: %v", enc, err)
		}
		if !sameRecord(r, got) {
			t.Fatalf("round trip changed the record:\n in  %+v\n out %+v", r, got)
		}
	})
}

// FuzzDecodeRecord: arbitrary bytes (a damaged store page) never panic decodeRecord,
// it allocates at most a few times their length, and what it accepts encodes to a
// record that decodes the same again. A version 2 input is also tried with its
// checksum made right, so that the fuzzer reaches the fields behind it.
func FuzzDecodeRecord(f *testing.F) {
	full := record{key: "key", lastError: "err", reason: "why", attempts: 2, enqueued: time.Unix(1, 0),
		nextAttempt: time.Unix(2, 0), at: time.Unix(3, 0), data: []byte("data")}
	full.place(kindDead, "hook", 7, 9)
	f.Add(full.encode())
	f.Add(full.appendV1(nil))
	f.Add([]byte{})
	f.Add([]byte{recVersion, fKnown})
	f.Add([]byte{recV1, fKey, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{recV1, fAttempts, 0x80, 0x80, 0x80, 0x80, 0x08})
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, b)
		if len(b) >= 3+crcSize && b[0] == recVersion {
			fixed := append([]byte(nil), b...)
			body := fixed[:len(fixed)-crcSize]
			binary.BigEndian.PutUint32(fixed[len(body):], crc32.Checksum(body, castagnoli))
			check(t, fixed)
		}
	})
}

// check holds decodeRecord of b to FuzzDecodeRecord's rules.
func check(t *testing.T, b []byte) {
	var (
		r   record
		err error
		ms  [2]runtime.MemStats
	)
	runtime.ReadMemStats(&ms[0])
	r, err = decodeRecord(b, true)
	runtime.ReadMemStats(&ms[1])
	if n, limit := ms[1].TotalAlloc-ms[0].TotalAlloc, uint64(4*len(b)+16<<10); n > limit {
		t.Fatalf("decodeRecord of %d bytes allocated %d (limit %d)", len(b), n, limit)
	}
	if err != nil {
		return
	}
	if r.version == recV1 {
		r.place(kindOutbox, "sink", 1, 1) // a version 1 record is placed by the tree walk
	}
	got, err := decodeRecord(r.encode(), true)
	if err != nil {
		t.Fatalf("decodeRecord of a re-encoded record %+v: %v", r, err)
	}
	if !sameRecord(r, got) {
		t.Fatalf("decode, encode, decode changed the record:\n %+v\n %+v", r, got)
	}
}
