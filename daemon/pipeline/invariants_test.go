package pipeline

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every test of the package (and of pipeline_test, which links this file) checks a
// lane's invariants after each operation: a broken one panics, naming itself, the
// lane and the operation, wherever the lane was (a worker, the writer, a timer).
func init() {
	checkHook = func(l *lane, op string) {
		if err := l.invariantsLocked(); err != nil {
			panic(fmt.Sprintf("pipeline: lane %q after %s breaks its invariants:\n%v", l.name, op, err))
		}
	}
}

// invariantsLocked checks the lane's bookkeeping against its queues and returns every
// broken invariant, each error starting with the invariant's name. l.mu must be held.
//
// Not checked, because no state at one instant shows it: that stored items of one key
// reach the sink in publish order (the order tests check that from outside), and
// anything about items fresh from concurrent publishers of one key, which have no
// order between them.
func (l *lane) invariantsLocked() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}

	// How often each key sits in the ready list and in the delay heap.
	sched := make(map[string]int, len(l.ready)+len(l.delayed))
	for _, k := range l.ready {
		sched[k]++
	}
	for _, d := range l.delayed {
		sched[d.key]++
	}
	for i := 1; i < len(l.delayed); i++ {
		if parent := (i - 1) / 2; l.delayed[i].at.Before(l.delayed[parent].at) {
			bad("delay-heap-ordered", "entry %d (%s, key %q) is due before its parent %d (%s)",
				i, l.delayed[i].at, l.delayed[i].key, parent, l.delayed[parent].at)
		}
	}

	queued, inflight := 0, 0
	stored := make(map[uint64]bool, len(l.known)) // seqs of queued items in the store
	for key, q := range l.keys {
		if len(q.items) == 0 {
			bad("key-queue-non-empty", "key %q has an empty queue", key)
		}
		queued += len(q.items)
		want := 0
		if q.scheduled {
			want = 1
		}
		if sched[key] != want {
			bad("key-scheduled-once", "key %q has scheduled=%v but sits %d times in the ready list and delay heap",
				key, q.scheduled, sched[key])
		}
		delete(sched, key)
		if len(q.items) > 0 {
			switch head := q.items[0]; {
			case head == nil:
			case q.scheduled && head.inflight:
				bad("in-flight-key-unscheduled", "key %q is scheduled while its head %s is in flight", key, head.ev.ID)
			case !q.scheduled && !head.inflight:
				bad("waiting-key-scheduled", "key %q: head %s waits, but the key is neither ready nor delayed", key, head.ev.ID)
			}
		}
		var loadedSeq uint64
		for i, it := range q.items {
			if it == nil {
				bad("queued-item-set", "key %q: item %d is nil", key, i)
				continue
			}
			if it.key != key || it.lane != l {
				bad("queued-item-belongs", "key %q: item %s has key %q of lane %q", key, it.ev.ID, it.key, it.lane.name)
			}
			if !it.inMem || it.spilled {
				bad("queued-item-in-memory", "key %q: item %s is queued with inMem=%v spilled=%v", key, it.ev.ID, it.inMem, it.spilled)
			}
			if it.st == stDone {
				bad("queued-item-not-done", "key %q: item %s is done but still queued", key, it.ev.ID)
			}
			if it.job != nil && it.job.unbuffered && it.st != stFresh {
				bad("unbuffered-never-stored", "key %q: item %s of an unbuffered publish is in state %d", key, it.ev.ID, it.st)
			}
			if it.inflight {
				inflight++
				if i > 0 {
					// So no two in-flight items share a key.
					bad("in-flight-is-head", "key %q: item %s at position %d is in flight", key, it.ev.ID, i)
				}
			}
			if it.st == stStored {
				if stored[it.seq] {
					bad("stored-seq-unique", "seq %d is queued twice", it.seq)
				}
				stored[it.seq] = true
			}
			if it.job == nil { // loaded from the store, which pages in by seq
				if it.seq <= loadedSeq {
					bad("loaded-in-seq-order", "key %q: loaded item seq %d follows loaded item seq %d", key, it.seq, loadedSeq)
				}
				loadedSeq = it.seq
			}
		}
	}
	for k, n := range sched {
		bad("scheduled-key-queued", "key %q sits %d times in the ready list and delay heap but has no queue", k, n)
	}

	if l.memCount != queued {
		bad("mem-count", "memCount is %d, the key queues hold %d items", l.memCount, queued)
	}
	if l.memCount > l.memLimit {
		bad("mem-limit", "memCount %d exceeds the limit %d", l.memCount, l.memLimit)
	}
	if l.inflight != inflight {
		bad("in-flight-count", "inflight is %d, %d queued items are in flight", l.inflight, inflight)
	}
	if l.inflight < 0 || l.inflight > l.maxInFlight {
		bad("in-flight-bound", "inflight %d is outside 0..%d", l.inflight, l.maxInFlight)
	}
	if l.spillPending < 0 {
		bad("spill-pending", "spillPending is %d", l.spillPending)
	}
	if l.depth < int64(l.memCount+max(l.spillPending, 0)) {
		bad("depth-covers-memory", "depth %d is less than memCount %d plus spillPending %d", l.depth, l.memCount, l.spillPending)
	}
	for seq := range l.known {
		if !stored[seq] {
			bad("known-is-queued", "seq %d is known, but no queued stored item has it", seq)
		}
		if _, ok := l.forgetting[seq]; ok {
			bad("known-not-forgetting", "seq %d is both known and being forgotten", seq)
		}
	}
	for seq := range stored {
		if _, ok := l.known[seq]; !ok {
			bad("queued-is-known", "queued stored item seq %d is not known (the loader could page it in twice)", seq)
		}
	}

	h := &l.held
	if h.head < 0 || h.head > len(h.refs) {
		bad("held-head", "head %d is outside 0..%d", h.head, len(h.refs))
	} else {
		for i, r := range h.refs[:h.head] {
			if r.it != nil {
				bad("held-dropped-cleared", "dropped entry %d still points at item %s", i, r.it.ev.ID)
			}
		}
		var last uint64
		for _, r := range h.refs[h.head:] {
			if r.it == nil {
				bad("held-entry-set", "entry %d has no item", r.no)
				continue
			}
			if r.no <= last || r.no > h.seq {
				bad("held-numbered-in-order", "entry %d follows entry %d (last number %d)", r.no, last, h.seq)
			}
			last = r.no
			if r.it.lane != l {
				bad("held-own-lane", "entry %d holds item %s of lane %q", r.no, r.it.ev.ID, r.it.lane.name)
			}
			// Live, or dead for good and trimmable: an item still carrying its entry's
			// number is fresh or done, never storing or stored (a held item is
			// unmarked before it is prepared).
			if r.it.held == r.no && r.it.st != stFresh && r.it.st != stDone {
				bad("held-live-or-trimmable", "entry %d: item %s still carries it in state %d", r.no, r.it.ev.ID, r.it.st)
			}
		}
	}
	return errors.Join(errs...)
}

// TestInvariantsNameTheBrokenOne breaks one piece of a lane's bookkeeping at a time
// and checks that the checker reports that invariant by name.
func TestInvariantsNameTheBrokenOne(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(l *lane)
	}{
		{"mem-count", func(l *lane) { l.memCount++ }},
		{"in-flight-count", func(l *lane) { l.inflight++ }},
		{"depth-covers-memory", func(l *lane) { l.depth = 0 }},
		{"spill-pending", func(l *lane) { l.spillPending = -1 }},
		{"key-scheduled-once", func(l *lane) { l.ready = append(l.ready, l.ready[0]) }},
		{"scheduled-key-queued", func(l *lane) { l.ready = append(l.ready, "gone") }},
		{"waiting-key-scheduled", func(l *lane) { l.keys[l.ready[0]].scheduled = false; l.ready = l.ready[1:] }},
		{"key-queue-non-empty", func(l *lane) { l.keys["empty"] = &keyQ{} }},
		{"in-flight-is-head", func(l *lane) { l.keys["k"].items[1].inflight = true; l.inflight++ }},
		{"known-is-queued", func(l *lane) { l.known[99] = struct{}{} }},
		{"known-not-forgetting", func(l *lane) {
			it := l.keys["k"].items[0]
			it.st, it.seq = stStored, 7
			l.known[7], l.forgetting[7] = struct{}{}, struct{}{}
		}},
		{"queued-is-known", func(l *lane) { it := l.keys["k"].items[0]; it.st, it.seq = stStored, 7 }},
		{"queued-item-not-done", func(l *lane) { l.keys["k"].items[0].st = stDone }},
		{"held-live-or-trimmable", func(l *lane) {
			it := l.keys["k"].items[0]
			l.held.add(it)
			it.st = stStoring
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newDeferRig(t, "a")
			r.publish("e1", "k", "a")
			r.publish("e2", "k", "a")
			r.publish("e3", "other", "a")
			l := r.p.lanes["a"]
			l.mu.Lock()
			defer l.mu.Unlock()
			require.NoError(t, l.invariantsLocked(), "before breaking anything")
			tt.corrupt(l)
			err := l.invariantsLocked()
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.name+":")
		})
	}
}
