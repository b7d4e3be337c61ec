// Package state keeps the sources' persisted state ([adapters.State]): a few small
// named values per source instance (a poll cursor, consumer offsets, a node id); and
// their tables ([adapters.Table]): up to adapters.MaxTableEntries keyed records each.
//
// The values live in the store's cursors bucket under source/<instance>/<name>, the
// records under table/<instance>/<table>/<key>; the store sees opaque names and
// bytes. [Load] reads the State values when the daemon starts, before any source is
// built, so a source finds its last durable value in its constructor already.
// [Committer.For] gives each source a view confined to its own names. A table is read
// when its source opens it ([Committer.Table]), not at Load, so that a daemon whose
// sources open no table never reads its records.
//
// # Commits
//
// A Set only records the value in memory, files the record among the ones to write
// (the dirty set) and, unless a commit is already on its way, submits one [store.Job]
// to the daemon's group-commit writer. That job is prepared when the writer's window
// closes and writes every record of the dirty set that differs from the stored one at
// that moment, so however many Sets happen within a window they cost one write, of
// the records that changed (never a scan of every record), and a value set back to
// what the store holds costs none (an empty batch is no transaction). A Set during a
// commit submits the next job, which goes into the next window: at most one write per
// commit window, for every source's State and tables together.
//
// State does not wait in the pipeline's ordered retry list: a source moves its state
// only once the events it accounts for are safe (their done callbacks reported a settlement whose OK is true),
// so it has no order to keep with the events. A failed commit leaves the values
// pending (the latest one wins) and tries again after RetryDelay, as the pipeline's
// deletes do. At shutdown [Committer.Close] commits what is pending, retrying, before
// the daemon stops the writer.
package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/store"
)

// keyPrefix is the namespace of source state among the store's cursors.
const keyPrefix = "source/"

// Key returns the store cursor name of a source's state name.
func Key(source, name string) string { return keyPrefix + source + "/" + name }

// SplitKey is the inverse of Key; ok is false for a cursor outside the source
// namespace. A state name never holds a '/', so the last one separates it.
func SplitKey(key string) (source, name string, ok bool) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	i := strings.LastIndexByte(rest, '/')
	if !ok || i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// defaultRetryDelay is the wait before a failed commit is tried again; the pipeline
// waits as long.
const defaultRetryDelay = 500 * time.Millisecond

// ErrClosed is returned by Set once the daemon is shutting down.
var ErrClosed = errors.New("source state is closed: the daemon is shutting down")

// Options tune a Committer. The zero value is ready to use.
type Options struct {
	// Log receives what goes wrong. Nil discards it.
	Log *slog.Logger
	// RetryDelay is the wait before a failed commit is tried again. Zero means 500ms.
	RetryDelay time.Duration
	// Clock times the retries when AfterFunc is nil. Nil means clock.Real; the daemon
	// gives the clock its writer and pipeline use.
	Clock clock.Clock
	// AfterFunc calls f once, on its own goroutine, after d, like time.AfterFunc, and
	// returns a function that cancels the call. Nil means Clock.AfterFunc; tests
	// replace it to fire retries themselves.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

// Committer holds every source's state and tables and commits them through a
// store.Writer.
type Committer struct {
	db         *store.DB     // nil for Memory
	w          *store.Writer // nil for Memory: nothing is committed
	log        *slog.Logger
	retryDelay time.Duration
	afterFunc  func(time.Duration, func()) func() bool

	mu     sync.Mutex // guards every field below and the spaces' and entries' fields
	views  map[string]*view
	tables map[tableID]*table
	// todo is the dirty set: the entries whose value the store does not hold and
	// that no commit carries (so the next job writes exactly these).
	todo    map[*entry]struct{}
	changes uint64 // counts Sets that changed a value; the number orders them
	queued  bool   // a job is submitted and not yet prepared
	// retry cancels the retry timer armed after a failed commit; nil when none is
	// armed. While it is armed, Sets only record their values.
	retry func() bool
	// changed is closed and replaced whenever values become durable or clean, or the
	// committer can commit no more: Flush waits on it.
	changed chan struct{}
	closing bool  // Close was called: Set fails
	closed  bool  // Close returned: timers and late Done calls do nothing
	stopped error // the writer refused a job; nothing will be committed any more
}

// entry is one name's value (a State name or a table key).
type entry struct {
	sp   *space
	key  string // the name within sp
	cur  []byte // the value last Set or loaded; nil when the name has none
	disk []byte // the value the store holds; nil when none
	// change numbers cur, diskChange disk (0: loaded).
	change, diskChange uint64
	busy               bool // a commit in progress carries it
}

// clean reports whether the store holds cur and no commit is about to change that.
func (e *entry) clean() bool { return !e.busy && bytes.Equal(e.cur, e.disk) }

// space is one namespace of entries in the store: a source's State or one table.
type space struct {
	prefix  string // the store name of a key is prefix + key
	entries map[string]*entry
	// unclean holds the entries that are not clean (in the committer's todo, or
	// carried by a commit): Flush and Close look at these only.
	unclean map[string]*entry
	peak    int    // the most entries unclean has held since it was last made
	live    int    // the entries that have a value
	last    uint64 // the number of the space's latest change
}

func newSpace(prefix string) space {
	return space{prefix: prefix, entries: map[string]*entry{}, unclean: map[string]*entry{}}
}

// view is one source's State.
type view struct {
	space
	c      *Committer
	source string
}

// tableID names a table: its source and its name.
type tableID struct{ source, name string }

// table is one source's Table.
type table struct {
	space
	c      *Committer
	id     tableID
	limits adapters.TableLimits // guarded by c.mu; zero fields already replaced
}

// Load reads every source's state from db and returns a Committer that commits
// changes through w, which must be the writer of db. Start w's Run before the first
// Flush; Sets may come earlier.
func Load(db *store.DB, w *store.Writer, o Options) (*Committer, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = defaultRetryDelay
	}
	if o.AfterFunc == nil {
		c := clock.Or(o.Clock)
		o.AfterFunc = func(d time.Duration, f func()) func() bool { return c.AfterFunc(d, f).Stop }
	}
	c := newCommitter(o)
	c.db, c.w = db, w
	err := db.Cursors(keyPrefix, func(key string, v []byte) error {
		src, name, ok := SplitKey(key)
		if !ok || len(v) == 0 {
			c.log.Warn("ignoring a stored source state the daemon does not write", "name", key)
			return nil
		}
		vw := c.viewLocked(src)
		vw.entries[name] = &entry{sp: &vw.space, key: name, cur: v, disk: v}
		vw.live++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load source state: %w", err)
	}
	return c, nil
}

// Memory returns a Committer that commits nothing: its State and tables start empty,
// keep what is Set in memory, and Flush returns at once. `config check` gives it to
// the sources it builds, which must not write the store; tests of a source may too.
// It applies every rule of a Committer over a store (names, keys, limits).
func Memory() *Committer {
	return newCommitter(Options{})
}

func newCommitter(o Options) *Committer {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Committer{
		log: o.Log, retryDelay: o.RetryDelay, afterFunc: o.AfterFunc,
		views: map[string]*view{}, tables: map[tableID]*table{}, todo: map[*entry]struct{}{},
		changed: make(chan struct{}),
	}
}

// For returns the State of the source instance named source. Every call for one name
// returns the same state.
func (c *Committer) For(source string) adapters.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.viewLocked(source)
}

func (c *Committer) viewLocked(source string) *view {
	v := c.views[source]
	if v == nil {
		v = &view{space: newSpace(Key(source, "")), c: c, source: source}
		c.views[source] = v
	}
	return v
}

// Close commits every pending value and waits until the store holds it, retrying
// failed commits, until ctx ends; later Sets fail with ErrClosed. Call it after the
// sources have stopped and before the writer stops. The error names the sources
// whose state was not saved.
func (c *Committer) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closing = true
	if c.w == nil { // Memory: there is nothing to save
		c.closed = true
		c.mu.Unlock()
		return nil
	}
	if c.retry != nil && c.retry() { // a retry was waiting: try now
		c.retry = nil
	}
	c.kickLocked()
	c.mu.Unlock()

	err := c.wait(ctx, func() bool { return c.unsavedLocked() == nil })

	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.retry != nil {
		c.retry()
		c.retry = nil
	}
	if err != nil {
		return fmt.Errorf("state of %s not saved: %w", strings.Join(c.unsavedLocked(), ", "), err)
	}
	return nil
}

// unsavedLocked lists, sorted, the sources with a value the store does not hold
// (and, as "<source> table <name>", the tables).
func (c *Committer) unsavedLocked() []string {
	var out []string
	for _, v := range c.views {
		if !v.durableLocked(^uint64(0)) {
			out = append(out, v.source)
		}
	}
	for _, t := range c.tables {
		if !t.durableLocked(^uint64(0)) {
			out = append(out, t.id.source+" table "+t.id.name)
		}
	}
	sort.Strings(out)
	return out
}

// wait blocks until cond (called with mu held) holds, ctx ends or nothing can be
// committed any more.
func (c *Committer) wait(ctx context.Context, cond func() bool) error {
	c.mu.Lock()
	for !cond() {
		if err := c.stopped; err != nil {
			c.mu.Unlock()
			return err
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
	return nil
}

func (c *Committer) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// kickLocked submits a job unless one is queued, a retry is waiting, or committing
// is over, and there is something to write.
func (c *Committer) kickLocked() {
	if c.w == nil || c.queued || c.retry != nil || c.stopped != nil || c.closed || len(c.todo) == 0 {
		return
	}
	c.queued = true
	go c.submit(&job{c: c}) // ends when Submit returns (at the latest when the writer stops)
}

// fileLocked puts e where its state says, after any change of its value or of what
// the store holds: in the todo set when the next commit must write it, among its
// space's unclean entries unless it is clean, and out of its space once it has no
// value in memory nor in the store.
func (c *Committer) fileLocked(e *entry) {
	sp := e.sp
	switch {
	case e.clean():
		delete(c.todo, e)
		if _, ok := sp.unclean[e.key]; ok {
			delete(sp.unclean, e.key)
			if len(sp.unclean) == 0 && sp.peak > smallMap {
				// A Go map never shrinks and is walked in time of its capacity: a
				// map that held a bulk load would make every later Flush slow.
				sp.unclean, sp.peak = map[string]*entry{}, 0
			}
		}
		if e.cur == nil && sp.entries[e.key] == e {
			delete(sp.entries, e.key)
		}
	case e.busy:
		delete(c.todo, e)
		sp.addUnclean(e)
	default:
		c.todo[e] = struct{}{}
		sp.addUnclean(e)
	}
}

// smallMap is the size of a map that is cleared for reuse rather than replaced.
const smallMap = 256

func (sp *space) addUnclean(e *entry) {
	sp.unclean[e.key] = e
	sp.peak = max(sp.peak, len(sp.unclean))
}

// setLocked records value (nil: none) under key in sp, whose entry is e (nil when
// it has none): the caller checked the key and the limits.
func (c *Committer) setLocked(sp *space, key string, e *entry, value []byte) {
	switch {
	case e == nil && value == nil, e != nil && bytes.Equal(e.cur, value):
		return // unchanged: nothing to write
	case e == nil:
		e = &entry{sp: sp, key: key}
		sp.entries[key] = e
	}
	switch {
	case e.cur == nil:
		sp.live++
	case value == nil:
		sp.live--
	}
	c.changes++
	e.cur, e.change, sp.last = bytes.Clone(value), c.changes, c.changes
	c.fileLocked(e)
	if e.clean() {
		// Set back to the stored value before a commit took the change.
		c.broadcastLocked()
		return
	}
	c.kickLocked()
}

// submit hands j to the writer. It may block while the writer's queue is full, which
// is why Set does not call it itself.
func (c *Committer) submit(j *job) {
	err := c.w.Submit(context.Background(), j)
	if err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queued = false
	c.stopped = fmt.Errorf("the store writer has stopped: %w", err)
	c.broadcastLocked()
}

// retryNow is the retry timer's function.
func (c *Committer) retryNow() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.retry = nil
	c.kickLocked()
}

// job is one commit of the values pending when the writer prepares it.
type job struct {
	c     *Committer
	taken []taken
}

type taken struct {
	name   string // the store's
	e      *entry
	value  []byte
	change uint64
}

// Prepare writes every value the store does not hold yet: the todo set, in name
// order (which keeps the store's B+tree walk sequential).
func (j *job) Prepare(b *store.Batch) {
	c := j.c
	c.mu.Lock()
	c.queued = false
	j.taken = make([]taken, 0, len(c.todo))
	for e := range c.todo {
		e.busy = true
		j.taken = append(j.taken, taken{e: e, value: e.cur, change: e.change})
	}
	if len(c.todo) > smallMap {
		c.todo = map[*entry]struct{}{} // see fileLocked on big maps
	} else {
		clear(c.todo)
	}
	c.mu.Unlock()

	// The rest needs no lock, so that the sources' Sets do not wait for it: a busy
	// entry stays where it is, and its prefix, key and the value taken never change
	// (a Set replaces cur, it never writes into it).
	for i := range j.taken {
		t := &j.taken[i]
		t.name = t.e.sp.prefix + t.e.key
	}
	slices.SortFunc(j.taken, func(a, b taken) int { return strings.Compare(a.name, b.name) })
	for _, t := range j.taken {
		b.SetCursor(t.name, t.value) // copies; nil deletes
	}
}

// Done records what the commit made durable; after a failure the values stay pending
// and a retry is scheduled, unless a job is already queued.
func (j *job) Done(err error) {
	c := j.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range j.taken {
		t.e.busy = false
		if err == nil {
			t.e.disk, t.e.diskChange = t.value, t.change
		}
		c.fileLocked(t.e) // back into todo after a failure
	}
	if err != nil {
		c.log.Debug("source state commit failed; retrying", "retry_in_s", c.retryDelay.Seconds(), "err", err)
		if !c.queued && c.retry == nil && !c.closed {
			c.retry = c.afterFunc(c.retryDelay, c.retryNow)
		}
		return
	}
	if len(j.taken) > 0 {
		c.broadcastLocked()
	}
	c.kickLocked() // a Set during the commit normally queued the next job already
}

// Get implements adapters.State.
func (v *view) Get(name string) []byte {
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	if e := v.entries[name]; e != nil && e.cur != nil {
		return bytes.Clone(e.cur)
	}
	return nil
}

// Set implements adapters.State.
func (v *view) Set(name string, value []byte) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("source state name %q: %w", name, err)
	}
	if len(value) > adapters.MaxStateValue {
		return fmt.Errorf("source state %q: a value of %d bytes, the limit is %d: %w",
			name, len(value), adapters.MaxStateValue, adapters.ErrStateLimit)
	}
	if k := Key(v.source, name); len(k) > store.MaxCursorName {
		return fmt.Errorf("source state %q: the stored name %d bytes long exceeds the store's limit of %d: %w",
			name, len(k), store.MaxCursorName, adapters.ErrStateLimit)
	}
	if len(value) == 0 {
		value = nil
	}
	c := v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return ErrClosed
	}
	e := v.entries[name]
	if value != nil && (e == nil || e.cur == nil) && v.live >= adapters.MaxStateEntries {
		return fmt.Errorf("source state %q: the source already holds %d names, the limit: %w",
			name, adapters.MaxStateEntries, adapters.ErrStateLimit)
	}
	c.setLocked(&v.space, name, e, value)
	return nil
}

// Flush implements adapters.State.
func (v *view) Flush(ctx context.Context) error { return v.c.flush(ctx, &v.space) }

// flush waits until sp's changes up to now are durable.
func (c *Committer) flush(ctx context.Context, sp *space) error {
	if c.w == nil {
		return nil // Memory: nothing is ever written
	}
	c.mu.Lock()
	target := sp.last
	c.mu.Unlock()
	return c.wait(ctx, func() bool { return sp.durableLocked(target) })
}

// durableLocked reports whether the store holds, for every name of the space, its
// value as of change number target or a later one. (A name whose value of then is
// stored but which changed since waits for the newer one: Flush may wait one commit
// longer than it must, never shorter.) It looks at the unclean entries only.
func (sp *space) durableLocked(target uint64) bool {
	for _, e := range sp.unclean {
		if e.diskChange < target {
			return false
		}
	}
	return true
}

// checkName enforces the name syntax of adapters.State.Set.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty")
	}
	if len(name) > adapters.MaxStateName {
		return fmt.Errorf("%d bytes, the limit is %d: %w", len(name), adapters.MaxStateName, adapters.ErrStateLimit)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		alnum := 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9'
		if !alnum && (i == 0 || ch != '.' && ch != '_' && ch != '-') {
			return errors.New("want ASCII letters, digits, '.', '_' and '-', starting with a letter or digit")
		}
	}
	return nil
}
