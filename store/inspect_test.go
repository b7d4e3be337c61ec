package store_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// TestInspectDead: InspectDead visits the named dead letters only (in the order
// named, a missing one skipped) or the first limit of them, passes what ScanDead
// passes, and does not copy the records: looking at five dead letters of 256 KiB
// allocates a small part of one.
func TestInspectDead(t *testing.T) {
	db := storetest.MustOpen(t)
	const size = 256 << 10
	var b store.Batch
	for i := range 5 {
		b.DeadLetter(&store.Entry{Sink: "s", Key: "k", Data: bytes.Repeat([]byte{byte('a' + i)}, size)}, "400")
	}
	require.NoError(t, db.Commit(&b))
	var scanned []store.Dead
	require.NoError(t, db.ScanDead("s", 0, 0, func(d store.Dead) error { scanned = append(scanned, d); return nil }))
	require.Len(t, scanned, 5)

	visit := func(seqs []uint64, limit int) (got []uint64) {
		require.NoError(t, db.InspectDead("s", seqs, limit, func(d store.Dead) error {
			want := scanned[d.Seq-scanned[0].Seq]
			require.Equal(t, want.Reason, d.Reason)
			require.Equal(t, want.Key, d.Key)
			require.True(t, want.At.Equal(d.At))
			require.True(t, bytes.Equal(want.Data, d.Data), "seq %d: the data ScanDead passes", d.Seq)
			got = append(got, d.Seq)
			return nil
		}))
		return got
	}
	s := func(i int) uint64 { return scanned[i].Seq }
	require.Equal(t, []uint64{s(3), s(1)}, visit([]uint64{s(3), 999, s(1)}, 0), "the named ones, in order")
	require.Equal(t, []uint64{s(0), s(1)}, visit(nil, 2))
	require.Equal(t, []uint64{s(0), s(1), s(2), s(3), s(4)}, visit(nil, 0))
	require.Empty(t, visit([]uint64{}, 0), "none named, none visited")
	require.NoError(t, db.InspectDead("gone", nil, 0, func(store.Dead) error { t.Fatal("a sink without dead letters"); return nil }))

	var before, after runtime.MemStats
	n := 0
	runtime.ReadMemStats(&before)
	require.NoError(t, db.InspectDead("s", nil, 0, func(d store.Dead) error { n += len(d.Data); return nil }))
	runtime.ReadMemStats(&after)
	require.Equal(t, 5*size, n)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(size/4), "InspectDead copied records")
}
