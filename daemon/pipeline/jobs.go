package pipeline

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/store"
)

// commitRetryDelay is the wait before a failed commit is tried again.
const commitRetryDelay = 500 * time.Millisecond

// state is where an item stands with respect to the store.
type state uint8

const (
	stFresh   state = iota // in memory only, not yet written
	stStoring              // carried by a commit in progress
	stStored               // in the sink's outbox under seq
	stDone                 // delivered or dead-lettered: nothing left to do
)

// item is one event on its way to one sink. Every field below ev is guarded by the
// owning lane's mu.
type item struct {
	ev       *adapters.Event
	job      *pubJob // nil for items loaded from the store
	lane     *lane
	key      string
	enqueued time.Time

	seq       uint64
	st        state
	spilled   bool // backlog mode: lives only in the store until the loader reads it
	inMem     bool
	inflight  bool
	settled   bool
	attempts  int
	persisted int // attempts as last written to the store
	next      time.Time
	lastErr   string
	// deadReason, when set, dead-letters the item instead of (or right after) storing.
	deadReason string
	// deliveredInCommit records a delivery that finished while a commit carried the item.
	deliveredInCommit bool
	// held is non-zero while the writer holds the item's job back: the number of its
	// entry in lane.held.
	held uint64
	// result is the item's part of its publish's settlement, set by settleLocked
	// before the job's remaining count drops (which orders it before finish reads it).
	result adapters.Settlement
}

func (it *item) entry(data []byte) *store.Entry {
	return &store.Entry{
		Sink: it.lane.name, Seq: it.seq, Key: it.ev.Key, Data: data, Enqueued: it.enqueued,
		Attempts: it.attempts, NextAttempt: it.next, LastError: it.lastErr,
	}
}

// pubJob is one published event: its items, the writer job that stores the undelivered
// ones, and the source's done callback.
type pubJob struct {
	p         *Pipeline
	items     []*item
	remaining atomic.Int32
	done      func(adapters.Settlement)
	once      sync.Once
	published time.Time
	// unbuffered: the job is never stored; it finishes when every item is delivered
	// and fails as soon as one delivery fails (see Options.Unbuffered).
	unbuffered bool
	// prompt: the job is never held back for a delivery (see Options.Prompt); it
	// waits only behind an earlier held job of one of its sinks, to keep their order.
	prompt bool

	// Used only on the writer goroutine: the items entered in their lane's held queue
	// while the writer holds this job back (see DeferUntil), the health generation of
	// the last full check, and whether every sink waiting for the event was healthy
	// then (rather than the job waiting only behind an earlier one).
	marked    []*item
	markedGen uint64
	healthy   bool
	// parked: Prepare put the job in the retry list instead of the batch, so its own
	// Done has nothing to settle (see retryList).
	parked bool

	// Used only on the writer goroutine between Prepare and Done: the encoded events
	// (one per distinct event: items share one unless a route transformed it).
	data     map[*adapters.Event][]byte
	prepared []*item
	entries  []*store.Entry

	// one and oneItem back items for an event with a single sink, the usual case, so
	// that Publish allocates the job, its item list and the item at once.
	one     [1]*item
	oneItem item
	// oneMarked backs marked for a job of one item.
	oneMarked [1]*item
}

// finish reports the settlement of every item, merged (see adapters.Outcome), to the
// source, once, and frees the back-pressure slot. The caller saw the last item settle.
func (j *pubJob) finish() {
	var s adapters.Settlement
	for _, it := range j.items {
		s = s.Merge(it.result)
	}
	if s.Outcome == 0 {
		s.Outcome = adapters.Dropped // no item: a route named no live sink
	}
	j.report(s)
}

// refuse reports the event refused with err, unless it was settled already.
func (j *pubJob) refuse(err error) { j.report(adapters.Refuse(err)) }

func (j *pubJob) report(s adapters.Settlement) {
	j.once.Do(func() {
		<-j.p.slots
		if j.done != nil {
			j.done(s)
		}
	})
}

// DeferUntil asks the writer to hold the job back while every sink still waiting for
// the event is healthy (connected, succeeding, in direct mode): such a sink will most
// likely deliver it within DeliverWindow, and a delivered item is never written. A
// job also waits while an earlier job holds back an item of the same sink, so that a
// sink's items reach the store in publish order. Called on the writer goroutine, for
// every waiting job in submission order.
//
// "Earlier" must mean earlier in the writer's order, not merely "marked": a lane can
// change health while the writer walks its jobs, so one walk can hold an earlier job
// (checked before the change, or not re-checked at all while healthGen matched) and
// find a later job of the same sink due. Each lane's held queue therefore keeps the
// order in which jobs were marked, which is the writer's order (see heldQueue).
func (j *pubJob) DeferUntil() time.Time {
	w := j.p.opt.DeliverWindow
	if w <= 0 {
		return time.Time{}
	}
	now := j.p.now()
	until := j.published.Add(w)
	gen := j.p.healthGen.Load()
	if len(j.marked) > 0 && j.healthy && gen == j.markedGen && until.After(now) && j.remaining.Load() > 0 {
		// Held back as deliverable before, no lane changed since, and an item is
		// still undelivered.
		return until
	}
	waiting, healthy, behind := false, !j.prompt, false
	for _, it := range j.items {
		l := it.lane
		l.mu.Lock()
		if it.st == stFresh {
			waiting = true
			if it.spilled || it.deadReason != "" || !l.connected || l.failing || l.backlog {
				healthy = false
			}
			if l.held.before(it) {
				behind = true
			}
		}
		l.mu.Unlock()
	}
	switch {
	case behind:
		if !healthy || !until.After(now) {
			// Due as soon as the jobs ahead are: look again at the writer's next window.
			until = now.Add(time.Millisecond)
		}
	case !waiting, !healthy, !until.After(now):
		j.unmark()
		return time.Time{}
	}
	j.markedGen, j.healthy = gen, healthy
	if len(j.marked) == 0 {
		for _, it := range j.items {
			l := it.lane
			l.mu.Lock()
			if it.st == stFresh {
				l.held.add(it)
				j.marked = append(j.marked, it)
			}
			l.checkLocked("hold")
			l.mu.Unlock()
		}
	}
	return until
}

// unmark takes the job's items out of their lanes' held queues.
func (j *pubJob) unmark() {
	for _, it := range j.marked {
		l := it.lane
		l.mu.Lock()
		l.held.release(it)
		l.checkLocked("unhold")
		l.mu.Unlock()
	}
	clear(j.marked)
	j.marked = j.marked[:0]
}

// Prepare writes the items no sink has delivered yet (the write-avoidance rule), or
// parks the job behind the writes of a failed commit.
func (j *pubJob) Prepare(b *store.Batch) {
	j.unmark()
	size := j.size()
	if size > 0 && j.p.retry.park(j) {
		j.parked = true
		return
	}
	if !j.p.room(size) {
		// The store is at store.max_bytes: the job waits in the retry list, as
		// after a failed commit, until the backlog drains (see room).
		j.parked = true
		j.p.retry.failed(j)
		return
	}
	j.prepare(b)
}

// size returns about how many bytes prepare would add to the store: the fresh
// items' events and their record overhead. It estimates rather than encodes, so that
// a job waiting for room does not keep a second copy of its event.
func (j *pubJob) size() int64 {
	var n int64
	for _, it := range j.items {
		l := it.lane
		l.mu.Lock()
		fresh := it.st == stFresh
		l.mu.Unlock()
		if fresh {
			n += eventSize(it.ev) + int64(len(it.ev.Key)+recordOverhead)
		}
	}
	return n
}

// Done settles the commit that carried the job (nothing when Prepare parked it); after
// an error the job joins the retry list.
func (j *pubJob) Done(err error) {
	j.p.batchBytes = 0 // the batch it was prepared in is over
	if j.parked {
		j.parked = false
		return
	}
	j.settle(err)
	if err != nil {
		j.p.retry.failed(j)
	}
}

// prepare adds the job's fresh items to b.
func (j *pubJob) prepare(b *store.Batch) {
	j.prepared, j.entries = j.prepared[:0], j.entries[:0]
	for _, it := range j.items {
		l := it.lane
		l.mu.Lock()
		if it.st == stFresh {
			e := it.entry(j.encoded(it.ev))
			if it.deadReason != "" {
				b.DeadLetter(e, deadReason(it.deadReason))
			} else {
				b.Put(e)
			}
			it.st, it.persisted = stStoring, it.attempts
			j.p.batchBytes += int64(len(e.Data) + len(e.Key) + recordOverhead)
			j.prepared = append(j.prepared, it)
			j.entries = append(j.entries, e)
		}
		l.checkLocked("prepare")
		l.mu.Unlock()
	}
}

// settle records what the commit made durable, or puts the items back to fresh.
func (j *pubJob) settle(err error) {
	if err != nil {
		for _, it := range j.prepared {
			l := it.lane
			l.mu.Lock()
			if it.st == stStoring {
				it.st = stFresh
				if it.deliveredInCommit {
					// Delivered while the commit ran: nothing left to store.
					it.st, it.deliveredInCommit = stDone, false
				}
			}
			l.checkLocked("commit failed")
			l.mu.Unlock()
		}
		j.p.storeFailed(err)
		return
	}
	j.p.storeOK()
	var finished []*pubJob
	for i, it := range j.prepared {
		e := j.entries[i]
		l := it.lane
		var ops []op
		l.mu.Lock()
		wasDead := it.deadReason != "" && e.Seq == 0
		it.seq = e.Seq
		result := adapters.Settled(adapters.Stored, "")
		switch {
		case wasDead:
			it.st = stDone // dead-lettered directly by this commit
			result = adapters.Settled(adapters.DeadLettered, it.deadReason)
		case it.deliveredInCommit:
			it.st = stDone
			l.forgetting[it.seq] = struct{}{}
			ops = append(ops, op{kind: opDelete, seq: it.seq})
		case it.deadReason != "":
			it.st = stDone
			l.forgetting[it.seq] = struct{}{}
			ops = append(ops, op{kind: opDead, seq: it.seq, entry: it.entry(j.encoded(it.ev)), reason: it.deadReason})
		default:
			it.st = stStored
			if it.inMem {
				l.known[it.seq] = struct{}{}
			}
			if it.attempts != it.persisted {
				ops = append(ops, op{kind: opUpdate, seq: it.seq, attempts: it.attempts, next: it.next, lastErr: it.lastErr})
				it.persisted = it.attempts
			}
		}
		if it.spilled {
			l.spillPending--
			l.maybeLoadLocked()
		}
		if f := l.settleLocked(it, result); f != nil {
			finished = append(finished, f)
		}
		l.checkLocked("commit")
		l.mu.Unlock()
		if len(ops) > 0 {
			// Done runs on the writer goroutine: a blocking Submit here could wait on
			// itself. The goroutine exits once Submit returns.
			go j.p.submit(&opJob{p: j.p, lane: l, ops: ops})
		}
	}
	for _, f := range finished {
		f.finish()
	}
	j.data = nil
}

// encoded returns ev's store encoding, computed once per commit.
func (j *pubJob) encoded(ev *adapters.Event) []byte {
	if b, ok := j.data[ev]; ok {
		return b
	}
	if j.data == nil {
		j.data = make(map[*adapters.Event][]byte, 1)
	}
	b, _ := ev.MarshalBinary() // never fails
	j.data[ev] = b
	return b
}

type opKind uint8

const (
	opDelete opKind = iota
	opUpdate
	opDead
)

// op is one change to an item already in the store.
type op struct {
	kind     opKind
	seq      uint64
	attempts int
	next     time.Time
	lastErr  string
	entry    *store.Entry // opDead
	reason   string       // opDead
}

// opJob carries deletes, attempt updates and dead letters to the writer.
type opJob struct {
	p    *Pipeline
	lane *lane // nil for rejected events
	ops  []op
	// done, when set, is called once: with nil once the ops are durable (rejected
	// events, dead letters of unbuffered events), or with an error when they are
	// abandoned because the pipeline stopped before a failed commit could be retried.
	done func(err error)
}

// abandon reports that j will never be committed: the pipeline stopped while it
// waited to be retried after a failed commit.
func (j *opJob) abandon(err error) {
	if j.done != nil {
		j.done(err)
	}
}

// Prepare adds the operations.
func (j *opJob) Prepare(b *store.Batch) {
	for _, o := range j.ops {
		switch o.kind {
		case opDelete:
			b.Delete(j.sinkName(), o.seq)
		case opUpdate:
			b.Update(j.sinkName(), o.seq, o.attempts, o.next, o.lastErr)
		case opDead:
			b.DeadLetter(o.entry, deadReason(o.reason))
		}
	}
}

func (j *opJob) sinkName() string {
	if j.lane == nil {
		return RejectedSink
	}
	return j.lane.name
}

// Done forgets deleted sequences, or retries the operations after a failed commit.
// Operations need no place in the retry list: each names an item already stored, so
// none can overtake its item, and on a full disk the deletes are what frees room.
func (j *opJob) Done(err error) {
	if err != nil {
		j.p.storeFailed(err)
		j.p.submitLater(j, j.p.retryDelay)
		return
	}
	j.p.storeOK()
	if j.lane != nil {
		j.lane.mu.Lock()
		for _, o := range j.ops {
			if o.kind == opDelete || o.kind == opDead {
				delete(j.lane.forgetting, o.seq)
				delete(j.lane.known, o.seq)
			}
		}
		j.lane.checkLocked("forget")
		j.lane.mu.Unlock()
	}
	if j.done != nil {
		j.done(nil)
	}
}
