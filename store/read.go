package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	"go.etcd.io/bbolt"
)

// scanChunk is how many records Scan copies per read transaction.
const scanChunk = 256

// Scan calls fn for the entries of sink's outbox with Seq > afterSeq, in ascending Seq
// order, at most limit of them (limit <= 0: all). Data is a copy the caller may keep.
// A record that fails its checksum, does not decode or says it belongs elsewhere is
// passed with Corrupt set and its raw bytes as Data: the caller dead-letters it
// (Batch.DeadLetter keeps the mark) and must not deliver it.
// fn runs outside any transaction, in chunks, so it may call other DB methods; an
// entry committed during the scan may or may not be seen. An error from fn stops the
// scan and is returned. A sink without an outbox has no entries.
func (db *DB) Scan(sink string, afterSeq uint64, limit int, fn func(Entry) error) error {
	return db.scan(bucketOutbox, sink, afterSeq, limit, func(seq uint64, r *record) error {
		return fn(r.entry(sink, seq))
	})
}

// ScanDead is Scan for sink's dead letters.
func (db *DB) ScanDead(sink string, afterSeq uint64, limit int, fn func(Dead) error) error {
	return db.scan(bucketDead, sink, afterSeq, limit, func(seq uint64, r *record) error {
		return fn(Dead{Entry: r.entry(sink, seq), Reason: r.reason, At: r.at})
	})
}

type seqRecord struct {
	seq uint64
	rec record
}

func (db *DB) scan(parent []byte, sink string, after uint64, limit int, fn func(uint64, *record) error) error {
	if limit <= 0 {
		limit = math.MaxInt
	}
	chunk := make([]seqRecord, 0, min(limit, scanChunk))
	for limit > 0 && after < math.MaxUint64 {
		chunk = chunk[:0]
		err := db.view(func(tx *bbolt.Tx) error {
			sb := tx.Bucket(parent).Bucket([]byte(sink))
			if sb == nil {
				return nil
			}
			c := sb.Cursor()
			for k, v := c.Seek(seqKey(after + 1)); k != nil && len(chunk) < cap(chunk); k, v = c.Next() {
				seq, ok := keySeq(k)
				if !ok || v == nil {
					return fmt.Errorf("scan %s/%s: malformed key %x", parent, sink, k)
				}
				r, err := decodeAt(v, parent, sink, seq, true, db.v2only)
				if err != nil {
					// Never hand out an altered record: the caller gets the raw bytes
					// marked corrupt, to dead-letter.
					r = corruptRecord(parent, sink, seq, v, err, time.Time{})
				}
				chunk = append(chunk, seqRecord{seq, r})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range chunk {
			if err := fn(chunk[i].seq, &chunk[i].rec); err != nil {
				return err
			}
			limit--
			if limit == 0 {
				return nil
			}
		}
		if len(chunk) < cap(chunk) {
			return nil
		}
		after = chunk[len(chunk)-1].seq
	}
	return nil
}

// Sinks returns, sorted, every sink that has an outbox or a dead-letter bucket.
func (db *DB) Sinks() ([]string, error) {
	set := map[string]struct{}{}
	err := db.view(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketOutbox, bucketDead} {
			if err := tx.Bucket(name).ForEachBucket(func(k []byte) error {
				set[string(k)] = struct{}{}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sinks := make([]string, 0, len(set))
	for s := range set {
		sinks = append(sinks, s)
	}
	sort.Strings(sinks)
	return sinks, nil
}

// SinkStats describes one sink's buckets.
type SinkStats struct {
	// Pending counts outbox entries.
	Pending int
	// Dead counts dead letters.
	Dead int
	// Oldest is the Enqueued time of the first pending entry; zero if none.
	Oldest time.Time
	// OldestDead is when the first remaining dead letter was dead-lettered; zero if none.
	OldestDead time.Time
}

// Stats describes the whole store.
type Stats struct {
	// Sinks maps every sink with an outbox or dead-letter bucket to its figures.
	Sinks map[string]SinkStats
	// FileBytes is the size of the file, which never shrinks (see the package doc).
	FileBytes int64
	// Schema is the layout version of the file.
	Schema int
	// Cursors maps every cursor name to the size of its value in bytes.
	Cursors map[string]int
}

// Stats counts entries per sink. It reads every page of the sink buckets, so it is
// meant for the CLI and the status page, not for every event.
func (db *DB) Stats() (Stats, error) {
	st := Stats{Sinks: map[string]SinkStats{}, Cursors: map[string]int{}}
	err := db.view(func(tx *bbolt.Tx) error {
		st.FileBytes = tx.Size()
		if v := tx.Bucket(bucketMeta).Get(keySchema); len(v) == 8 {
			st.Schema = int(binary.BigEndian.Uint64(v))
		}
		if err := tx.Bucket(bucketCursors).ForEach(func(k, v []byte) error {
			if v != nil {
				st.Cursors[string(k)] = len(v)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, dead := range []bool{false, true} {
			name := bucketOutbox
			if dead {
				name = bucketDead
			}
			parent := tx.Bucket(name)
			err := parent.ForEachBucket(func(k []byte) error {
				sb := parent.Bucket(k)
				ss := st.Sinks[string(k)]
				n := sb.Stats().KeyN
				var first time.Time
				if _, v := sb.Cursor().First(); v != nil {
					// A corrupt first record leaves the age unknown; Check reports it.
					if r, err := decodeRecord(v, false); err == nil {
						first = r.enqueued
						if dead {
							first = r.at
						}
					}
				}
				if dead {
					ss.Dead, ss.OldestDead = n, first
				} else {
					ss.Pending, ss.Oldest = n, first
				}
				st.Sinks[string(k)] = ss
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Stats{}, err
	}
	if fi, err := os.Stat(db.path); err == nil {
		st.FileBytes = fi.Size()
	}
	return st, nil
}

// Cursor returns the value stored under name by SetCursor, or nil, nil when unset.
func (db *DB) Cursor(name string) ([]byte, error) {
	var out []byte
	err := db.view(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketCursors).Get([]byte(name)); v != nil {
			out = append(make([]byte, 0, len(v)), v...)
		}
		return nil
	})
	return out, err
}

// Cursors calls fn for every cursor whose name starts with prefix, in name order,
// with a copy of its value. fn runs outside the transaction, so it may call other DB
// methods; an error from fn stops the walk and is returned.
func (db *DB) Cursors(prefix string, fn func(name string, value []byte) error) error {
	type named struct {
		name  string
		value []byte
	}
	var list []named
	err := db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketCursors).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if v != nil {
				list = append(list, named{string(k), append(make([]byte, 0, len(v)), v...)})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range list {
		if err := fn(n.name, n.value); err != nil {
			return err
		}
	}
	return nil
}

// DeadCount returns the number of dead letters across every sink. It walks only the
// dead-letter buckets (Stats also walks every outbox, which reads the whole file).
func (db *DB) DeadCount() (int, error) {
	by, err := db.DeadCounts()
	n := 0
	for _, c := range by {
		n += c
	}
	return n, err
}

// DeadCounts returns the number of dead letters of each sink that has any (the
// refused events under "@rejected"), walking only the dead-letter buckets.
func (db *DB) DeadCounts() (map[string]int, error) {
	by := map[string]int{}
	err := db.view(func(tx *bbolt.Tx) error {
		parent := tx.Bucket(bucketDead)
		return parent.ForEachBucket(func(k []byte) error {
			if n := parent.Bucket(k).Stats().KeyN; n > 0 {
				by[string(k)] = n
			}
			return nil
		})
	})
	return by, err
}
