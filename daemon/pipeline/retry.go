package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/store"
)

// retryList keeps store order across failed commits. Per sink, items must reach the
// outbox in publish order, because a restart replays the outbox by sequence and the
// backlog loader pages it in by sequence. Publish jobs reach Prepare in that order
// (see DeferUntil), so it is enough that no job prepared after a failed one is
// committed before it.
//
// When a commit fails, its publish jobs join the list in the order the writer prepared
// them (Done is called in that order), and one retryJob is scheduled for retryDelay
// later. While the list is not empty, every publish job the writer prepares parks at
// its end instead of joining the batch: it waits behind the failed ones whether the
// writer found it due at a window's close or flushed it with a full batch. The
// retryJob prepares the list's jobs in order in one transaction, and jobs the writer
// prepares after it in that batch follow it there. If that commit fails too, its jobs
// go back to the front of the list, ahead of those that parked meanwhile, and the next
// retry takes only half of them: on a full disk a smaller transaction may fit where a
// larger one does not (a success doubles the share again). After a successful retry,
// what is left is retried at once.
//
// Meanwhile the items stay fresh in their lanes: deliveries go on, a delivered item is
// not written by the retry, and a publish is acknowledged only once each of its items
// is delivered or stored, so sources feel the back-pressure until a commit succeeds.
// Deletes, attempt updates and dead letters (opJob) do not wait here: each names an
// item already stored, so none can overtake its item, and they free room on a full
// disk.
//
// The list is used only on the writer goroutine, where Prepare and Done run.
type retryList struct {
	p         *Pipeline
	jobs      []*pubJob
	scheduled bool // a retryJob is on its way to the writer
	limit     int  // most jobs the next retryJob takes; 0 means all
	inflight  int  // jobs a retryJob has taken and not yet settled
	// waiting counts the jobs in the list and in flight, for Run's end to read from
	// another goroutine (see refuseRetries).
	waiting atomic.Int64
}

// count updates waiting after a change of the list.
func (r *retryList) count() { r.waiting.Store(int64(len(r.jobs) + r.inflight)) }

// park appends j when failed jobs wait, and reports whether it did.
func (r *retryList) park(j *pubJob) bool {
	if len(r.jobs) == 0 {
		return false
	}
	r.jobs = append(r.jobs, j)
	r.count()
	return true
}

// failed appends j, whose commit failed, and schedules a retry.
func (r *retryList) failed(j *pubJob) {
	r.jobs = append(r.jobs, j)
	r.count()
	r.schedule(r.p.retryDelay)
}

// schedule hands a retryJob to the writer after d, unless one is on its way or there
// is nothing to retry.
func (r *retryList) schedule(d time.Duration) {
	if r.scheduled || len(r.jobs) == 0 {
		return
	}
	r.scheduled = true
	r.p.scheduleRetry(&retryJob{p: r.p}, d)
}

// retryJob commits the front of the retry list in one transaction.
type retryJob struct {
	p    *Pipeline
	jobs []*pubJob // taken from the list by Prepare
	// full: the store had no room for the list's first job with something to write
	// (store.max_bytes), which stays in the list with every such job behind it.
	full bool
}

// Prepare takes the list's first jobs (all of them unless a retry failed) and
// prepares them in order.
func (rj *retryJob) Prepare(b *store.Batch) {
	r := &rj.p.retry
	r.scheduled = false
	n := len(r.jobs)
	if r.limit > 0 && r.limit < n {
		n = r.limit
	}
	// Jobs go in order while the store has room (store.max_bytes). From the first
	// that does not fit, every job with something to write stays, in order; jobs
	// with nothing left to write (delivered meanwhile) are taken all the same, so
	// that a long stay at the bound does not keep them in memory.
	var keep []*pubJob
	rj.jobs, rj.full = nil, false
	for _, j := range r.jobs[:n] {
		if size := j.size(); size > 0 && (rj.full || !rj.p.room(size)) {
			rj.full = true
			keep = append(keep, j)
			continue
		}
		j.prepare(b)
		rj.jobs = append(rj.jobs, j)
	}
	r.jobs = append(keep, r.jobs[n:]...)
	r.inflight = len(rj.jobs)
}

// Done settles the jobs in order. After an error they go back to the front of the
// list; after a success the rest of the list is retried at once.
func (rj *retryJob) Done(err error) {
	r := &rj.p.retry
	rj.p.batchBytes = 0
	jobs := rj.jobs
	rj.jobs = nil
	r.inflight = 0
	for _, j := range jobs {
		j.settle(err)
	}
	defer r.count()
	switch {
	case err != nil:
		r.jobs = append(jobs, r.jobs...)
		r.limit = max(1, len(jobs)/2)
		r.schedule(r.p.retryDelay)
	case len(r.jobs) == 0:
		r.limit = 0
	case rj.full:
		r.schedule(r.p.retryDelay) // look again once deliveries had time to free room
	default:
		if r.limit > 0 {
			r.limit *= 2
		}
		r.schedule(0)
	}
}
