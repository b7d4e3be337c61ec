package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/logx"
)

// Job is one unit of work for a Writer: typically one event, or one delivery outcome.
type Job interface {
	// Prepare adds the job's operations to b. The Writer calls it on its own goroutine
	// at flush time, just before the transaction, so it sees the latest state: a job
	// whose event was delivered in the meantime may add nothing (write avoidance).
	// Prepare must not keep b.
	Prepare(b *Batch)
	// Done reports the outcome of the transaction that carried the job: nil when it
	// committed, or when no transaction was needed because nothing was added. It is
	// called exactly once per submitted job, on the Writer's goroutine, and must not
	// block. After an error nothing of the job is stored; the submitter may resubmit.
	Done(err error)
}

// WriterOptions tunes a Writer's group commit.
type WriterOptions struct {
	// Window is how long the first job of a batch waits for company. Zero means 2ms.
	Window time.Duration
	// MaxBatch is the most jobs per transaction; reaching it flushes at once. Zero
	// means 1024.
	MaxBatch int
	// Queue is how many submitted jobs may wait for the writer before Submit blocks.
	// Zero means 4*MaxBatch; less than MaxBatch means MaxBatch (a full batch must fit:
	// it is what wakes the writer while a window is open).
	Queue int
	// Clock times the commit window, the deferral of jobs (Deferrer) and the
	// progress reports. Nil means clock.Real.
	Clock clock.Clock
	// Limiter keeps the failed-commit and recovered lines from flapping: a failure
	// is logged when it starts (and, rate-limited, when its error changes), the
	// recovery once commits have worked for the limiter's settle time. The daemon
	// gives its one limiter. Nil means one of the writer's own on Clock.
	Limiter *logx.Limiter
}

// idleTick is how often an idle Run reports progress.
const idleTick = time.Second

// Writer group-commits jobs: one goroutine (Run) collects jobs for a short window and
// writes them in one transaction, so many events share one fsync.
type Writer struct {
	db   *DB
	opts WriterOptions

	queue chan Job
	// full gets a token (capacity 1, never blocking) when Submit leaves a full batch
	// (MaxBatch) queued and held by Run: Run does not take jobs one by one while a
	// commit window is open (see Run), so a full batch has to wake it.
	full chan struct{}
	// queued counts the jobs in queue (Submit adds after its send, Run subtracts
	// after each receive), and held the jobs Run holds while it waits for a window
	// without taking jobs. Both are atomics, not len(queue), so that Submit's
	// "queued, then load held" and Run's "store held, then load queued" cannot both
	// miss a full batch.
	queued, held atomic.Int64
	// mu is held shared by Submit while it hands over a job and exclusively, once, by
	// Run after closing done: that wait guarantees no job enters queue after Run's
	// final drain.
	mu      sync.RWMutex
	done    chan struct{} // closed when Run stops taking jobs
	started atomic.Bool
	// due is Run's scratch list of jobs to commit in flushDue.
	due []Job
	// progress is the Unix nanosecond time of the last commit or idle check of Run.
	progress atomic.Int64
}

// NewWriter returns a Writer committing to db. Start its Run in a goroutine.
func (db *DB) NewWriter(o WriterOptions) *Writer {
	if o.Window <= 0 {
		o.Window = 2 * time.Millisecond
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.Queue <= 0 {
		o.Queue = 4 * o.MaxBatch
	}
	o.Queue = max(o.Queue, o.MaxBatch)
	o.Clock = clock.Or(o.Clock)
	return &Writer{db: db, opts: o, queue: make(chan Job, o.Queue), full: make(chan struct{}, 1), done: make(chan struct{})}
}

// Submit queues j for the next group commit. It blocks while the queue is full
// (back-pressure) until ctx is done, and returns ErrClosed once Run has returned or is
// shutting down. When Submit returns nil, j.Done will be called exactly once.
func (w *Writer) Submit(ctx context.Context, j Job) error {
	if j == nil {
		return errors.New("submit: nil job")
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	select {
	case <-w.done:
		return ErrClosed
	default:
	}
	select {
	case w.queue <- j:
		if w.queued.Add(1)+w.held.Load() >= int64(w.opts.MaxBatch) {
			select {
			case w.full <- struct{}{}:
			default:
			}
		}
		return nil
	case <-w.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// LastProgress returns when Run last committed a batch or found nothing to do. While
// Run is healthy and idle it advances about once a second; a stuck or repeatedly
// failing writer lets it age. Zero before Run starts.
func (w *Writer) LastProgress() time.Time {
	if ns := w.progress.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

func (w *Writer) touch() { w.progress.Store(w.opts.Clock.Now().UnixNano()) }

// Deferrer is implemented by jobs that would rather not be prepared yet: typically
// an event that a healthy sink is about to deliver, which then needs no write at all.
// DeferUntil is called on the writer goroutine when a window closes, once on every
// waiting job, in submission order; a time after now keeps the job waiting (in its
// place) for a later window, a zero time means the job is due. Due jobs are prepared
// in submission order; a job that must not be written before an earlier, deferred one
// has to defer too (the writer does not infer it). Jobs may rely on that order: when
// DeferUntil runs for a job, every waiting job submitted before it has just answered
// for this window, and those that are still waiting answered with a later time.
type Deferrer interface {
	DeferUntil() time.Time
}

// Run is the writer goroutine. It returns when ctx is done, after it has committed
// every job that Submit accepted; it returns nil then. A failed commit does not stop
// it: the jobs get Done(err) and Run carries on. Run may be called only once.
//
// A window of Window opens when a job arrives while none waits. When it closes, every
// waiting job that is due (see Deferrer) is committed in one transaction; deferred
// jobs keep waiting, and the window reopens for the earliest of them, or for Window
// as soon as a new job arrives. MaxBatch waiting jobs are committed at once, deferred
// or not.
func (w *Writer) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("writer: Run called twice")
	}
	lim := w.opts.Limiter
	if lim == nil {
		lim = logx.New(logx.Options{Clock: w.opts.Clock})
	}
	f := flusher{db: w.db, log: w.db.log, touch: w.touch, lim: lim, cond: lim.Condition()}
	w.touch()
	pending := make([]Job, 0, w.opts.MaxBatch)
	clk := w.opts.Clock
	window := clk.NewTimer(time.Hour)
	window.Stop()
	defer window.Stop()
	var closes time.Time // when the armed window closes
	arm := func(d time.Duration) {
		window.Reset(d)
		closes = clk.Now().Add(d)
	}
	idle := clk.NewTicker(idleTick)
	defer idle.Stop()

	for {
		switch {
		case len(pending) == 0:
			// Idle: the first job opens a window.
			select {
			case <-ctx.Done():
				return w.shutdown(&f, pending)
			case j := <-w.queue:
				w.queued.Add(-1)
				pending = append(pending, j)
				arm(w.opts.Window)
			case <-idle.C():
				w.touch()
				// Back to waiting: draining here would gather jobs without arming
				// the window, and they would wait for a full batch.
				continue
			}
		case closes.Sub(clk.Now()) > w.opts.Window:
			// Only deferred jobs wait, on a window longer than a new job may wait:
			// the next job shortens it.
			select {
			case <-ctx.Done():
				window.Stop()
				return w.shutdown(&f, pending)
			case j := <-w.queue:
				w.queued.Add(-1)
				pending = append(pending, j)
				// Still longer? Time passed while Run waited.
				if closes.Sub(clk.Now()) > w.opts.Window {
					arm(w.opts.Window)
				}
			case <-window.C():
				pending = w.closeWindow(&f, pending, arm)
				continue
			}
		default:
			// A window no longer than Window is open: every job queued now is
			// committed (or deferred) when it closes, so Run does not wake for each
			// one; only a full batch (Submit's token) or the window wakes it. At a
			// steady stream this is two wake-ups per window instead of one per job.
			// held is stored before queued is loaded, and Submit adds to queued
			// before it loads held: one of the two sees a full batch.
			w.held.Store(int64(len(pending)))
			if w.queued.Load()+int64(len(pending)) < int64(w.opts.MaxBatch) {
				select {
				case <-ctx.Done():
					window.Stop()
					return w.shutdown(&f, pending)
				case <-w.full:
				case <-window.C():
					pending = w.closeWindow(&f, pending, arm)
					continue
				}
			}
		}
		pending = w.drain(pending)
		if len(pending) >= w.opts.MaxBatch {
			window.Stop()
			pending = f.flush(pending)
		}
	}
}

// drain takes what is already queued without waiting, up to a full batch.
func (w *Writer) drain(pending []Job) []Job {
	for len(pending) < w.opts.MaxBatch {
		select {
		case j := <-w.queue:
			w.queued.Add(-1)
			pending = append(pending, j)
		default:
			return pending
		}
	}
	return pending
}

// closeWindow handles a closed commit window: it takes the jobs queued while it was
// open, commits the due ones and re-arms for the deferred ones.
func (w *Writer) closeWindow(f *flusher, pending []Job, arm func(time.Duration)) []Job {
	pending = w.drain(pending)
	pending, next := w.flushDue(f, pending)
	if len(pending) > 0 {
		arm(max(w.opts.Window, next.Sub(w.opts.Clock.Now())))
	}
	return pending
}

// flushDue commits the waiting jobs that are due and returns the deferred ones, in
// order, with the earliest time one of them asked for.
func (w *Writer) flushDue(f *flusher, pending []Job) (kept []Job, next time.Time) {
	now := w.opts.Clock.Now()
	due := w.due[:0]
	kept = pending[:0]
	for _, j := range pending {
		if d, ok := j.(Deferrer); ok {
			if t := d.DeferUntil(); t.After(now) {
				kept = append(kept, j)
				if next.IsZero() || t.Before(next) {
					next = t
				}
				continue
			}
		}
		due = append(due, j)
	}
	clear(pending[len(kept):])
	if len(due) > 0 {
		w.due = f.flush(due)
	} else {
		f.touch()
	}
	return kept, next
}

// shutdown stops Submit, then commits everything it accepted, a full batch at a time.
func (w *Writer) shutdown(f *flusher, pending []Job) error {
	close(w.done)
	w.mu.Lock() // wait for Submits that are handing over a job
	w.mu.Unlock()
	for drained := false; !drained; {
		select {
		case j := <-w.queue:
			pending = append(pending, j)
			if len(pending) >= w.opts.MaxBatch {
				pending = f.flush(pending)
			}
		default:
			drained = true
		}
	}
	if len(pending) > 0 {
		f.flush(pending)
	}
	return nil
}

// flusher commits batches of jobs for Run; it is used by that goroutine only.
type flusher struct {
	db      *DB
	log     *slog.Logger
	touch   func()
	b       Batch
	lim     *logx.Limiter
	cond    *logx.Condition // a failing commit, logged once per stretch
	lastErr string          // text of the last failure, "" after a success
}

// flush prepares, commits and completes jobs, and returns jobs emptied for reuse.
func (f *flusher) flush(jobs []Job) []Job {
	f.b.Reset()
	for _, j := range jobs {
		j.Prepare(&f.b)
	}
	var err error
	if f.b.Len() > 0 {
		err = f.db.Commit(&f.b)
	}
	if err != nil {
		if msg := err.Error(); msg != f.lastErr {
			const line = "group commit failed; its jobs will be retried by their submitters"
			args := []any{"path", f.db.path, "jobs", len(jobs), "operations", f.b.Len(), "err", err}
			if !f.cond.Fail(f.log, line, args...) && f.lastErr != "" {
				f.lim.Error(f.log, "store", line, args...)
			}
			f.lastErr = msg
		}
	} else {
		if f.lastErr != "" {
			f.cond.OK(f.log, "group commit works again", "path", f.db.path)
			f.lastErr = ""
		}
		f.touch()
	}
	f.b.Reset()
	for _, j := range jobs {
		j.Done(err)
	}
	clear(jobs)
	return jobs[:0]
}
