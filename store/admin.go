package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Retry moves the given dead letters of sink (all of them when seqs is nil) to the end
// of its outbox with a new Seq, zero attempts, no last error and NextAttempt zero, in
// one transaction. Seqs that are not dead letters are ignored, and so are corrupt
// dead letters (a record that failed its checksum, see Entry.Corrupt), which are never
// queued for delivery and stay until dropped; it returns how many were moved.
func (db *DB) Retry(sink string, seqs []uint64) (int, error) {
	n := 0
	err := db.update(func(tx *bbolt.Tx) error {
		n = 0
		dead, _ := sinkBucket(tx.Bucket(bucketDead), sink, false)
		if dead == nil {
			return nil
		}
		keys := pick(dead, seqs)
		if len(keys) == 0 {
			return nil
		}
		out, err := sinkBucket(tx.Bucket(bucketOutbox), sink, true)
		if err != nil {
			return err
		}
		for _, k := range keys {
			v := dead.Get(k)
			if v == nil {
				continue
			}
			seq, _ := keySeq(k)
			r, err := decodeAt(v, bucketDead, sink, seq, false, db.v2only)
			if err != nil || r.corrupt {
				continue // a corrupt record is never queued for delivery; it stays here
			}
			r.attempts, r.lastError, r.reason = 0, "", ""
			r.nextAttempt, r.at = time.Time{}, time.Time{}
			if _, err := appendRecord(out, kindOutbox, sink, &r, uint64(tx.ID())); err != nil {
				return fmt.Errorf("retry %s/%x: %w", sink, k, err)
			}
			if err := dead.Delete(k); err != nil {
				return fmt.Errorf("retry %s/%x: %w", sink, k, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("retry dead letters of %q: %w", sink, err)
	}
	return n, nil
}

// Drop deletes entries of sink: from the dead-letter bucket when dead is set, else
// from the outbox; all of them when seqs is nil. Missing seqs are ignored; it returns
// how many were deleted. The buckets stay, so Seqs keep growing.
func (db *DB) Drop(sink string, dead bool, seqs []uint64) (int, error) {
	parent := bucketOutbox
	if dead {
		parent = bucketDead
	}
	n := 0
	err := db.update(func(tx *bbolt.Tx) error {
		n = 0
		sb, _ := sinkBucket(tx.Bucket(parent), sink, false)
		if sb == nil {
			return nil
		}
		for _, k := range pick(sb, seqs) {
			if sb.Get(k) == nil {
				continue
			}
			if err := sb.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("drop %s entries of %q: %w", parent, sink, err)
	}
	return n, nil
}

// pick returns the keys for seqs, or every key of b when seqs is nil. Keys are
// collected first because a bbolt cursor must not walk a bucket it deletes from.
func pick(b *bbolt.Bucket, seqs []uint64) [][]byte {
	var keys [][]byte
	if seqs != nil {
		for _, s := range seqs {
			keys = append(keys, seqKey(s))
		}
		return keys
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			keys = append(keys, append([]byte(nil), k...))
		}
	}
	return keys
}

// maxProblems caps how many problems Check lists one by one.
const maxProblems = 1000

// Check runs bbolt's consistency check and decodes every record of every bucket of the
// layout. It returns nil when all is well, or an error listing every problem found (up
// to a thousand, then a count). It holds the write lock while it runs, which bbolt
// requires for a safe check, so writers wait; it is meant for tests and the CLI.
func (db *DB) Check() error {
	var probs []error
	err := guard(func() error {
		var err error
		probs, err = db.check(true)
		return err
	})
	if err != nil {
		var ce *corruptError
		if !errors.As(err, &ce) {
			return fmt.Errorf("check store %s: %w", db.path, err)
		}
		probs = append(probs, err)
	}
	if len(probs) == 0 {
		return nil
	}
	return fmt.Errorf("check store %s: %d problems:\n%w", db.path, len(probs), errors.Join(probs...))
}

// problems collects check findings, keeping at most maxProblems.
type problems struct {
	list []error
	more int
}

func (p *problems) add(format string, args ...any) {
	if len(p.list) < maxProblems {
		p.list = append(p.list, fmt.Errorf(format, args...))
		return
	}
	p.more++
}

func (p *problems) errors() []error {
	if p.more > 0 {
		return append(p.list, fmt.Errorf("and %d more problems", p.more))
	}
	return p.list
}

// check walks the layout (and runs bbolt's check when withBolt is set) in a write
// transaction that it rolls back.
func (db *DB) check(withBolt bool) ([]error, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	tx, err := db.bolt.Begin(!db.readOnly) // a read-only file gets a read transaction
	if err != nil {
		return nil, mapErr(err)
	}
	defer func() { _ = tx.Rollback() }()

	var p problems
	if withBolt {
		for err := range tx.Check() {
			p.add("bbolt: %w", err)
		}
	}
	if mb := tx.Bucket(bucketMeta); mb == nil {
		p.add("bucket %s is missing", bucketMeta)
	} else if v := mb.Get(keySchema); len(v) != 8 {
		p.add("%s/%s is %d bytes, want 8", bucketMeta, keySchema, len(v))
	} else if s := binary.BigEndian.Uint64(v); s == 0 || s > schemaVersion {
		p.add("%s/%s is %d, want 1..%d", bucketMeta, keySchema, s, schemaVersion)
	}
	v2only := false
	if mb := tx.Bucket(bucketMeta); mb != nil {
		v2only = string(mb.Get(keyRecords)) == "2"
	}
	for _, name := range [][]byte{bucketOutbox, bucketDead} {
		b := tx.Bucket(name)
		if b == nil {
			p.add("bucket %s is missing", name)
			continue
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v != nil {
				p.add("%s/%q: a value where a sink bucket belongs", name, k)
				continue
			}
			checkRecords(b.Bucket(k), name, string(k), v2only, &p)
		}
	}
	if cb := tx.Bucket(bucketCursors); cb == nil {
		p.add("bucket %s is missing", bucketCursors)
	} else {
		c := cb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			switch {
			case v == nil:
				p.add("%s/%q: a bucket where a cursor value belongs", bucketCursors, k)
			case len(k) > MaxCursorName:
				p.add("%s: a name of %d bytes, over the limit of %d", bucketCursors, len(k), MaxCursorName)
			case len(v) > MaxCursorValue:
				p.add("%s/%q: a value of %d bytes, over the limit of %d", bucketCursors, k, len(v), MaxCursorValue)
			}
		}
	}
	return p.errors(), nil
}

// checkRecords decodes every record of one sink bucket.
func checkRecords(b *bbolt.Bucket, parent []byte, sink string, v2only bool, p *problems) {
	where := fmt.Sprintf("%s/%s", parent, sink)
	last := b.Sequence()
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			p.add("%s: nested bucket %q", where, k)
			continue
		}
		seq, ok := keySeq(k)
		if !ok {
			p.add("%s: key %x is not an 8-byte sequence number", where, k)
			continue
		}
		if seq == 0 || seq > last {
			p.add("%s/%d: sequence beyond the bucket's counter %d, a new entry would overwrite it", where, seq, last)
		}
		if _, err := decodeAt(v, parent, sink, seq, false, v2only); err != nil {
			p.add("%s/%d: %w", where, seq, err)
		}
	}
}

// moveStep bounds the records one Move transaction carries, so that moving a large
// backlog needs neither all its pages in memory nor one huge commit.
const moveStep = 1024

// Moved says what Move did.
type Moved struct {
	// Outbox and Dead count the entries moved to the new sink's outbox and dead letters.
	Outbox, Dead int
}

// Move moves every outbox entry and dead letter of sink from to sink to: each goes to
// the end of to's outbox (or dead letters) with a new Seq, in from's order, keeping its
// key, times, attempts and reasons. The buckets of from are removed once empty.
//
// It commits in steps of at most moveStep entries; each step appends a prefix of what
// is left to to and deletes it from from in one transaction. A crash between steps
// leaves a prefix moved and the rest still in from, both intact, and running Move again
// carries on: the entries moved later land behind those moved earlier, so the order
// holds. A record that fails its checksum is not moved as an event: it becomes a
// corrupt dead letter of to.
func (db *DB) Move(from, to string) (Moved, error) {
	var m Moved
	if from == "" || to == "" {
		return m, errors.New("move: empty sink name")
	}
	if from == to {
		return m, fmt.Errorf("move %q to itself", from)
	}
	for _, parent := range [][]byte{bucketOutbox, bucketDead} {
		for {
			var mo, md int
			done := false
			err := db.update(func(tx *bbolt.Tx) error {
				mo, md, done = 0, 0, false
				p := tx.Bucket(parent)
				src := p.Bucket([]byte(from))
				if src == nil {
					done = true
					return nil
				}
				var keys [][]byte
				c := src.Cursor()
				for k, v := c.First(); k != nil && len(keys) < moveStep; k, v = c.Next() {
					if v == nil {
						return fmt.Errorf("%s/%s: nested bucket %q", parent, from, k)
					}
					keys = append(keys, append([]byte(nil), k...))
				}
				if len(keys) == 0 {
					done = true
					return p.DeleteBucket([]byte(from))
				}
				txid := uint64(tx.ID())
				now := time.Now()
				for _, k := range keys {
					v := src.Get(k)
					seq, _ := keySeq(k)
					r, err := decodeAt(v, parent, from, seq, true, db.v2only)
					kind, dst := kindOf(parent), parent
					if err != nil {
						r = corruptRecord(parent, from, seq, v, err, now)
						kind, dst = kindDead, bucketDead
					}
					b, err := sinkBucket(tx.Bucket(dst), to, true)
					if err != nil {
						return err
					}
					if _, err := appendRecord(b, kind, to, &r, txid); err != nil {
						return fmt.Errorf("%s/%s/%d: %w", parent, from, seq, err)
					}
					if err := src.Delete(k); err != nil {
						return fmt.Errorf("%s/%s/%d: %w", parent, from, seq, err)
					}
					if kind == kindDead {
						md++
					} else {
						mo++
					}
				}
				return nil
			})
			if err != nil {
				return m, fmt.Errorf("move %s of %q to %q (%d outbox entries and %d dead letters moved so far): %w",
					parent, from, to, m.Outbox, m.Dead, err)
			}
			m.Outbox, m.Dead = m.Outbox+mo, m.Dead+md
			if done {
				break
			}
		}
	}
	return m, nil
}
