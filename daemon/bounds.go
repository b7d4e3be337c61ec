package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/store"
)

// freeShare is the share of the free space of the store's filesystem at start that
// store.max_bytes may use: the rest stays for the system (logs, the journal, other
// services) and for bbolt's growth steps.
const freeShare = 0.75

// freeSpace reports the free bytes of the filesystem holding dir (a variable for tests).
var freeSpace = freeBytes

// storeLimits turns the store section into the store's bounds. store.max_bytes is
// lowered to what the disk can take: the file's current size (its free pages are
// reused before it grows) plus 3/4 of the filesystem's free space at start, so that
// back-pressure starts before the disk is full. The quarter left is kept as the
// disk's reserve for recheckSpace. A lowered bound is logged.
func (d *Daemon) storeLimits(sc config.Store) store.Limits {
	if free, ok := freeSpace(filepath.Dir(d.db.Path())); ok {
		d.spaceReserve = int64(float64(free) * (1 - freeShare))
	}
	l, file, free, lowered := d.limitsFor(sc)
	if lowered {
		d.log.Warn("store.max_bytes lowered to what the disk can hold: the store file plus 3/4 of the free space",
			"max_bytes", sc.MaxBytes, "effective_max_bytes", l.MaxBytes, "file_bytes", file, "free_bytes", free)
	}
	return l
}

// limitsFor computes the bounds: store.max_bytes, lowered to the file's size plus
// the free space less the reserve, and whether it was lowered. A file that grew
// took its growth from the free space, so the figure moves only when the disk's
// room changes for other reasons.
func (d *Daemon) limitsFor(sc config.Store) (l store.Limits, file, free int64, lowered bool) {
	l = store.Limits{MaxBytes: max(sc.MaxBytes, 0), MaxDeadLetters: max(sc.MaxDeadLetters, 0), MaxDeadBytes: max(sc.MaxDeadBytes, 0)}
	free, ok := freeSpace(filepath.Dir(d.db.Path()))
	if !ok {
		return l, 0, 0, false
	}
	if fi, err := os.Stat(d.db.Path()); err == nil {
		file = fi.Size()
	}
	if room := file + free - d.spaceReserve; l.MaxBytes > 0 && room < l.MaxBytes {
		l.MaxBytes = room
		lowered = true
	}
	return l, file, free, lowered
}

// spaceRecheck is how often a full store's bound is computed again from the disk's
// free space.
const spaceRecheck = time.Minute

// recheckSpace raises a bound that was lowered to the free space, once the disk has
// more room (a log or journal cleaned up after a start on a nearly full card): while
// the store is full, at most every spaceRecheck. It never lowers the bound while
// running, and never above store.max_bytes.
func (d *Daemon) recheckSpace() {
	sp := d.db.Space()
	if !sp.Full || sp.Max == 0 || d.now().Sub(d.spaceAt) < spaceRecheck {
		return
	}
	d.spaceAt = d.now()
	l, file, free, _ := d.limitsFor(d.cfg.Store)
	if l.MaxBytes <= sp.Max {
		return
	}
	d.log.Info("store.max_bytes raised: the disk has more free space",
		"effective_max_bytes", l.MaxBytes, "was", sp.Max, "file_bytes", file, "free_bytes", free)
	d.db.SetLimits(l)
}

// refreshSpace sets the store's critical "space" condition while the store is at
// store.max_bytes. Critical, not degraded: the node cannot make new events durable,
// so sources stop being acknowledged for every event a sink does not deliver at once
// and upstream holds them; a load balancer or a standby relay should take the
// traffic, as for a store that fails to commit.
func (d *Daemon) refreshSpace() {
	d.recheckSpace()
	s := d.db.Space()
	if !s.Full {
		d.health.Set("store", "space", true, health.Critical, "")
		return
	}
	d.health.Set("store", "space", false, health.Critical, fmt.Sprintf(
		"%d bytes of live data, at store.max_bytes (%d): events are not stored, and sources are not acknowledged for those a sink has not delivered, until the backlog drains under 90%%",
		s.Live, s.Max))
}

// registerSpaceGauges exposes the store's live bytes, its bound and whether it is
// full, read at every scrape.
func (d *Daemon) registerSpaceGauges() {
	d.m.StoreLiveBytes(func() float64 { return float64(d.db.Space().Live) })
	d.m.StoreMaxBytes(func() float64 { return float64(d.db.Space().Max) })
	d.m.StoreFull(func() float64 {
		if d.db.Space().Full {
			return 1
		}
		return 0
	})
}

// refreshEvictions copies the store's per-sink eviction totals into the metrics.
func (d *Daemon) refreshEvictions() {
	for sink, n := range d.db.Evicted() {
		d.m.DeadLettersEvicted(sink).Set(n)
	}
}
