package pipeline

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every test of the package (and of pipeline_test, which links this file) checks a
// lane's invariants after each operation: a broken one panics, naming itself, the
// lane and the operation, wherever the lane was (a worker, the writer, a timer). The
// writer's hold and release steps change only the held queue, so after them only the
// counters and that queue are checked.
func init() {
	checkHook = func(l *lane, op string) {
		var err error
		if op == "hold" || op == "unhold" {
			err = errors.Join(l.countersLocked(), l.heldInvariantsLocked())
		} else {
			err = l.invariantsLocked()
		}
		if err != nil {
			panic(fmt.Sprintf("pipeline: lane %q after %s breaks its invariants:\n%v", l.name, op, err))
		}
	}
}

// countersLocked checks what the lane's counters say without walking its queues.
// l.mu must be held.
func (l *lane) countersLocked() error {
	var bad violations
	if l.memCount > l.memLimit {
		bad.add("mem-limit", "memCount %d exceeds the limit %d", l.memCount, l.memLimit)
	}
	if l.inflight < 0 || l.inflight > l.maxInFlight {
		bad.add("in-flight-bound", "inflight %d is outside 0..%d", l.inflight, l.maxInFlight)
	}
	if l.spillPending < 0 {
		bad.add("spill-pending", "spillPending is %d", l.spillPending)
	}
	if l.depth < int64(l.memCount+max(l.spillPending, 0)) {
		bad.add("depth-covers-memory", "depth %d is less than memCount %d plus spillPending %d", l.depth, l.memCount, l.spillPending)
	}
	if l.memCount < len(l.keys) {
		bad.add("key-queue-non-empty", "%d key queues hold %d items", len(l.keys), l.memCount)
	}
	return bad.err()
}

// invariantsLocked checks the lane's bookkeeping against its queues and returns every
// broken invariant, each error starting with the invariant's name. l.mu must be held.
//
// Not checked, because no state at one instant shows it: that stored items of one key
// reach the sink in publish order (the order tests check that from outside), and
// anything about items fresh from concurrent publishers of one key, which have no
// order between them.
func (l *lane) invariantsLocked() error {
	var bad violations

	// Each entry of the ready list and the delay heap names a queued, scheduled key;
	// with as many entries as scheduled keys, each scheduled key has one entry (a key
	// twice is found unless another scheduled key has none at the same time). The walk
	// builds no maps: it runs after every operation of every test, race detector on.
	entries := len(l.ready) + len(l.delayed)
	for i, k := range l.ready {
		if q := l.keys[k]; q == nil || !q.scheduled {
			bad.add("scheduled-key-queued", "ready entry %d names key %q, which has no scheduled queue", i, k)
		}
	}
	for i, d := range l.delayed {
		if q := l.keys[d.key]; q == nil || !q.scheduled {
			bad.add("scheduled-key-queued", "delay heap entry %d names key %q, which has no scheduled queue", i, d.key)
		}
		if parent := (i - 1) / 2; i > 0 && d.at.Before(l.delayed[parent].at) {
			bad.add("delay-heap-ordered", "entry %d (%s, key %q) is due before its parent %d (%s)",
				i, d.at, d.key, parent, l.delayed[parent].at)
		}
	}

	queued, inflight, scheduled, stored := 0, 0, 0, 0
	for key, q := range l.keys {
		if len(q.items) == 0 {
			bad.add("key-queue-non-empty", "key %q has an empty queue", key)
		}
		queued += len(q.items)
		if q.scheduled {
			scheduled++
		}
		if len(q.items) > 0 {
			switch head := q.items[0]; {
			case head == nil:
			case q.scheduled && head.inflight:
				bad.add("in-flight-key-unscheduled", "key %q is scheduled while its head %s is in flight", key, head.ev.ID)
			case !q.scheduled && !head.inflight:
				bad.add("waiting-key-scheduled", "key %q: head %s waits, but the key is neither ready nor delayed", key, head.ev.ID)
			}
		}
		var loadedSeq uint64
		for i, it := range q.items {
			if it == nil {
				bad.add("queued-item-set", "key %q: item %d is nil", key, i)
				continue
			}
			if it.key != key || it.lane != l {
				bad.add("queued-item-belongs", "key %q: item %s has key %q of lane %q", key, it.ev.ID, it.key, it.lane.name)
			}
			if !it.inMem || it.spilled {
				bad.add("queued-item-in-memory", "key %q: item %s is queued with inMem=%v spilled=%v", key, it.ev.ID, it.inMem, it.spilled)
			}
			if it.st == stDone {
				bad.add("queued-item-not-done", "key %q: item %s is done but still queued", key, it.ev.ID)
			}
			if it.job != nil && it.job.unbuffered && it.st != stFresh {
				bad.add("unbuffered-never-stored", "key %q: item %s of an unbuffered publish is in state %d", key, it.ev.ID, it.st)
			}
			if it.inflight {
				inflight++
				if i > 0 {
					// So no two in-flight items share a key.
					bad.add("in-flight-is-head", "key %q: item %s at position %d is in flight", key, it.ev.ID, i)
				}
			}
			if it.st == stStored {
				stored++
				if _, ok := l.known[it.seq]; !ok {
					bad.add("queued-is-known", "queued stored item seq %d is not known (the loader could page it in twice)", it.seq)
				}
			}
			if it.job == nil { // loaded from the store, which pages in by seq
				if it.seq <= loadedSeq {
					bad.add("loaded-in-seq-order", "key %q: loaded item seq %d follows loaded item seq %d", key, it.seq, loadedSeq)
				}
				loadedSeq = it.seq
			}
		}
	}
	if entries != scheduled {
		bad.add("key-scheduled-once", "%d keys are scheduled, the ready list and delay heap hold %d entries", scheduled, entries)
	}
	if l.memCount != queued {
		bad.add("mem-count", "memCount is %d, the key queues hold %d items", l.memCount, queued)
	}
	if l.inflight != inflight {
		bad.add("in-flight-count", "inflight is %d, %d queued items are in flight", l.inflight, inflight)
	}
	// Every queued stored item is known (above); as many known seqs as queued stored
	// items make known exactly their seqs, or show a seq queued twice.
	if len(l.known) != stored {
		bad.add("known-is-queued", "%d seqs are known, %d queued items are stored", len(l.known), stored)
	}
	for seq := range l.forgetting {
		if _, ok := l.known[seq]; ok {
			bad.add("known-not-forgetting", "seq %d is both known and being forgotten", seq)
		}
	}

	return errors.Join(l.countersLocked(), bad.err(), l.heldInvariantsLocked())
}

// heldInvariantsLocked checks the lane's held queue. l.mu must be held.
func (l *lane) heldInvariantsLocked() error {
	var bad violations
	h := &l.held
	if h.head < 0 || h.head > len(h.refs) {
		bad.add("held-head", "head %d is outside 0..%d", h.head, len(h.refs))
	} else {
		for i, r := range h.refs[:h.head] {
			if r.it != nil {
				bad.add("held-dropped-cleared", "dropped entry %d still points at item %s", i, r.it.ev.ID)
			}
		}
		var last uint64
		for _, r := range h.refs[h.head:] {
			if r.it == nil {
				bad.add("held-entry-set", "entry %d has no item", r.no)
				continue
			}
			if r.no <= last || r.no > h.seq {
				bad.add("held-numbered-in-order", "entry %d follows entry %d (last number %d)", r.no, last, h.seq)
			}
			last = r.no
			if r.it.lane != l {
				bad.add("held-own-lane", "entry %d holds item %s of lane %q", r.no, r.it.ev.ID, r.it.lane.name)
			}
			// Live, or dead for good and trimmable: an item still carrying its entry's
			// number is fresh or done, never storing or stored (a held item is
			// unmarked before it is prepared).
			if r.it.held == r.no && r.it.st != stFresh && r.it.st != stDone {
				bad.add("held-live-or-trimmable", "entry %d: item %s still carries it in state %d", r.no, r.it.ev.ID, r.it.st)
			}
		}
	}
	return bad.err()
}

// violations collects broken invariants, each error led by the invariant's name.
type violations []error

func (v *violations) add(name, format string, args ...any) {
	*v = append(*v, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (v violations) err() error { return errors.Join(v...) }

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
			l := r.p.sinks.Load().byName["a"]
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
