package adapters

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Limits of a source's [State]. Set refuses what would exceed them with an error
// wrapping [ErrStateLimit], so that bad upstream input can never fill the flash: a
// source holds at most MaxStateEntries × MaxStateValue bytes of state.
const (
	// MaxStateName is the longest state name, in bytes.
	MaxStateName = 64
	// MaxStateValue is the largest state value, in bytes.
	MaxStateValue = 4096
	// MaxStateEntries is the most names one source may hold at once.
	MaxStateEntries = 32
)

// ErrStateLimit is wrapped by the error State.Set returns when a value is larger than
// MaxStateValue, a name longer than MaxStateName, or a new name would be one more
// than MaxStateEntries.
var ErrStateLimit = errors.New("source state limit exceeded")

// State is a source's small named, persisted state: a poll cursor, consumer offsets, a
// node id. The daemon keeps it in its store, under the source's instance name, so two
// sources never see each other's names; it is loaded before the source is built and
// survives restarts of the source and of the daemon.
//
// Set only records a value; the daemon commits it with the store's next group commit
// (within store.commit_window), coalesced: however many times a source sets its names
// during one window, they cost at most one small write, and setting a value a name
// already has costs nothing. Values are therefore best set when they change, not on a
// timer. Use Flush when something upstream may only happen once the value is safe,
// such as acknowledging or deleting what a cursor has moved past.
//
// A crash loses at most the values set since the last commit: after a restart Get
// returns a value that was Set, at least as new as the last one a Flush confirmed.
// Since a cursor is best moved only once the events it covers are safe (their
// Publish done callbacks reported a Settlement whose OK is true), a lost value means the source reads those
// events again: duplicates, never a loss.
//
// The methods are safe for concurrent use.
type State interface {
	// Get returns the value last Set under name in this run of the daemon, or the
	// value loaded from the store when the daemon started; nil when the name has none.
	// The slice is the caller's.
	Get(name string) []byte
	// Set records value under name and returns without waiting for the store; an
	// empty (or nil) value removes the name. value is copied. A name is 1 to
	// MaxStateName bytes of ASCII letters, digits, '.', '_' and '-', starting with a
	// letter or digit. Set fails, changing nothing, for a bad name, for a value or a
	// count beyond the limits (wrapping ErrStateLimit), and once the daemon is
	// shutting down.
	Set(name string, value []byte) error
	// Flush waits until every value this source Set before the call is durable (or
	// was set back to the value already stored). It returns ctx.Err() if ctx ends
	// first, and an error when the daemon's store writer has stopped. While commits
	// fail (a full disk) the daemon retries them and Flush keeps waiting.
	Flush(ctx context.Context) error
}

// Limits of a source's [Table]s. A table holds at most MaxTableEntries records of at
// most MaxTableValue bytes each; a source chooses lower limits with [TableLimits].
const (
	// MaxTableEntries is the most records one table may hold.
	MaxTableEntries = 100000
	// MaxTableValue is the largest record value, in bytes (the store's cursor limit).
	MaxTableValue = 64 << 10
	// MaxTableKey is the longest record key, in bytes. With a table name of at most
	// MaxStateName bytes it keeps the record's name in the store
	// (table/<source>/<table>/<key>) within the store's limit for any source name the
	// daemon accepts a table for.
	MaxTableKey = 200
)

// TableLimits bound one [Table]. A zero field means the maximum (MaxTableEntries,
// MaxTableValue); a field beyond the maximum or negative makes Deps.Table fail.
type TableLimits struct {
	// MaxEntries is the most records the table holds at once: a Set of a new key
	// beyond it fails (wrapping ErrStateLimit).
	MaxEntries int
	// MaxValue is the largest value Set accepts, in bytes.
	MaxValue int
}

// Table is a source's keyed, persisted records: up to MaxTableEntries small values
// (one per alert a receiver knows, say) that survive restarts of the source and of
// the daemon. It is the sibling of [State] for many records: State is a handful of
// names, rescanned whole; a Table's commit costs only the records that changed.
//
// The daemon keeps a table in its store under table/<source>/<table>/<key> and loads
// it when the source opens it with Deps.Table (in its constructor, so that the
// records are there before the source takes its first event). The durability
// contract is State's: Set only records a value, and the daemon commits it with the
// store's next group commit (within store.commit_window), together with every other
// State and Table change, coalesced: however many Sets happen in one window they cost
// one write, of the records whose value changed; setting a value a key already has
// costs nothing. A crash loses at most the Sets since the last commit: after a
// restart Get returns, for every key, a value that was Set, at least as new as the
// last one a Flush confirmed (a deleted key may come back if its delete was lost).
//
// A key is 1 to MaxTableKey bytes, any byte but NUL ('\x00'); it may hold '/'. See
// [CheckTableKey].
//
// The methods are safe for concurrent use.
type Table interface {
	// Get returns the value of key, nil when the table has none. The slice is the
	// caller's.
	Get(key string) []byte
	// Set records value under key and returns without waiting for the store; an
	// empty (or nil) value deletes the key. value is copied. Set fails, changing
	// nothing, for a bad key, for a value longer than the table's MaxValue or a new
	// key beyond its MaxEntries (both wrapping ErrStateLimit), and once the daemon is
	// shutting down. When the stored records exceed limits opened smaller than
	// before, they stay (the source evicts what it no longer wants) and only new keys
	// are refused until the table is within its limits again.
	Set(key string, value []byte) error
	// Range calls f for every record, in key order (bytewise), until f returns false.
	// It reports the records as they were when Range was called; f may call the
	// table's other methods. f must not modify value (it may keep it). Range costs
	// O(n log n) for n records: it is meant for loading an index at start, not for
	// every request.
	Range(f func(key string, value []byte) bool)
	// Len returns the number of records.
	Len() int
	// Flush waits until every value the table Set before the call is durable, like
	// State.Flush: ctx.Err() if ctx ends first, an error when the daemon's store
	// writer has stopped; while commits fail it keeps waiting.
	Flush(ctx context.Context) error
}

// CheckTableKey reports whether key is a valid Table key: 1 to MaxTableKey bytes,
// none of them NUL. Table.Set refuses other keys with this error (a key too long
// wraps ErrStateLimit).
func CheckTableKey(key string) error {
	switch {
	case key == "":
		return errors.New("table key is empty")
	case len(key) > MaxTableKey:
		return fmt.Errorf("table key of %d bytes, the limit is %d: %w", len(key), MaxTableKey, ErrStateLimit)
	case strings.IndexByte(key, 0) >= 0:
		return errors.New("table key holds a NUL byte")
	}
	return nil
}
