package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the layout version this build writes. Open refuses a file with a
// higher one (ErrSchemaNewer) and upgrades a lower one by rewriting meta/schema once.
// Schema 2 added record version 2 (self-describing, checksummed); a schema 1 file's
// version 1 records still read, and an edgerelay that knows only schema 1 refuses a
// schema 2 file cleanly instead of taking its new records for damage.
const schemaVersion = 2

// Bucket and key names of the layout.
var (
	bucketMeta    = []byte("meta")
	bucketOutbox  = []byte("outbox")
	bucketDead    = []byte("dead")
	bucketCursors = []byte("cursors")
	keySchema     = []byte("schema")
	keyRecords    = []byte("records") // "2": the file was created holding version 2 records only
)

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Timeout bounds the wait for the file lock. Zero means one second. When another
	// process keeps the lock, Open returns an error wrapping ErrLocked.
	Timeout time.Duration
	// NoVerify skips decoding every record and bbolt's own consistency check at Open.
	// The bounds check of the page tree (the preflight) always runs, because a damaged
	// page could otherwise crash the process.
	NoVerify bool
	// FreelistType is "hashmap" (the default when empty) or "array".
	FreelistType string
	// NoSync skips fsync on commit. It makes the store NOT durable across power loss
	// or a kernel crash and exists only so that benchmarks can measure the cost of
	// durability with the same code path (config key store.unsafe_no_sync).
	NoSync bool
	// Logger receives the store's few log lines (quarantine, failing group commits).
	// Nil discards them.
	Logger *slog.Logger
}

// DB is an open store. Its methods are safe for concurrent use; bbolt serialises the
// write transactions, so for throughput send writes through one Writer.
type DB struct {
	bolt     *bbolt.DB
	path     string
	log      *slog.Logger
	pageSize int
	readOnly bool // opened by OpenReadOnly
	v2only   bool // meta/records is "2": a version 1 record here is damage, not an old record

	movedTo, reason string // set once by Open when it quarantined the previous file
	salvage         *SalvageReport
	salvageErr      error

	closed       atomic.Bool
	commits      atomic.Uint64
	bytesWritten atomic.Uint64
	lastCommit   atomic.Int64 // Unix nanoseconds of the last commit, 0 before the first

	commitFault atomic.Pointer[func() error] // tests only: see SetCommitFault

	lim limitState // see limits.go
}

// Path returns the file path the store was opened with.
func (db *DB) Path() string { return db.path }

// Quarantined reports whether Open found the file corrupt. If so, movedTo is where the
// damaged file now lives (it is never deleted), reason says what was wrong, and the DB
// is a fresh store holding what Salvaged reports. Both are empty when the file was
// healthy.
func (db *DB) Quarantined() (movedTo, reason string) { return db.movedTo, db.reason }

// Salvaged reports, when Open quarantined the file, what it salvaged from it into
// this DB (see Salvage); err says why the salvage failed, the DB then starting empty.
// Both are zero when the file was healthy.
func (db *DB) Salvaged() (rep *SalvageReport, err error) { return db.salvage, db.salvageErr }

// Close closes the store, waiting for a running transaction to end. Every later call
// of a DB method returns ErrClosed; a second Close returns nil.
func (db *DB) Close() error {
	if !db.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", db.path, err)
	}
	return nil
}

// Counters are cumulative figures about the writes of this DB since Open.
type Counters struct {
	// Commits counts successful read-write transactions.
	Commits uint64
	// BytesWritten estimates the bytes handed to the operating system by those
	// commits: every page the transaction allocated (bbolt writes each dirty page,
	// overflow pages included, exactly once) plus one page for the meta page. It does
	// not count what the filesystem adds (journal, metadata of the file growing) nor
	// the flash controller's own write amplification, so it is a lower bound of the
	// flash wear, good for comparing configurations and for a per-event trend.
	BytesWritten uint64
	// LastCommit is when the last commit finished; zero before the first.
	LastCommit time.Time
}

// Counters returns the write counters. It works after Close too.
func (db *DB) Counters() Counters {
	c := Counters{Commits: db.commits.Load(), BytesWritten: db.bytesWritten.Load()}
	if ns := db.lastCommit.Load(); ns != 0 {
		c.LastCommit = time.Unix(0, ns)
	}
	return c
}

// mapErr turns bbolt's closed-database error into ErrClosed.
func mapErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// update runs fn in one read-write transaction and commits it (bbolt fsyncs the data
// pages, then the meta page). On error nothing is applied. The dead-letter usage that
// Commit keeps (limits.go) is recounted after it.
func (db *DB) update(fn func(*bbolt.Tx) error) error {
	return db.updateCounted(func(tx *bbolt.Tx) error {
		db.forgetDeadUsage()
		return fn(tx)
	})
}

// updateCounted is update for Commit, which keeps the dead-letter usage itself.
func (db *DB) updateCounted(fn func(*bbolt.Tx) error) error {
	if db.closed.Load() {
		return ErrClosed
	}
	tx, err := db.bolt.Begin(true)
	if err != nil {
		return mapErr(err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op (ErrTxClosed) after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	st := tx.Stats()
	db.commits.Add(1)
	db.bytesWritten.Add(uint64(st.GetPageAlloc()) + uint64(db.pageSize))
	db.lastCommit.Store(time.Now().UnixNano())
	if db.lim.maxBytes.Load() > 0 { // HasRoom needs it; unbounded, Space measures on demand
		db.measureLive()
	}
	return nil
}

// view runs fn in a read-only transaction.
func (db *DB) view(fn func(*bbolt.Tx) error) error {
	if db.closed.Load() {
		return ErrClosed
	}
	return mapErr(db.bolt.View(fn))
}
