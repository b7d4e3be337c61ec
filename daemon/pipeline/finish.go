package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/daemon/events"
)

// maxErrText bounds the error text kept per event and in the store.
const maxErrText = 512

// worker sends until ctx ends. In-flight sends use sendCtx, which outlives ctx by the
// drain timeout.
func (l *lane) worker(ctx, sendCtx context.Context) {
	for {
		it := l.take(ctx)
		if it == nil {
			return
		}
		err := l.send(sendCtx, it.ev)
		if err != nil && errors.Is(err, adapters.ErrNotConnected) {
			l.mu.Lock()
			lost := l.connected
			if l.connected {
				l.connected = false
				l.p.healthGen.Add(1)
			}
			l.mu.Unlock()
			if lost {
				l.p.bus.Publish(events.Event{Kind: events.SinkDisconnected, Sink: l.name, Reason: err.Error()})
			}
			select {
			case l.connReq <- struct{}{}:
			default:
			}
		}
		l.finish(it, err)
	}
}

func (l *lane) send(ctx context.Context, e *adapters.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = adapters.Permanent(fmt.Errorf("sink panicked: %v", r))
		}
	}()
	return l.sink.Send(ctx, e)
}

// finish records the outcome of one send.
func (l *lane) finish(it *item, err error) {
	now := l.p.now()
	var ops []op
	var finished, failed *pubJob
	var deadJob *opJob
	// What to publish on the bus once the lock is released: Delivered, Retried or
	// DeadLettered. The event's id, key and source never change after Publish.
	emit := events.Event{Sink: l.name, Source: it.ev.Source, EventID: it.ev.ID, Key: it.ev.Key}
	l.mu.Lock()
	it.inflight = false
	l.inflight--
	l.lastProgress = now
	switch {
	case err == nil:
		l.setFailingLocked(false)
		l.removeHeadLocked(it)
		switch it.st {
		case stFresh:
			it.st = stDone
		case stStoring:
			it.deliveredInCommit = true
		case stStored:
			it.st = stDone
			l.forgetting[it.seq] = struct{}{}
			ops = append(ops, op{kind: opDelete, seq: it.seq})
		}
		finished = l.settleLocked(it, adapters.Settled(adapters.Delivered, ""))
		emit.Kind = events.Delivered
	default:
		msg := truncate(err.Error())
		l.lastErr = msg
		l.setFailingLocked(true)
		it.attempts++
		it.lastErr = msg
		reason := ""
		switch {
		case adapters.IsPermanent(err):
			reason = "rejected: " + msg
		case l.retry.MaxAttempts > 0 && it.attempts >= l.retry.MaxAttempts:
			reason = fmt.Sprintf("gave up after %d attempts: %s", it.attempts, msg)
		case l.retry.MaxAge > 0 && now.Sub(it.ev.Received) > l.retry.MaxAge:
			reason = fmt.Sprintf("gave up after %s: %s", l.retry.MaxAge, msg)
		}
		if it.job != nil && it.job.unbuffered && reason == "" {
			// Upstream redelivers: no retry here, nothing stored.
			l.removeHeadLocked(it)
			it.st = stDone
			it.settled = true
			emit.Kind, emit.Reason = events.Retried, msg
			l.p.limiter.Warn(l.log, "retry:"+l.name, "send failed; upstream will redeliver (unbuffered source)",
				"event_id", it.ev.ID, "err", msg)
			failed = it.job
			break
		}
		if reason != "" {
			l.removeHeadLocked(it)
			emit.Kind, emit.Reason = events.DeadLettered, reason
			l.p.limiter.Warn(l.log, "dead:"+l.name, "event dead-lettered", "event_id", it.ev.ID,
				"attempt", it.attempts, "reason", reason)
			if it.job != nil && it.job.unbuffered {
				// Never stored: write the dead letter now, settle once it is durable.
				it.st = stDone
				data, _ := it.ev.MarshalBinary()
				deadJob = &opJob{p: l.p, ops: []op{{kind: opDead, entry: it.entry(data), reason: reason}},
					done: func(err error) {
						r := adapters.Settled(adapters.DeadLettered, reason)
						if err != nil {
							r = adapters.Refuse(err) // never written: upstream redelivers it
						}
						l.mu.Lock()
						f := l.settleLocked(it, r)
						l.mu.Unlock()
						if f != nil {
							f.finish()
						}
					}}
				break
			}
			switch it.st {
			case stFresh, stStoring:
				it.deadReason = reason // the commit carrying it writes the dead letter
			case stStored:
				it.st = stDone
				l.forgetting[it.seq] = struct{}{}
				data, _ := it.ev.MarshalBinary()
				ops = append(ops, op{kind: opDead, seq: it.seq, entry: it.entry(data), reason: reason})
			}
			break
		}
		hint, _ := adapters.RetryDelay(err)
		d := l.retry.Delay(it.attempts, hint)
		it.next = now.Add(d)
		emit.Kind, emit.Reason = events.Retried, msg
		l.p.limiter.Warn(l.log, "retry:"+l.name, "send failed, will retry", "event_id", it.ev.ID,
			"attempt", it.attempts, "retry_in_s", d.Seconds(), "err", msg)
		if it.st == stStored && persistAttempt(it.attempts) {
			ops = append(ops, op{kind: opUpdate, seq: it.seq, attempts: it.attempts, next: it.next, lastErr: it.lastErr})
			it.persisted = it.attempts
		}
		l.scheduleLocked(it.key, l.keys[it.key])
	}
	l.checkLocked("finish")
	l.mu.Unlock()
	l.p.bus.Publish(emit)
	if len(ops) > 0 {
		l.p.submit(&opJob{p: l.p, lane: l, ops: ops})
	}
	if finished != nil {
		finished.finish()
	}
	if deadJob != nil {
		l.p.submit(deadJob)
	}
	if failed != nil {
		failed.refuse(fmt.Errorf("%w: %s", ErrNotDelivered, truncate(err.Error())))
	}
}

// settleLocked records r as its part of its publish's settlement and counts it; it
// returns the job when that was the last item, for the caller to finish outside the
// lock.
func (l *lane) settleLocked(it *item, r adapters.Settlement) *pubJob {
	if it.job == nil || it.settled {
		return nil
	}
	it.settled = true
	it.result = r
	if it.job.remaining.Add(-1) == 0 {
		return it.job
	}
	return nil
}

// truncate is an error text as kept per event and in the store: redacted, then cut
// to maxErrText bytes ([secret.Excerpt]).
func truncate(s string) string { return secret.Excerpt(s, maxErrText) }

// deadReason is a dead letter's reason as the store gets it: every reason reaches
// the store through here, redacted and bounded, whatever built it.
func deadReason(s string) string { return secret.Excerpt(s, maxErrText) }

// persistAttempt reports whether the store records a stored event's attempt count
// (with its next try and last error) after failed attempt n: after the first, and
// then whenever n is a power of two. Each record is a commit (a fsync and a few
// whole pages rewritten): recording every attempt made a sink outage cost tens of
// kilobytes of flash per event and retry, and, with retries a minute apart, every
// queued event a commit a minute for as long as the outage lasts. Between records
// the count lives in memory; after a crash or restart an event resumes from its last
// recorded attempt, so it may be tried up to twice as often as max_attempts says and
// sooner than its backoff would have waited, never less.
func persistAttempt(n int) bool { return n > 0 && n&(n-1) == 0 }
