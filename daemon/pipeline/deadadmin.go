package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/store"
)

// CutDead is a dead letter that retry leaves where it is, because delivering it would
// hand a sink something that is not the event: the truncated record of an oversize
// event (see Truncated: a prefix, not the alert), a corrupt record (one that failed
// its checksum, store.Entry.Corrupt) or one that does not decode as an event. Neither
// `queue retry` nor the status page retries it, and the page shows it without a retry
// button.
type CutDead struct {
	Seq   uint64
	ID    string  // the event's id (cut to 256 bytes with the record); "" when it does not decode
	Bytes int     // a truncated record: the original event's size
	Kind  CutKind // why it stays
}

// CutKind says why a dead letter may not be retried.
type CutKind uint8

// The kinds of CutDead.
const (
	CutTruncated   CutKind = iota // the truncated record of an oversize event
	CutCorrupt                    // a record that failed its checksum
	CutUndecodable                // a record whose data is not an encoded event
)

// Inspect says whether the dead letter d may be retried: ok, or the CutDead saying why
// not. It looks at the event's id and attributes only, never copying its payload; d
// may come from store.DB.InspectDead. It is the rule the status page shows as well.
func Inspect(d *store.Dead) (c CutDead, ok bool) {
	c.Seq = d.Seq
	if d.Corrupt != "" {
		c.Kind = CutCorrupt
		return c, false
	}
	var ev adapters.Event
	if ev.UnmarshalHead(d.Data) != nil {
		c.Kind = CutUndecodable
		return c, false
	}
	c.ID = ev.ID
	if size, cut := Truncated(&ev); cut {
		c.Kind, c.Bytes = CutTruncated, size
		return c, false
	}
	return c, true
}

// SplitTruncated sorts the dead letters of sink named by seqs (every one when seqs is
// nil) into those that may be retried and those that may not (see CutDead). keep is
// nil when seqs is nil and nothing was held back (store.DB.Retry's "all"), and an
// empty, non-nil slice when everything was. It reads only the named dead letters, in
// one pass, without copying or decoding their payloads. It is the one rule the CLI and
// the running daemon apply.
func SplitTruncated(db *store.DB, sink string, seqs []uint64) (keep []uint64, cut []CutDead, err error) {
	seen := map[uint64]bool{}
	err = db.InspectDead(sink, seqs, 0, func(d store.Dead) error {
		if seen[d.Seq] {
			return nil // named twice
		}
		seen[d.Seq] = true
		if c, ok := Inspect(&d); !ok {
			cut = append(cut, c)
			return nil
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

// reasonSeqs bounds the dead letters of each kind TruncatedReason names one by one.
const reasonSeqs = 20

// TruncatedReason says why the dead letters in cut of sink stay where they are.
func TruncatedReason(sink string, cut []CutDead) string {
	var trunc, corrupt, undecodable []string
	add := func(list *[]string, n *int, s func() string) {
		if *n++; *n <= reasonSeqs {
			*list = append(*list, s())
		}
	}
	var nt, nc, nu int
	for _, c := range cut {
		switch c.Kind {
		case CutTruncated:
			add(&trunc, &nt, func() string { return fmt.Sprintf("%d (event %s, %d bytes)", c.Seq, c.ID, c.Bytes) })
		case CutCorrupt:
			add(&corrupt, &nc, func() string { return strconv.FormatUint(c.Seq, 10) })
		default:
			add(&undecodable, &nu, func() string { return strconv.FormatUint(c.Seq, 10) })
		}
	}
	more := func(list []string, n int) []string {
		if n > len(list) {
			return append(list, fmt.Sprintf("and %d more", n-len(list)))
		}
		return list
	}
	trunc, corrupt, undecodable = more(trunc, nt), more(corrupt, nc), more(undecodable, nu)
	var parts []string
	if len(trunc) > 0 {
		parts = append(parts, fmt.Sprintf("dead letter(s) %s of %s are only the first %d bytes of events over "+
			"store.max_event_bytes, not the events: they cannot be retried", strings.Join(trunc, ", "), sink, RejectPrefixBytes))
	}
	if len(corrupt) > 0 {
		parts = append(parts, fmt.Sprintf("dead letter(s) %s of %s are corrupt records (they failed their checksum): "+
			"they cannot be retried", strings.Join(corrupt, ", "), sink))
	}
	if len(undecodable) > 0 {
		parts = append(parts, fmt.Sprintf("dead letter(s) %s of %s do not decode as events: they cannot be retried",
			strings.Join(undecodable, ", "), sink))
	}
	return strings.Join(parts, "; ") + " (see them with queue list --dead, remove them with queue drop --dead)"
}

// ErrNoSuchSink is returned by RetryDead and DropDead for a sink the pipeline does not
// deliver to (for DropDead: nor the @rejected bucket).
var ErrNoSuchSink = errors.New("no such sink")

// ErrNotRetryable is returned by RetryDead for dead letters that must not be
// delivered: the @rejected bucket's (no sink would take them) or named records that
// are not the event (CutDead).
var ErrNotRetryable = errors.New("not retryable")

// DeadResult says what RetryDead or DropDead did.
type DeadResult struct {
	// Done counts the dead letters moved back to the outbox, or deleted.
	Done int
	// Left says what was left in place under "all" and why (see CutDead); empty when
	// nothing was.
	Left string
}

// RetryDead moves dead letters of sink (every one when seqs is nil) back to the end of
// its outbox while the daemon runs, with the rules of `edgerelay queue retry`: a dead
// letter that is not the event (CutDead: a truncated, corrupt or undecodable record)
// is never retried (named ones refuse the whole request, nothing moved; under "all"
// they stay and Left says so), nor anything of @rejected. The
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

// ErrStarting is returned by RetryDead and DropDead before Run has started the lanes:
// a lane counts its stored backlog as it starts, so an event moved into an outbox
// before then would be counted twice, and one moved while Run reads the outboxes might
// not be paged in until a restart.
var ErrStarting = errors.New("the pipeline is still starting (reading the stored outboxes): try again in a moment")

// admin runs fn on the writer goroutine (adminJob) and waits until it has run, also
// when ctx ends meanwhile: the change is short, and a caller told it failed must not
// find it made.
func (p *Pipeline) admin(ctx context.Context, fn func() error) error {
	if p.stopping.Load() {
		return ErrStopping
	}
	select {
	case <-p.started:
	default:
		return ErrStarting
	}
	j := &adminJob{fn: fn, done: make(chan error, 1)}
	if err := p.opt.Writer.Submit(ctx, j); err != nil {
		return err
	}
	return <-j.done // Submit returned nil: Done is called exactly once
}

// adminJob runs an operator's change to the store (a retry or drop of dead letters)
// in Prepare: on the writer goroutine, in a transaction of its own between two group
// commits, so that no page load of a lane can see half of it. Done reports fn's
// outcome, or the writer's error if Prepare never ran.
type adminJob struct {
	fn   func() error
	ran  bool       // Prepare ran fn; only the writer goroutine touches ran and err
	err  error      // fn's outcome
	done chan error // capacity 1
}

// Prepare runs the change; it adds nothing to b.
func (j *adminJob) Prepare(*store.Batch) { j.err, j.ran = j.fn(), true }

// Done reports fn's outcome: the group commit's error does not concern it (fn
// committed a transaction of its own).
func (j *adminJob) Done(err error) {
	if !j.ran {
		if err == nil {
			err = store.ErrClosed
		}
		j.err = err
	}
	j.done <- j.err
}
