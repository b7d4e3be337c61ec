package daemon

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// TestRecheckSpaceRaisesALoweredBound: a bound lowered at start to a nearly full
// disk's free space rises, while the store is full, once the disk has room again
// (at most once a minute, never above store.max_bytes), and the store takes events
// again without a restart.
func TestRecheckSpaceRaisesALoweredBound(t *testing.T) {
	old := freeSpace
	t.Cleanup(func() { freeSpace = old })
	// A disk with 200 KiB free at start; what the store file grows by is taken from it.
	db := storetest.MustOpen(t)
	size := func() int64 { fi, err := os.Stat(db.Path()); require.NoError(t, err); return fi.Size() }
	var free int64 = 200 << 10
	start := size()
	freeSpace = func(string) (int64, bool) { return free - (size() - start), true }

	now := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	d := &Daemon{cfg: &config.Config{Store: config.Store{MaxBytes: 64 << 20}}, log: slog.New(slog.DiscardHandler),
		now: func() time.Time { return now }, db: db}
	db.SetLimits(d.storeLimits(d.cfg.Store))
	lowered := db.Space().Max
	require.Less(t, lowered, int64(64<<20), "lowered to the file plus 3/4 of the free space")

	data := []byte(strings.Repeat("y", 2000))
	storetest.FillUntilFull(t, db, "s", data, 10000)
	require.True(t, db.Space().Full)

	d.recheckSpace() // the disk has not changed: the bound stays
	require.Equal(t, lowered, db.Space().Max)
	free = 1 << 30 // the journal was vacuumed
	now = now.Add(30 * time.Second)
	d.recheckSpace()
	require.Equal(t, lowered, db.Space().Max, "at most once a minute")
	now = now.Add(31 * time.Second)
	d.recheckSpace()
	require.Equal(t, int64(64<<20), db.Space().Max, "raised, up to store.max_bytes")
	require.False(t, db.Space().Full)
	require.True(t, db.HasRoom(int64(len(data))))
}
