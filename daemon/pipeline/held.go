package pipeline

// heldQueue is a lane's list of the fresh items whose publish job the writer holds
// back, in the order DeferUntil marked them. That is the writer's order: the writer
// asks its waiting jobs in submission order, a job is marked the first time it is held
// back and stays marked until it is prepared, so a job marked later was submitted
// later. (A job whose commit failed is not asked again: it waits in the retry list,
// which every later job joins when it is prepared; see retryList.) It is guarded by
// the lane's mu.
//
// Entries are numbered; an entry is live while its item still carries that number and
// is still fresh. A dead entry never comes back to life (a held item is unmarked
// before it is stored, and a delivered one stays done), so dead entries are dropped
// lazily from the front.
type heldQueue struct {
	refs []heldRef
	head int    // refs[:head] are dropped
	seq  uint64 // number of the last entry
}

type heldRef struct {
	it *item
	no uint64
}

func (r heldRef) live() bool { return r.it.held == r.no && r.it.st == stFresh }

// add enters it as the latest held item.
func (q *heldQueue) add(it *item) {
	q.seq++
	it.held = q.seq
	q.refs = append(q.refs, heldRef{it: it, no: q.seq})
}

// release takes it out.
func (q *heldQueue) release(it *item) {
	it.held = 0
	q.trim()
}

// before reports whether an item of another job was held back ahead of it: of any
// job when it is not held itself, else of one marked before it.
func (q *heldQueue) before(it *item) bool {
	q.trim()
	for _, r := range q.refs[q.head:] {
		if it.held != 0 && r.no >= it.held {
			return false
		}
		if r.it.job != it.job && r.live() {
			return true
		}
	}
	return false
}

// trim drops the dead entries at the front, and resets the queue once it is empty.
func (q *heldQueue) trim() {
	for q.head < len(q.refs) && !q.refs[q.head].live() {
		q.refs[q.head] = heldRef{}
		q.head++
	}
	switch {
	case q.head == len(q.refs):
		q.refs, q.head = q.refs[:0], 0
	case q.head >= 64 && q.head*2 >= len(q.refs):
		// Never empty under a steady stream: move the live part to the front.
		n := copy(q.refs, q.refs[q.head:])
		clear(q.refs[n:])
		q.refs, q.head = q.refs[:n], 0
	}
}
