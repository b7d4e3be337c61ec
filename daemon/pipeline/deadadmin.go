package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/store"
)

// CutDead is a dead letter that is only the truncated record of an oversize event
// (see Truncated): it is not the event, and delivering it would hand a sink a prefix
// as if it were the alert, so neither `queue retry` nor the status page retries it.
type CutDead struct {
	Seq   uint64
	ID    string // the event's id (cut to 256 bytes with the record)
	Bytes int    // the original event's size
}

// SplitTruncated sorts the dead letters of sink named by seqs (every one when seqs is
// nil) into those that may be retried and the truncated records that may not. keep is
// nil when seqs is nil and nothing was held back (store.DB.Retry's "all"), and an
// empty, non-nil slice when everything was. It is the one rule the CLI and the running
// daemon apply.
func SplitTruncated(db *store.DB, sink string, seqs []uint64) (keep []uint64, cut []CutDead, err error) {
	want := map[uint64]bool{}
	for _, s := range seqs {
		want[s] = true
	}
	err = db.ScanDead(sink, 0, 0, func(d store.Dead) error {
		if seqs != nil && !want[d.Seq] {
			return nil
		}
		var ev adapters.Event
		if d.Corrupt == "" && ev.UnmarshalBinary(d.Data) == nil {
			if size, ok := Truncated(&ev); ok {
				cut = append(cut, CutDead{Seq: d.Seq, ID: ev.ID, Bytes: size})
				return nil
			}
		}
		keep = append(keep, d.Seq)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(cut) == 0 {
		return seqs, nil, nil
	}
	if keep == nil {
		keep = []uint64{} // none, not all
	}
	return keep, cut, nil
}

// TruncatedReason says why the dead letters in cut of sink stay where they are.
func TruncatedReason(sink string, cut []CutDead) string {
	parts := make([]string, len(cut))
	for i, c := range cut {
		parts[i] = fmt.Sprintf("%d (event %s, %d bytes)", c.Seq, c.ID, c.Bytes)
	}
	return fmt.Sprintf("dead letter(s) %s of %s are only the first %d bytes of events over store.max_event_bytes, "+
		"not the events: they cannot be retried (see them with queue list --dead, remove them with queue drop --dead)",
		strings.Join(parts, ", "), sink, RejectPrefixBytes)
}

// ErrNoSuchSink is returned by RetryDead and DropDead for a sink the pipeline does not
// deliver to (for DropDead: nor the @rejected bucket).
var ErrNoSuchSink = errors.New("no such sink")

// ErrNotRetryable is returned by RetryDead for dead letters that must not be
// delivered: the @rejected bucket's (no sink would take them) or named truncated
// records.
var ErrNotRetryable = errors.New("not retryable")

// DeadResult says what RetryDead or DropDead did.
type DeadResult struct {
	// Done counts the dead letters moved back to the outbox, or deleted.
	Done int
	// Left says what was left in place and why (truncated records under "all",
	// corrupt records that are never delivered); empty when nothing was.
	Left string
}

// RetryDead moves dead letters of sink (every one when seqs is nil) back to the end of
// its outbox while the daemon runs, with the rules of `edgerelay queue retry`: a
// truncated record is never retried (named ones refuse the whole request, nothing
// moved; under "all" they stay), nor a corrupt one, nor anything of @rejected. The
// move runs on the writer goroutine between two commits (adminJob), where the lane's
// page loads run too, and the lane then counts the events and pages them in: its
// workers deliver them at once, in outbox order behind what is already queued.
func (p *Pipeline) RetryDead(ctx context.Context, sink string, seqs []uint64) (DeadResult, error) {
	if sink == RejectedSink {
		return DeadResult{}, fmt.Errorf("%w: %s holds refused events, which have no sink to go to; fix the route or the "+
			"size limit and send them again from their source", ErrNotRetryable, sink)
	}
	if p.sinks.Load().byName[sink] == nil {
		return DeadResult{}, fmt.Errorf("%w %q", ErrNoSuchSink, sink)
	}
	var res DeadResult
	err := p.admin(ctx, func() error {
		l := p.sinks.Load().byName[sink] // again on the writer: a reload may have removed it
		if l == nil {
			return fmt.Errorf("%w %q", ErrNoSuchSink, sink)
		}
		keep, cut, err := SplitTruncated(p.opt.DB, sink, seqs)
		if err != nil {
			return err
		}
		if len(cut) > 0 {
			if seqs != nil {
				return fmt.Errorf("%w: nothing retried: %s", ErrNotRetryable, TruncatedReason(sink, cut))
			}
			res.Left = "left in place: " + TruncatedReason(sink, cut)
		}
		n, err := p.opt.DB.Retry(sink, keep)
		if err != nil {
			return err
		}
		res.Done = n
		if c := corruptDead(p.opt.DB, sink); c > 0 {
			if res.Left != "" {
				res.Left += "; "
			}
			res.Left += fmt.Sprintf("%d corrupt dead letter(s) stay: a record that failed its checksum is never delivered", c)
		}
		if n == 0 {
			return nil
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.depth += int64(n)
		if !l.backlog {
			// The moved events are in the outbox only: page them in as after a spill.
			l.backlog = true
			l.p.healthGen.Add(1)
		}
		l.maybeLoadLocked()
		l.checkLocked("retry-dead")
		return nil
	})
	return res, err
}

// DropDead deletes dead letters of sink (every one when seqs is nil) for good while
// the daemon runs, as `edgerelay queue drop --dead` does; sink may be @rejected.
func (p *Pipeline) DropDead(ctx context.Context, sink string, seqs []uint64) (DeadResult, error) {
	if sink != RejectedSink && p.sinks.Load().byName[sink] == nil {
		return DeadResult{}, fmt.Errorf("%w %q", ErrNoSuchSink, sink)
	}
	var res DeadResult
	err := p.admin(ctx, func() error {
		n, err := p.opt.DB.Drop(sink, true, seqs)
		res.Done = n
		return err
	})
	return res, err
}

// corruptDead counts sink's dead letters that hold a corrupt record.
func corruptDead(db *store.DB, sink string) int {
	n := 0
	_ = db.ScanDead(sink, 0, 0, func(d store.Dead) error {
		if d.Corrupt != "" {
			n++
		}
		return nil
	})
	return n
}

// admin runs fn on the writer goroutine (adminJob) and waits for it, or for ctx.
func (p *Pipeline) admin(ctx context.Context, fn func() error) error {
	if p.stopping.Load() {
		return ErrStopping
	}
	j := &adminJob{fn: fn, done: make(chan error, 1)}
	if err := p.opt.Writer.Submit(ctx, j); err != nil {
		return err
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // fn still runs, or ran: its outcome is the store's
	}
}

// adminJob runs an operator's change to the store (a retry or drop of dead letters)
// in Prepare: on the writer goroutine, in a transaction of its own between two group
// commits, so that no page load of a lane can see half of it.
type adminJob struct {
	fn   func() error
	done chan error // capacity 1
}

// Prepare runs the change; it adds nothing to b.
func (j *adminJob) Prepare(*store.Batch) { j.done <- j.fn() }

// Done has nothing to report: Prepare did.
func (*adminJob) Done(error) {}
