package daemon

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/store"
)

// freeShare is the share of the free space of the store's filesystem at start that
// store.max_bytes may use: the rest stays for the system (logs, the journal, other
// services) and for bbolt's growth steps.
const freeShare = 0.75

// storeLimits turns the store section into the store's bounds. store.max_bytes is
// lowered to what the disk can take: the file's current size (its free pages are
// reused before it grows) plus 3/4 of the filesystem's free space at start, so that
// back-pressure starts before the disk is full. A lowered bound is logged.
func (d *Daemon) storeLimits(sc config.Store) store.Limits {
	l := store.Limits{MaxBytes: max(sc.MaxBytes, 0), MaxDeadLetters: max(sc.MaxDeadLetters, 0), MaxDeadBytes: max(sc.MaxDeadBytes, 0)}
	free, ok := freeBytes(filepath.Dir(d.db.Path()))
	if !ok {
		return l
	}
	var file int64
	if fi, err := os.Stat(d.db.Path()); err == nil {
		file = fi.Size()
	}
	if room := file + int64(float64(free)*freeShare); l.MaxBytes == 0 || room < l.MaxBytes {
		if l.MaxBytes > 0 {
			d.log.Warn("store.max_bytes lowered to what the disk can hold: the store file plus 3/4 of the free space",
				"max_bytes", sc.MaxBytes, "effective_max_bytes", room, "file_bytes", file, "free_bytes", free)
			l.MaxBytes = room
		}
	}
	return l
}

// refreshSpace sets the store's critical "space" condition while the store is at
// store.max_bytes. Critical, not degraded: the node cannot make new events durable,
// so sources stop being acknowledged for every event a sink does not deliver at once
// and upstream holds them; a load balancer or a standby relay should take the
// traffic, as for a store that fails to commit.
func (d *Daemon) refreshSpace() {
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
