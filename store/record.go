package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Record encoding, version 1.
//
//	byte     version (1)
//	byte     flags: which optional fields follow
//	varint   Enqueued, Unix milliseconds          (fEnqueued)
//	uvarint  Attempts                              (fAttempts)
//	varint   NextAttempt, Unix milliseconds        (fNext)
//	varint   Dead.At, Unix milliseconds            (fAt)
//	uvarint  len + bytes  Key                      (fKey)
//	uvarint  len + bytes  LastError                (fLastErr)
//	uvarint  len + bytes  Dead.Reason              (fReason)
//	bytes    Data, the rest of the value, as-is
//
// Absent fields cost nothing, so a fresh outbox entry with a short key costs about
// ten bytes plus its key and data. Times keep millisecond precision.
const recVersion = 1

const (
	fEnqueued = 1 << iota
	fAttempts
	fNext
	fAt
	fKey
	fLastErr
	fReason

	fKnown = fEnqueued | fAttempts | fNext | fAt | fKey | fLastErr | fReason
)

// record is the decoded form of an outbox or dead-letter value. Sink and Seq come
// from the bucket and key, not from the value.
type record struct {
	key         string
	data        []byte
	enqueued    time.Time
	attempts    int
	nextAttempt time.Time
	lastError   string
	reason      string
	at          time.Time
}

func (r *record) entry(sink string, seq uint64) Entry {
	return Entry{
		Sink:        sink,
		Seq:         seq,
		Key:         r.key,
		Data:        r.data,
		Enqueued:    r.enqueued,
		Attempts:    r.attempts,
		NextAttempt: r.nextAttempt,
		LastError:   r.lastError,
	}
}

func recordOf(e *Entry) record {
	return record{
		key:         e.Key,
		data:        e.Data,
		enqueued:    e.Enqueued,
		attempts:    e.Attempts,
		nextAttempt: e.NextAttempt,
		lastError:   e.LastError,
	}
}

// size returns an upper bound of the encoded length, so append allocates once.
func (r *record) size() int {
	return 2 + 3*binary.MaxVarintLen64 + binary.MaxVarintLen32 +
		3*binary.MaxVarintLen32 + len(r.key) + len(r.lastError) + len(r.reason) + len(r.data)
}

// appendTo appends the encoded record to dst.
func (r *record) appendTo(dst []byte) []byte {
	var flags byte
	if !r.enqueued.IsZero() {
		flags |= fEnqueued
	}
	if r.attempts > 0 {
		flags |= fAttempts
	}
	if !r.nextAttempt.IsZero() {
		flags |= fNext
	}
	if !r.at.IsZero() {
		flags |= fAt
	}
	if r.key != "" {
		flags |= fKey
	}
	if r.lastError != "" {
		flags |= fLastErr
	}
	if r.reason != "" {
		flags |= fReason
	}
	dst = append(dst, recVersion, flags)
	if flags&fEnqueued != 0 {
		dst = binary.AppendVarint(dst, r.enqueued.UnixMilli())
	}
	if flags&fAttempts != 0 {
		dst = binary.AppendUvarint(dst, uint64(r.attempts))
	}
	if flags&fNext != 0 {
		dst = binary.AppendVarint(dst, r.nextAttempt.UnixMilli())
	}
	if flags&fAt != 0 {
		dst = binary.AppendVarint(dst, r.at.UnixMilli())
	}
	for _, s := range [...]struct {
		bit byte
		v   string
	}{{fKey, r.key}, {fLastErr, r.lastError}, {fReason, r.reason}} {
		if flags&s.bit != 0 {
			dst = binary.AppendUvarint(dst, uint64(len(s.v)))
			dst = append(dst, s.v...)
		}
	}
	return append(dst, r.data...)
}

func (r *record) encode() []byte {
	return r.appendTo(make([]byte, 0, r.size()))
}

var errShort = errors.New("record truncated")

// decodeRecord parses v. Data is copied when copyData is set; otherwise it aliases v,
// which is only valid inside the transaction v came from.
func decodeRecord(v []byte, copyData bool) (record, error) {
	var r record
	if len(v) < 2 {
		return r, errShort
	}
	if v[0] != recVersion {
		return r, fmt.Errorf("unknown record version %d", v[0])
	}
	flags := v[1]
	if flags&^fKnown != 0 {
		return r, fmt.Errorf("unknown record flags %#x", flags&^fKnown)
	}
	p := v[2:]
	varint := func() (int64, error) {
		x, n := binary.Varint(p)
		if n <= 0 {
			return 0, errShort
		}
		p = p[n:]
		return x, nil
	}
	uvarint := func() (uint64, error) {
		x, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, errShort
		}
		p = p[n:]
		return x, nil
	}
	str := func() (string, error) {
		n, err := uvarint()
		if err != nil {
			return "", err
		}
		if n > uint64(len(p)) {
			return "", errShort
		}
		s := string(p[:n])
		p = p[n:]
		return s, nil
	}
	var err error
	var ms int64
	if flags&fEnqueued != 0 {
		if ms, err = varint(); err != nil {
			return r, fmt.Errorf("enqueued: %w", err)
		}
		r.enqueued = time.UnixMilli(ms).UTC()
	}
	if flags&fAttempts != 0 {
		n, err := uvarint()
		if err != nil {
			return r, fmt.Errorf("attempts: %w", err)
		}
		if n > math.MaxInt32 {
			return r, fmt.Errorf("attempts %d out of range", n)
		}
		r.attempts = int(n)
	}
	if flags&fNext != 0 {
		if ms, err = varint(); err != nil {
			return r, fmt.Errorf("next attempt: %w", err)
		}
		r.nextAttempt = time.UnixMilli(ms).UTC()
	}
	if flags&fAt != 0 {
		if ms, err = varint(); err != nil {
			return r, fmt.Errorf("dead-letter time: %w", err)
		}
		r.at = time.UnixMilli(ms).UTC()
	}
	if flags&fKey != 0 {
		if r.key, err = str(); err != nil {
			return r, fmt.Errorf("key: %w", err)
		}
	}
	if flags&fLastErr != 0 {
		if r.lastError, err = str(); err != nil {
			return r, fmt.Errorf("last error: %w", err)
		}
	}
	if flags&fReason != 0 {
		if r.reason, err = str(); err != nil {
			return r, fmt.Errorf("reason: %w", err)
		}
	}
	if copyData {
		r.data = append([]byte(nil), p...)
	} else {
		r.data = p
	}
	return r, nil
}

// seqKey is the 8-byte big-endian key of seq; big-endian makes bbolt's byte order
// the numeric order, so a cursor walks an outbox oldest first.
func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

func keySeq(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}
