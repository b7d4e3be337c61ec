package store

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Entry is one event waiting in a sink's outbox.
type Entry struct {
	// Sink names the outbox. Required for Put.
	Sink string
	// Seq is the entry's position in its outbox, assigned when a Put commits. Seqs of
	// one sink only grow, also across Drop and restarts.
	Seq uint64
	// Key is the ordering key: the delivery engine keeps entries of one key in order.
	Key string
	// Data is the encoded event, stored as-is.
	Data []byte
	// Enqueued is when the event was accepted. A zero value is set to the commit time.
	Enqueued time.Time
	// Attempts counts failed deliveries so far.
	Attempts int
	// NextAttempt is the earliest time of the next delivery; zero means due now.
	NextAttempt time.Time
	// LastError is the text of the last delivery failure.
	LastError string
	// Corrupt is set by Scan and ScanDead on a record that failed its checksum or did
	// not decode, and says what was wrong; Data then holds the raw stored value, which
	// must never be delivered. DeadLetter keeps the mark, so such a dead letter stays
	// corrupt: Retry leaves it in place. Put refuses an entry with Corrupt set.
	Corrupt string
}

// Dead is an entry that failed permanently. Its Seq is its position in the sink's
// dead-letter bucket, not the one it had in the outbox.
type Dead struct {
	Entry
	// Reason says why the entry was dead-lettered.
	Reason string
	// At is when it was dead-lettered.
	At time.Time
}

type opKind uint8

const (
	opPut opKind = iota + 1
	opUpdate
	opDelete
	opDeadLetter
	opSetCursor
)

type op struct {
	kind     opKind
	sink     string // Update, Delete, and the cursor name for SetCursor
	seq      uint64
	entry    *Entry // Put: the caller's entry, which receives Seq; DeadLetter: a copy
	attempts int
	next     time.Time
	text     string // Update: last error; DeadLetter: reason
	value    []byte // SetCursor
}

// Batch is a list of operations that Commit applies in one transaction, in the order
// they were added. The zero value is an empty batch. A Batch is not safe for
// concurrent use.
type Batch struct {
	ops []op
}

// Put appends e to the outbox of e.Sink. When the commit succeeds, e.Seq is set (and a
// zero e.Enqueued to the commit time); e must not change until Commit returns.
func (b *Batch) Put(e *Entry) { b.ops = append(b.ops, op{kind: opPut, entry: e}) }

// Update records a failed attempt of the outbox entry sink/seq: its attempt count,
// next attempt time and last error. It does nothing if the entry is gone.
func (b *Batch) Update(sink string, seq uint64, attempts int, next time.Time, lastErr string) {
	b.ops = append(b.ops, op{kind: opUpdate, sink: sink, seq: seq, attempts: attempts, next: next, text: lastErr})
}

// Delete removes the outbox entry sink/seq, typically once delivered. It does nothing
// if the entry is gone.
func (b *Batch) Delete(sink string, seq uint64) {
	b.ops = append(b.ops, op{kind: opDelete, sink: sink, seq: seq})
}

// DeadLetter stores a copy of e in the dead-letter bucket of e.Sink with reason, and
// removes e.Seq from the outbox when e.Seq is not zero. An entry that was never
// committed (Seq zero) is dead-lettered directly.
func (b *Batch) DeadLetter(e *Entry, reason string) {
	cp := *e
	b.ops = append(b.ops, op{kind: opDeadLetter, entry: &cp, text: reason})
}

// Limits of a cursor: Commit refuses a longer name or a larger value, and Check
// reports one found in the file. They bound what a caller's bad input can put on the
// flash; the daemon's source state has limits of its own, well below these.
const (
	MaxCursorName  = 1024
	MaxCursorValue = 64 << 10
)

// SetCursor stores value under name, replacing the previous value. A nil value
// removes the cursor. The value is copied. Name and value are opaque bytes to the
// store, within MaxCursorName and MaxCursorValue.
func (b *Batch) SetCursor(name string, value []byte) {
	if value != nil {
		value = append(make([]byte, 0, len(value)), value...)
	}
	b.ops = append(b.ops, op{kind: opSetCursor, sink: name, value: value})
}

// Len returns the number of operations in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties the batch, keeping its capacity.
func (b *Batch) Reset() {
	clear(b.ops) // drop references to entries and data
	b.ops = b.ops[:0]
}

func (b *Batch) validate() error {
	for i := range b.ops {
		o := &b.ops[i]
		switch o.kind {
		case opPut, opDeadLetter:
			if o.entry.Sink == "" {
				return errors.New("entry with an empty sink name")
			}
			if o.kind == opPut && o.entry.Corrupt != "" {
				return fmt.Errorf("entry of %q is marked corrupt: it can only be dead-lettered", o.entry.Sink)
			}
		case opSetCursor:
			switch {
			case o.sink == "":
				return errors.New("cursor with an empty name")
			case len(o.sink) > MaxCursorName:
				return fmt.Errorf("cursor name of %d bytes, the limit is %d", len(o.sink), MaxCursorName)
			case len(o.value) > MaxCursorValue:
				return fmt.Errorf("cursor %q: value of %d bytes, the limit is %d", o.sink, len(o.value), MaxCursorValue)
			}
		}
	}
	return nil
}

// Commit applies b in one read-write transaction and fsyncs it. On error nothing is
// applied and no Seq is assigned. An empty batch commits nothing and returns nil. The
// batch is left as it was; Reset it to reuse it.
func (db *DB) Commit(b *Batch) error {
	if b == nil || len(b.ops) == 0 {
		return nil
	}
	if err := b.validate(); err != nil {
		return fmt.Errorf("commit %d operations: %w", len(b.ops), err)
	}
	now := time.Now()
	seqs := make([]uint64, len(b.ops))
	var a applier
	err := db.updateCounted(func(tx *bbolt.Tx) error {
		a = applier{tx: tx, txid: uint64(tx.ID()), outbox: tx.Bucket(bucketOutbox), dead: tx.Bucket(bucketDead), limits: db.deadTxBegin(), v2only: db.v2only}
		for i := range b.ops {
			seq, err := a.apply(&b.ops[i], now)
			if err != nil {
				return err
			}
			seqs[i] = seq
		}
		if f := db.commitFault.Load(); f != nil {
			return (*f)() // nil lets the commit through; an error rolls it back
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit %d operations: %w", len(b.ops), err)
	}
	a.limits.committed()
	for i := range b.ops {
		if o := &b.ops[i]; o.kind == opPut {
			o.entry.Seq = seqs[i]
			if o.entry.Enqueued.IsZero() {
				o.entry.Enqueued = now
			}
		}
	}
	return nil
}

// SetCommitFault makes every later Commit call f once its operations are applied and
// before the transaction commits: an error from f rolls the transaction back and Commit
// fails with it, exactly as a full or failing disk would (nothing applied, no Seq
// assigned). Nil removes the fault. It exists for tests of the layers above the store,
// which need commit failures on demand; the daemon never calls it.
func (db *DB) SetCommitFault(f func() error) {
	if f == nil {
		db.commitFault.Store(nil)
		return
	}
	db.commitFault.Store(&f)
}

// applier applies operations inside one transaction.
type applier struct {
	tx           *bbolt.Tx
	txid         uint64
	outbox, dead *bbolt.Bucket
	limits       *deadTx // nil without dead-letter bounds (limits.go)
	v2only       bool    // DB.v2only
}

// sinkBucket returns the sink's sub-bucket of parent, creating it when create is set;
// nil when it is missing and create is not set.
func sinkBucket(parent *bbolt.Bucket, sink string, create bool) (*bbolt.Bucket, error) {
	if !create {
		return parent.Bucket([]byte(sink)), nil
	}
	b, err := parent.CreateBucketIfNotExists([]byte(sink))
	if err != nil {
		return nil, fmt.Errorf("create bucket for sink %q: %w", sink, err)
	}
	return b, nil
}

// apply applies o and returns the seq a Put received.
func (a *applier) apply(o *op, now time.Time) (uint64, error) {
	switch o.kind {
	case opPut:
		e := o.entry
		sb, err := sinkBucket(a.outbox, e.Sink, true)
		if err != nil {
			return 0, err
		}
		r := recordOf(e)
		if r.enqueued.IsZero() {
			r.enqueued = now
		}
		seq, err := appendRecord(sb, kindOutbox, e.Sink, &r, a.txid)
		if err != nil {
			return 0, fmt.Errorf("put to %q: %w", e.Sink, err)
		}
		return seq, nil

	case opUpdate:
		sb, _ := sinkBucket(a.outbox, o.sink, false)
		if sb == nil {
			return 0, nil
		}
		k := seqKey(o.seq)
		v := sb.Get(k)
		if v == nil {
			return 0, nil
		}
		r, err := decodeAt(v, bucketOutbox, o.sink, o.seq, false, a.v2only)
		if err != nil {
			// The record went bad on disk since it was read: keep its bytes as a corrupt
			// dead letter rather than fail the whole commit (or rewrite it altered).
			return 0, a.deadLetterRaw(o.sink, o.seq, v, err, now)
		}
		r.attempts, r.nextAttempt, r.lastError = max(o.attempts, 0), o.next, o.text
		r.place(kindOutbox, o.sink, o.seq, a.txid)
		if err := sb.Put(k, r.encode()); err != nil {
			return 0, fmt.Errorf("update %s/%d: %w", o.sink, o.seq, err)
		}
		return 0, nil

	case opDelete:
		sb, _ := sinkBucket(a.outbox, o.sink, false)
		if sb == nil {
			return 0, nil
		}
		if err := sb.Delete(seqKey(o.seq)); err != nil {
			return 0, fmt.Errorf("delete %s/%d: %w", o.sink, o.seq, err)
		}
		return 0, nil

	case opDeadLetter:
		e := o.entry
		if e.Seq != 0 {
			if sb, _ := sinkBucket(a.outbox, e.Sink, false); sb != nil {
				if err := sb.Delete(seqKey(e.Seq)); err != nil {
					return 0, fmt.Errorf("dead-letter %s/%d: %w", e.Sink, e.Seq, err)
				}
			}
		}
		db, err := sinkBucket(a.dead, e.Sink, true)
		if err != nil {
			return 0, err
		}
		r := recordOf(e)
		if r.enqueued.IsZero() {
			r.enqueued = now
		}
		r.reason, r.at = o.text, now
		if e.Corrupt != "" {
			r.reason = e.Corrupt // the reason must say it is corrupt, whatever the caller gave
		}
		seq, err := appendRecord(db, kindDead, e.Sink, &r, a.txid)
		if err != nil {
			return 0, fmt.Errorf("dead-letter %s/%d: %w", e.Sink, e.Seq, err)
		}
		if a.limits != nil {
			if err := a.limits.added(db, e.Sink, 8+len(db.Get(seqKey(seq)))); err != nil {
				return 0, err
			}
		}
		return 0, nil

	case opSetCursor:
		cb := a.tx.Bucket(bucketCursors)
		var err error
		if o.value == nil {
			err = cb.Delete([]byte(o.sink))
		} else {
			err = cb.Put([]byte(o.sink), o.value)
		}
		if err != nil {
			return 0, fmt.Errorf("set cursor %q: %w", o.sink, err)
		}
		return 0, nil
	}
	return 0, fmt.Errorf("unknown operation %d", o.kind)
}

// deadLetterRaw moves the undecodable outbox value v of sink/seq to sink's dead
// letters as a corrupt record: its raw bytes as Data, the reason naming the damage.
func (a *applier) deadLetterRaw(sink string, seq uint64, v []byte, why error, now time.Time) error {
	r := corruptRecord(bucketOutbox, sink, seq, v, why, now)
	db, err := sinkBucket(a.dead, sink, true)
	if err != nil {
		return err
	}
	dseq, err := appendRecord(db, kindDead, sink, &r, a.txid)
	if err != nil {
		return fmt.Errorf("dead-letter corrupt %s/%d: %w", sink, seq, err)
	}
	if a.limits != nil {
		if err := a.limits.added(db, sink, 8+len(db.Get(seqKey(dseq)))); err != nil {
			return err
		}
	}
	if sb, _ := sinkBucket(a.outbox, sink, false); sb != nil {
		if err := sb.Delete(seqKey(seq)); err != nil {
			return fmt.Errorf("dead-letter corrupt %s/%d: %w", sink, seq, err)
		}
	}
	return nil
}

// CorruptReasonPrefix starts the reason of every dead letter that holds a record
// which failed its checksum or did not decode.
const CorruptReasonPrefix = "corrupt record: "

// corruptReason is the dead-letter reason of the corrupt value found at parent/sink/seq.
func corruptReason(parent []byte, sink string, seq uint64, why error) string {
	return fmt.Sprintf("%s%s/%s/%d: %v; data is the raw stored value", CorruptReasonPrefix, parent, sink, seq, why)
}

// corruptRecord is the dead letter for the corrupt value v found at parent/sink/seq.
func corruptRecord(parent []byte, sink string, seq uint64, v []byte, why error, now time.Time) record {
	return record{
		corrupt: true,
		data:    append([]byte(nil), v...),
		reason:  corruptReason(parent, sink, seq, why),
		at:      now,
	}
}

// appendRecord stores r under the bucket's next sequence, as a record of kind and
// sink written by transaction txid, and returns that sequence.
func appendRecord(b *bbolt.Bucket, kind byte, sink string, r *record, txid uint64) (uint64, error) {
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	r.place(kind, sink, seq, txid)
	return seq, b.Put(seqKey(seq), r.encode())
}
