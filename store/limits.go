package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// Limits bound what bad input, or a sink down for weeks, can make the store keep. The
// zero value bounds nothing.
type Limits struct {
	// MaxBytes bounds the store's live data: the pages in use below the file's
	// high-water mark, counted after every commit. It is not the file size: the file
	// never shrinks, and its free pages are reused before it grows, so a file that
	// once held a large backlog is full of room again once the backlog drained. The
	// store does not refuse writes by itself: HasRoom tells the caller (the pipeline)
	// whether to write more events, and Space reports the state. Zero means no bound.
	MaxBytes int64
	// MaxDeadLetters bounds each sink's dead letters in number; a commit that would
	// keep more evicts the oldest of that sink in the same transaction. Zero means no
	// bound.
	MaxDeadLetters int
	// MaxDeadBytes bounds each sink's dead letters in bytes (keys and encoded
	// records), evicting the oldest the same way; the newest dead letter is always
	// kept, whatever its size. Zero means no bound.
	MaxDeadBytes int64
}

// Space is the store's live data against its bound; see Limits.MaxBytes.
type Space struct {
	// Live is the bytes of the pages in use after the last commit.
	Live int64
	// Max is Limits.MaxBytes; zero when unbounded.
	Max int64
	// Full is set once HasRoom found Live (plus what the caller was about to add) at
	// Max or over, and cleared once a commit leaves Live under 90% of Max, so that a
	// store at the bound does not flap between full and not full at every commit.
	Full bool
	// Since is when Full was last set; zero when not full.
	Since time.Time
}

// Eviction is what one commit evicted from one sink's dead letters.
type Eviction struct {
	Sink  string
	Count int
	Bytes int64
}

// limitState is the DB's part for Limits. The dead-letter usage per sink is computed
// by walking a sink's dead letters the first time a commit adds one there, and kept
// up to date by Commit; any other write transaction (Retry, Drop, the CLI's repairs)
// bumps gen, which makes every later commit walk again.
type limitState struct {
	mu      sync.Mutex // guards lim, dead, gen, evicted, since
	lim     Limits
	dead    map[string]deadUsage
	gen     uint64
	evicted map[string]uint64
	since   time.Time

	maxBytes    atomic.Int64 // lim.MaxBytes, for HasRoom's fast path
	deadBounded atomic.Bool  // lim.MaxDeadLetters or lim.MaxDeadBytes set, for deadTxBegin's
	live        atomic.Int64
	liveSet     atomic.Bool // live was computed at least once
	full        atomic.Bool
	onEvict     atomic.Pointer[func([]Eviction)]
}

type deadUsage struct {
	n     int
	bytes int64
}

// SetLimits sets the bounds. Later commits apply them; dead letters already over a
// new bound are evicted by the next commit that adds one to their sink.
func (db *DB) SetLimits(l Limits) {
	db.lim.mu.Lock()
	db.lim.lim = l
	db.lim.maxBytes.Store(l.MaxBytes)
	db.lim.deadBounded.Store(l.MaxDeadLetters > 0 || l.MaxDeadBytes > 0)
	db.lim.mu.Unlock()
	db.measureLive() // a raised bound may end the full state at once
}

// OnEvict makes f receive, after each commit that evicted dead letters, what it
// evicted per sink. It runs on the committing goroutine (the writer's) and must not
// block. Nil removes it.
func (db *DB) OnEvict(f func([]Eviction)) {
	if f == nil {
		db.lim.onEvict.Store(nil)
		return
	}
	db.lim.onEvict.Store(&f)
}

// Evicted returns, per sink, how many dead letters the bounds evicted since Open.
func (db *DB) Evicted() map[string]uint64 {
	db.lim.mu.Lock()
	defer db.lim.mu.Unlock()
	out := make(map[string]uint64, len(db.lim.evicted))
	for k, v := range db.lim.evicted {
		out[k] = v
	}
	return out
}

// Space reports the live data against Limits.MaxBytes.
func (db *DB) Space() Space {
	if !db.lim.liveSet.Load() || db.lim.maxBytes.Load() == 0 {
		db.measureLive() // commits keep it current only while bounded
	}
	db.lim.mu.Lock()
	defer db.lim.mu.Unlock()
	s := Space{Live: db.lim.live.Load(), Max: db.lim.lim.MaxBytes, Full: db.lim.full.Load()}
	if s.Full {
		s.Since = db.lim.since
	}
	return s
}

// HasRoom reports whether extra more bytes may be written without reaching
// Limits.MaxBytes, counting the live data of the last commit. A false answer marks
// the store full (see Space.Full) until a commit brings it under 90% of the bound;
// while full every call answers false. It is cheap: three atomic loads when there
// is room.
func (db *DB) HasRoom(extra int64) bool {
	if db.lim.full.Load() {
		return false
	}
	max := db.lim.maxBytes.Load()
	if max <= 0 || db.lim.live.Load()+extra < max {
		return true
	}
	db.lim.mu.Lock()
	defer db.lim.mu.Unlock()
	if !db.lim.full.Swap(true) {
		db.lim.since = time.Now()
		db.log.Warn("the store reached store.max_bytes: events are no longer stored, and sources are not acknowledged for events a sink has not delivered, until the backlog drains",
			"live_bytes", db.lim.live.Load(), "max_bytes", max)
	}
	return false
}

// measureLive computes the live data: the file's pages up to its high-water mark
// minus bbolt's free and pending pages (freed ones that a reader may still see; they
// are reused as soon as it ends). One read transaction; bbolt keeps the free counts.
func (db *DB) measureLive() {
	var hwm int64
	if err := db.view(func(tx *bbolt.Tx) error { hwm = tx.Size(); return nil }); err != nil {
		return
	}
	live := hwm - int64(db.bolt.Stats().FreeAlloc)
	db.lim.live.Store(live)
	db.lim.liveSet.Store(true)
	if !db.lim.full.Load() {
		return
	}
	db.lim.mu.Lock()
	defer db.lim.mu.Unlock()
	if max := db.lim.lim.MaxBytes; max <= 0 || live < max-max/10 {
		if db.lim.full.Swap(false) {
			db.log.Info("the store is back under store.max_bytes: events are stored again",
				"live_bytes", live, "max_bytes", max, "full_for_s", time.Since(db.lim.since).Round(time.Second).Seconds())
			db.lim.since = time.Time{}
		}
	}
}

// deadTx is a commit's view of the dead-letter bounds: the usage of the sinks it
// touched, applied to the DB only when the commit succeeds.
type deadTx struct {
	db      *DB
	lim     Limits
	gen     uint64
	usage   map[string]deadUsage
	evicted []Eviction
}

// begin starts a commit's view; it runs inside the write transaction.
func (db *DB) deadTxBegin() *deadTx {
	if !db.lim.deadBounded.Load() {
		return nil // no lock on the commit path of a store without dead-letter bounds
	}
	db.lim.mu.Lock()
	defer db.lim.mu.Unlock()
	if db.lim.lim.MaxDeadLetters <= 0 && db.lim.lim.MaxDeadBytes <= 0 {
		return nil
	}
	return &deadTx{db: db, lim: db.lim.lim, gen: db.lim.gen}
}

// added accounts a dead letter of size bytes (key included) just appended to sink's
// bucket b, and evicts the oldest while the sink is over a bound.
func (d *deadTx) added(b *bbolt.Bucket, sink string, size int) error {
	if d == nil {
		return nil
	}
	u, ok := d.usage[sink]
	if !ok {
		d.db.lim.mu.Lock()
		u, ok = d.db.lim.dead[sink]
		if d.db.lim.gen != d.gen {
			ok = false
		}
		d.db.lim.mu.Unlock()
		if ok {
			u.n++
			u.bytes += int64(size)
		} else {
			u = walkDead(b) // includes the record just appended
		}
		if d.usage == nil {
			d.usage = map[string]deadUsage{}
		}
	} else {
		u.n++
		u.bytes += int64(size)
	}
	var ev Eviction
	c := b.Cursor()
	for u.n > 1 && (d.lim.MaxDeadLetters > 0 && u.n > d.lim.MaxDeadLetters ||
		d.lim.MaxDeadBytes > 0 && u.bytes > d.lim.MaxDeadBytes) {
		k, v := c.First()
		if k == nil {
			break
		}
		sz := int64(len(k) + len(v))
		if err := c.Delete(); err != nil {
			return fmt.Errorf("evict the oldest dead letter of %q: %w", sink, err)
		}
		u.n--
		u.bytes -= sz
		ev.Count++
		ev.Bytes += sz
	}
	d.usage[sink] = u
	if ev.Count > 0 {
		for i := range d.evicted {
			if d.evicted[i].Sink == sink {
				d.evicted[i].Count += ev.Count
				d.evicted[i].Bytes += ev.Bytes
				return nil
			}
		}
		ev.Sink = sink
		d.evicted = append(d.evicted, ev)
	}
	return nil
}

// walkDead counts a dead-letter bucket's records and bytes.
func walkDead(b *bbolt.Bucket) deadUsage {
	var u deadUsage
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			u.n++
			u.bytes += int64(len(k) + len(v))
		}
	}
	return u
}

// committed applies a successful commit's usage and evictions to the DB, logs the
// evictions (one line per sink and commit) and hands them to OnEvict.
func (d *deadTx) committed() {
	if d == nil {
		return
	}
	d.db.lim.mu.Lock()
	if d.db.lim.gen == d.gen {
		if d.db.lim.dead == nil {
			d.db.lim.dead = map[string]deadUsage{}
		}
		for s, u := range d.usage {
			d.db.lim.dead[s] = u
		}
	}
	for _, e := range d.evicted {
		if d.db.lim.evicted == nil {
			d.db.lim.evicted = map[string]uint64{}
		}
		d.db.lim.evicted[e.Sink] += uint64(e.Count)
	}
	d.db.lim.mu.Unlock()
	if len(d.evicted) == 0 {
		return
	}
	for _, e := range d.evicted {
		d.db.log.Warn("dead letters over their bound: evicted the oldest",
			"sink", e.Sink, "evicted", e.Count, "evicted_bytes", e.Bytes,
			"max_dead_letters", d.lim.MaxDeadLetters, "max_dead_bytes", d.lim.MaxDeadBytes)
	}
	if f := d.db.lim.onEvict.Load(); f != nil {
		(*f)(d.evicted)
	}
}

// forgetDeadUsage makes the next commits recount the dead letters; every write
// transaction that is not a Commit runs it inside its transaction.
func (db *DB) forgetDeadUsage() {
	db.lim.mu.Lock()
	db.lim.gen++
	db.lim.dead = nil
	db.lim.mu.Unlock()
}
