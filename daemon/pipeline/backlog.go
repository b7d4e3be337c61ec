package pipeline

import (
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/store"
)

// maybeLoadLocked starts a page load from the store when the lane is in backlog mode
// and memory has room.
func (l *lane) maybeLoadLocked() {
	if !l.backlog || l.loading || l.stopped || !l.started || l.memCount > l.memLimit/2 {
		return
	}
	l.loading = true
	// The page is read on the writer goroutine (loadJob.Prepare): between two commits,
	// after the previous commit's Done has registered every item it stored. A read
	// anywhere else could see a just-committed item that is also in memory and
	// deliver it twice. Submitting from here could block under l.mu, hence the
	// goroutine, which exits once Submit returns.
	go l.p.submit(loadJob{l})
}

// loadJob pages stored items into a lane's memory; see maybeLoadLocked.
type loadJob struct{ l *lane }

// Prepare reads the page; it writes nothing.
func (j loadJob) Prepare(*store.Batch) { j.l.loadPage() }

// Done has nothing to do: the page was loaded in Prepare.
func (loadJob) Done(error) {}

// loadPage reads up to a memory's worth of stored items after loadedSeq and queues
// them. It must run where no commit can land concurrently: on the writer goroutine,
// or before the writer and Publish start.
func (l *lane) loadPage() {
	l.mu.Lock()
	after, n := l.loadedSeq, l.memLimit-l.memCount
	l.mu.Unlock()
	var entries []store.Entry
	err := l.p.opt.DB.Scan(l.name, after, n, func(e store.Entry) error {
		entries = append(entries, e)
		return nil
	})
	var ops []op
	l.mu.Lock()
	defer func() {
		l.checkLocked("load")
		l.mu.Unlock()
		if len(ops) > 0 {
			go l.p.submit(&opJob{p: l.p, lane: l, ops: ops}) // never block the writer goroutine
		}
	}()
	l.loading = false
	if err != nil {
		l.log.Error("reading the outbox failed; retrying", "err", err)
		l.p.opt.Clock.AfterFunc(time.Second, func() { // one shot
			l.mu.Lock()
			defer l.mu.Unlock()
			l.maybeLoadLocked()
		})
		return
	}
	for i := range entries {
		e := &entries[i]
		if e.Seq > l.loadedSeq {
			l.loadedSeq = e.Seq
		}
		if _, ok := l.known[e.Seq]; ok {
			continue
		}
		if _, ok := l.forgetting[e.Seq]; ok {
			continue
		}
		if e.Corrupt != "" { // failed its checksum: dead-lettered as corrupt, never delivered
			l.depth--
			l.forgetting[e.Seq] = struct{}{}
			ops = append(ops, op{kind: opDead, seq: e.Seq, entry: e, reason: e.Corrupt})
			continue
		}
		ev := new(adapters.Event)
		if err := ev.UnmarshalBinary(e.Data); err != nil {
			l.depth--
			l.forgetting[e.Seq] = struct{}{}
			ops = append(ops, op{kind: opDead, seq: e.Seq, entry: e, reason: "undecodable event: " + err.Error()})
			continue
		}
		it := &item{
			ev: ev, lane: l, key: orderKey(ev), enqueued: e.Enqueued, seq: e.Seq, st: stStored,
			inMem: true, settled: true, attempts: e.Attempts, persisted: e.Attempts,
			next: e.NextAttempt, lastErr: e.LastError,
		}
		l.known[e.Seq] = struct{}{}
		l.enqueueLocked(it)
	}
	if len(entries) < n && l.spillPending == 0 {
		if l.backlog && l.loadedSeq > 0 {
			l.log.Info("sink caught up with its stored backlog")
		}
		if l.backlog {
			l.backlog = false
			l.p.healthGen.Add(1)
		}
	} else {
		l.maybeLoadLocked()
	}
}
