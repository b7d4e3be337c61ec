package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// Record encoding. Version 2 is what this build writes; version 1 (edgerelay before
// schema 2) is still read.
//
//	byte     version (2)
//	byte     flags: which optional fields follow
//	byte     kind: 1 outbox, 2 dead letter                      (version 2 only)
//	uvarint  len + bytes  sink, the bucket the record belongs to (version 2 only)
//	uvarint  seq, the record's key                                (version 2 only)
//	uvarint  txid, the bbolt transaction that wrote it            (version 2 only)
//	varint   Enqueued, Unix milliseconds          (fEnqueued)
//	uvarint  Attempts                              (fAttempts)
//	varint   NextAttempt, Unix milliseconds        (fNext)
//	varint   Dead.At, Unix milliseconds            (fAt)
//	uvarint  len + bytes  Key                      (fKey)
//	uvarint  len + bytes  LastError                (fLastErr)
//	uvarint  len + bytes  Dead.Reason              (fReason)
//	bytes    Data, as-is, up to the checksum (version 1: up to the end)
//	uint32   CRC32C (Castagnoli), big-endian, of every byte before it (version 2 only)
//
// fCorrupt (version 2 only) marks a dead letter that holds a record which failed its
// checksum or did not decode: Data is then the raw stored value, never an event.
//
// A version 2 record is self-describing: its kind, sink and seq say where it belongs,
// so a salvage can put it back from a raw page scan when the tree above it is lost,
// and the txid orders two copies of it (the newer wins). The checksum is verified on
// every read, and the location against the bucket and key it was read from. A
// version 1 record has neither: it is trusted as it always was, and only a walk of the
// tree can place it.
//
// Absent fields cost nothing, so a fresh outbox entry with a short key and sink costs
// about twenty bytes plus its key, sink and data. Times keep millisecond precision.
const (
	recV1      = 1
	recVersion = 2
)

const (
	fEnqueued = 1 << iota
	fAttempts
	fNext
	fAt
	fKey
	fLastErr
	fReason
	fCorrupt

	fKnownV1 = fEnqueued | fAttempts | fNext | fAt | fKey | fLastErr | fReason
	fKnown   = fKnownV1 | fCorrupt
)

// Record kinds, the bucket a version 2 record belongs to.
const (
	kindOutbox = 1
	kindDead   = 2
)

func kindOf(parent []byte) byte {
	if string(parent) == string(bucketDead) {
		return kindDead
	}
	return kindOutbox
}

func kindName(k byte) string {
	switch k {
	case kindOutbox:
		return string(bucketOutbox)
	case kindDead:
		return string(bucketDead)
	}
	return fmt.Sprintf("kind %d", k)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcSize is the length of a version 2 record's checksum.
const crcSize = 4

// record is the decoded form of an outbox or dead-letter value. For version 2 its
// location (kind, sink, seq) and txid come from the value; version 1 records leave
// them zero and take their location from the bucket and key.
type record struct {
	version     byte
	kind        byte
	sink        string
	seq         uint64
	txid        uint64
	corrupt     bool
	key         string
	data        []byte
	enqueued    time.Time
	attempts    int
	nextAttempt time.Time
	lastError   string
	reason      string
	at          time.Time
}

// entry returns the Entry of r, read from sink/seq. A corrupt dead letter carries its
// reason in Corrupt.
func (r *record) entry(sink string, seq uint64) Entry {
	e := Entry{
		Sink:        sink,
		Seq:         seq,
		Key:         r.key,
		Data:        r.data,
		Enqueued:    r.enqueued,
		Attempts:    r.attempts,
		NextAttempt: r.nextAttempt,
		LastError:   r.lastError,
	}
	if r.corrupt {
		e.Corrupt = r.reason
	}
	return e
}

func recordOf(e *Entry) record {
	return record{
		key:         e.Key,
		data:        e.Data,
		enqueued:    e.Enqueued,
		attempts:    e.Attempts,
		nextAttempt: e.NextAttempt,
		lastError:   e.LastError,
		corrupt:     e.Corrupt != "",
	}
}

// place sets where r is about to be written: its kind, sink, seq and the writing
// transaction.
func (r *record) place(kind byte, sink string, seq, txid uint64) {
	r.version, r.kind, r.sink, r.seq, r.txid = recVersion, kind, sink, seq, txid
}

// size returns an upper bound of the encoded length, so append allocates once.
func (r *record) size() int {
	return 3 + 6*binary.MaxVarintLen64 + 4*binary.MaxVarintLen32 + crcSize +
		len(r.sink) + len(r.key) + len(r.lastError) + len(r.reason) + len(r.data)
}

// appendTo appends r encoded as version 2 to dst.
func (r *record) appendTo(dst []byte) []byte {
	start := len(dst)
	flags := r.flags()
	if r.corrupt {
		flags |= fCorrupt
	}
	dst = append(dst, recVersion, flags, r.kind)
	dst = binary.AppendUvarint(dst, uint64(len(r.sink)))
	dst = append(dst, r.sink...)
	dst = binary.AppendUvarint(dst, r.seq)
	dst = binary.AppendUvarint(dst, r.txid)
	dst = r.appendFields(dst, flags)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// appendV1 appends r in the version 1 format, which this build no longer writes (for
// tests of old files).
func (r *record) appendV1(dst []byte) []byte {
	flags := r.flags()
	dst = append(dst, recV1, flags)
	return r.appendFields(dst, flags)
}

func (r *record) flags() byte {
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
	return flags
}

func (r *record) appendFields(dst []byte, flags byte) []byte {
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

var (
	errShort    = errors.New("record truncated")
	errChecksum = errors.New("checksum mismatch (CRC32C): the record was altered on disk")
)

// decodeRecord parses v. Data is copied when copyData is set; otherwise it aliases v,
// which is only valid inside the transaction v came from. A version 2 record whose
// checksum fails is refused with errChecksum before any field is read.
func decodeRecord(v []byte, copyData bool) (record, error) {
	var r record
	if len(v) < 2 {
		return r, errShort
	}
	r.version = v[0]
	flags := v[1]
	p := v[2:]
	switch r.version {
	case recV1:
		if flags&^fKnownV1 != 0 {
			return r, fmt.Errorf("unknown record flags %#x", flags&^fKnownV1)
		}
	case recVersion:
		if len(v) < 3+crcSize {
			return r, errShort
		}
		body := v[:len(v)-crcSize]
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(v[len(body):]) {
			return r, errChecksum
		}
		if flags&^fKnown != 0 {
			return r, fmt.Errorf("unknown record flags %#x", flags&^fKnown)
		}
		r.corrupt = flags&fCorrupt != 0
		r.kind = v[2]
		p = body[3:]
	default:
		return r, fmt.Errorf("unknown record version %d", v[0])
	}
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
	if r.version == recVersion {
		if r.kind != kindOutbox && r.kind != kindDead {
			return r, fmt.Errorf("unknown record kind %d", r.kind)
		}
		if r.sink, err = str(); err != nil {
			return r, fmt.Errorf("sink: %w", err)
		}
		if r.seq, err = uvarint(); err != nil {
			return r, fmt.Errorf("seq: %w", err)
		}
		if r.txid, err = uvarint(); err != nil {
			return r, fmt.Errorf("txid: %w", err)
		}
	}
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

// errV1InV2File refuses a version 1 record in a file created with version 2 records.
var errV1InV2File = errors.New("a version 1 record in a file created with version 2 records only: its version byte is damaged")

// decodeAt decodes the value v read from parent/sink/key and, for a version 2
// record, checks that it says it belongs there: a record found elsewhere than where
// it was written is as untrustworthy as one that fails its checksum.
//
// v2only says the file was created holding version 2 records only (meta/records):
// there a version 1 record is a damaged version byte, which would skip the checksum.
func decodeAt(v []byte, parent []byte, sink string, seq uint64, copyData, v2only bool) (record, error) {
	r, err := decodeRecord(v, copyData)
	if err != nil {
		return r, err
	}
	if r.version == recV1 {
		if v2only {
			return r, errV1InV2File
		}
		return r, nil
	}
	if r.kind != kindOf(parent) || r.sink != sink || r.seq != seq {
		return r, fmt.Errorf("record says it is %s/%s/%d: misplaced", kindName(r.kind), r.sink, r.seq)
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
