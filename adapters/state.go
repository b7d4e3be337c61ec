package adapters

import (
	"context"
	"errors"
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
