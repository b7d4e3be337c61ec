package daemon

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
)

// deadCondition is the sink condition that is degraded while the sink has dead
// letters: an event that gave up (retry.max_attempts, retry.max_age) or was refused
// by the receiver no longer blocks the sink's outbox, and this is how it is seen —
// on /ready, the STATUS line and the event bus — until `edgerelay queue retry` or
// `queue drop` empties the sink's dead letters.
const deadCondition = "dead_letters"

// deadWatch follows the DeadLettered events (a synchronous bus handler: it only
// records) so that the status loop recounts within one refresh of a new dead letter
// instead of its 30 s period, and can name the latest reason.
type deadWatch struct {
	dirty atomic.Bool
	force atomic.Bool // recount at the next refresh, however soon: the page changed them
	mu    sync.Mutex
	last  map[string]string // sink → the reason of its latest dead letter
}

func (w *deadWatch) handle(e events.Event) {
	w.mu.Lock()
	if w.last == nil {
		w.last = map[string]string{}
	}
	w.last[e.Sink] = e.Reason
	w.mu.Unlock()
	w.dirty.Store(true)
}

func (w *deadWatch) lastReason(sink string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[sink]
}

// refreshDead recounts the dead letters per sink when one arrived or every 30 s
// (counting walks the dead-letter pages), and keeps the STATUS line's total, each
// sink's dead_letters condition and the edgerelay_dead_letters_kept gauge current.
func (d *Daemon) refreshDead() {
	since := d.now().Sub(d.deadAt)
	forced := d.deadWatch.force.Swap(false)
	if !forced && (since < deadRecountMin || !d.deadWatch.dirty.Load() && since <= deadRecount) {
		return
	}
	d.deadWatch.dirty.Store(false)
	d.deadAt = d.now()
	by, err := d.db.DeadCounts()
	if err != nil {
		return
	}
	total := 0
	for _, n := range by {
		total += n
	}
	d.dead = total
	d.page.setDead(by)
	for _, s := range d.sinkList() {
		n := by[s.Name]
		d.m.DeadLettersKept(s.Name, n)
		if n == 0 {
			d.health.Set("sink:"+s.Name, deadCondition, true, health.Degraded, "")
			continue
		}
		detail := fmt.Sprintf("%d dead letter(s)", n)
		if r := d.deadWatch.lastReason(s.Name); r != "" {
			detail += ", latest: " + events.Cut(r, 160)
		}
		detail += "; see edgerelay queue list --dead --sink " + s.Name
		d.health.Set("sink:"+s.Name, deadCondition, false, health.Degraded, detail)
	}
	if n := by[pipeline.RejectedSink]; n > 0 || d.rejectedSeen {
		d.rejectedSeen = true
		d.m.DeadLettersKept(pipeline.RejectedSink, n)
	}
}

// deadRecount is how often refreshDead recounts without a new dead letter: counting
// walks the dead-letter pages.
const deadRecount = 30 * time.Second

// deadRecountMin is the shortest time between two recounts, however fast dead
// letters arrive (a flood of refused events): each walks the dead-letter pages.
const deadRecountMin = 5 * time.Second

// deadChanged makes the status loop recount the dead letters at its next refresh, and
// wakes it: the status page retried or dropped some.
func (d *Daemon) deadChanged() {
	d.deadWatch.force.Store(true)
	select {
	case d.deadWake <- struct{}{}:
	default:
	}
}
