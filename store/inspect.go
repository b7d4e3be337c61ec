package store

import (
	"fmt"
	"math"

	"go.etcd.io/bbolt"
)

// InspectDead calls fn for the dead letters of sink named by seqs, in that order (a
// seq that is no dead letter is skipped), or when seqs is nil for the first limit of
// them in Seq order (limit <= 0: all). It is ScanDead for a caller that only looks:
// the records are not copied, so that listing dead letters of events of hundreds of
// KiB costs no allocation of their size. fn runs inside a read transaction, and
// Data aliases the store's memory, valid only until fn returns: fn must not keep it,
// nor call other DB methods. A record that fails its checksum is passed with Corrupt
// set, as by ScanDead. At most scanChunk records are read per transaction, so that a
// long walk holds none for long. An error from fn stops it and is returned.
func (db *DB) InspectDead(sink string, seqs []uint64, limit int, fn func(Dead) error) error {
	if limit <= 0 {
		limit = math.MaxInt
	}
	pass := func(seq uint64, v []byte) error {
		r, err := decodeAt(v, bucketDead, sink, seq, false, db.v2only)
		if err != nil {
			r = record{corrupt: true, data: v, reason: corruptReason(bucketDead, sink, seq, err)}
		}
		limit--
		return fn(Dead{Entry: r.entry(sink, seq), Reason: r.reason, At: r.at})
	}
	if seqs != nil {
		for len(seqs) > 0 && limit > 0 {
			part := seqs[:min(len(seqs), scanChunk)]
			seqs = seqs[len(part):]
			err := db.view(func(tx *bbolt.Tx) error {
				sb := tx.Bucket(bucketDead).Bucket([]byte(sink))
				if sb == nil {
					return nil
				}
				for _, seq := range part {
					if limit == 0 {
						return nil
					}
					if v := sb.Get(seqKey(seq)); v != nil {
						if err := pass(seq, v); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	after := uint64(0)
	for limit > 0 {
		n := 0
		err := db.view(func(tx *bbolt.Tx) error {
			sb := tx.Bucket(bucketDead).Bucket([]byte(sink))
			if sb == nil {
				return nil
			}
			c := sb.Cursor()
			for k, v := c.Seek(seqKey(after + 1)); k != nil && n < scanChunk && limit > 0; k, v = c.Next() {
				seq, ok := keySeq(k)
				if !ok || v == nil {
					return fmt.Errorf("scan %s/%s: malformed key %x", bucketDead, sink, k)
				}
				n++
				after = seq
				if err := pass(seq, v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n < scanChunk || after == math.MaxUint64 {
			return nil
		}
	}
	return nil
}
