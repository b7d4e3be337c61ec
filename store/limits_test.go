package store_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// deadLetter commits n dead letters of sink with data of size bytes, in one batch.
func deadLetter(t *testing.T, db *store.DB, sink string, n, size int, tag string) {
	t.Helper()
	var b store.Batch
	for i := 0; i < n; i++ {
		b.DeadLetter(&store.Entry{Sink: sink, Data: []byte(fmt.Sprintf("%s%d:%s", tag, i, strings.Repeat("x", size)))}, "r")
	}
	require.NoError(t, db.Commit(&b))
}

// TestDeadLetterBounds shows that each sink's dead letters stay within their count
// and byte bounds, the oldest evicted first, in single and batched commits, counted
// per sink, and recounted after a transaction that is not a Commit (Drop, Retry).
func TestDeadLetterBounds(t *testing.T) {
	cases := []struct {
		name      string
		lim       store.Limits
		commits   []int // dead letters per commit
		size      int
		wantKept  int
		wantFirst string // data prefix of the oldest kept
	}{
		{"count, one per commit", store.Limits{MaxDeadLetters: 3}, []int{1, 1, 1, 1, 1}, 10, 3, "c2:"},
		{"count, one batch", store.Limits{MaxDeadLetters: 3}, []int{5}, 10, 3, "c2:"},
		{"count, mixed", store.Limits{MaxDeadLetters: 4}, []int{2, 3, 2}, 10, 4, "c3:"},
		// Each record is about 1 KiB: 8 KiB keeps 7 of them.
		{"bytes", store.Limits{MaxDeadBytes: 8 << 10}, []int{4, 4, 4}, 1 << 10, 7, "c5:"},
		{"one over the byte bound is kept", store.Limits{MaxDeadBytes: 100}, []int{1, 1}, 1 << 10, 1, "c1:"},
		{"unbounded", store.Limits{}, []int{5, 5}, 10, 10, "c0:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.MustOpen(t)
			db.SetLimits(tc.lim)
			var evicted []store.Eviction
			db.OnEvict(func(e []store.Eviction) { evicted = append(evicted, e...) })
			n := 0
			for _, c := range tc.commits {
				var b store.Batch
				for i := 0; i < c; i++ {
					b.DeadLetter(&store.Entry{Sink: "s", Data: []byte(fmt.Sprintf("c%d:%s", n, strings.Repeat("x", tc.size)))}, "r")
					n++
				}
				require.NoError(t, db.Commit(&b))
			}
			// Another sink is bounded on its own.
			deadLetter(t, db, "other", 1, 10, "o")
			got := allDead(t, db, "s")
			require.Len(t, got, tc.wantKept)
			require.True(t, strings.HasPrefix(string(got[0].Data), tc.wantFirst), "oldest kept: %.10q", got[0].Data)
			require.True(t, strings.HasPrefix(string(got[len(got)-1].Data), fmt.Sprintf("c%d:", n-1)), "the newest is kept")
			sum := 0
			for _, e := range evicted {
				require.Equal(t, "s", e.Sink)
				require.Positive(t, e.Bytes)
				sum += e.Count
			}
			require.Equal(t, n-tc.wantKept, sum)
			require.Equal(t, uint64(n-tc.wantKept), db.Evicted()["s"])
			require.Len(t, allDead(t, db, "other"), 1)
		})
	}

	t.Run("recounted after Drop and Retry", func(t *testing.T) {
		db := storetest.MustOpen(t)
		db.SetLimits(store.Limits{MaxDeadLetters: 3})
		deadLetter(t, db, "s", 3, 10, "a")
		got := allDead(t, db, "s")
		_, err := db.Drop("s", true, []uint64{got[0].Seq, got[1].Seq})
		require.NoError(t, err)
		// One left: three more fit with one eviction, not three.
		deadLetter(t, db, "s", 3, 10, "b")
		require.Equal(t, uint64(1), db.Evicted()["s"])
		got = allDead(t, db, "s")
		require.Len(t, got, 3)
		_, err = db.Retry("s", []uint64{got[0].Seq})
		require.NoError(t, err)
		deadLetter(t, db, "s", 1, 10, "c")
		require.Equal(t, uint64(1), db.Evicted()["s"], "a retried dead letter makes room")
		require.Len(t, allDead(t, db, "s"), 3)
	})

	t.Run("evictions are logged once per commit and sink", func(t *testing.T) {
		rec := &logRecorder{}
		opts := storetest.Options(t)
		opts.Logger = slog.New(rec)
		db, err := store.Open(t.TempDir()+"/q.db", opts)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		db.SetLimits(store.Limits{MaxDeadLetters: 2})
		deadLetter(t, db, "s", 10, 10, "a")
		require.Equal(t, 1, rec.count(slog.LevelWarn))
		require.Equal(t, uint64(8), db.Evicted()["s"])
	})
}

// TestSpaceBound fills a store past a small MaxBytes: HasRoom turns false and the
// store reports itself full, stays full while the live data sits between 90% and
// 100% of the bound, and clears once deletes bring it under. The bound counts live
// pages, not the file: the file keeps its size after the deletes.
func TestSpaceBound(t *testing.T) {
	db := storetest.MustOpen(t)
	const max = 256 << 10
	db.SetLimits(store.Limits{MaxBytes: max})
	s := db.Space()
	require.False(t, s.Full)
	require.Positive(t, s.Live)
	require.Equal(t, int64(max), s.Max)

	data := []byte(strings.Repeat("y", 2000))
	storetest.FillUntilFull(t, db, "s", data, 125)
	s = db.Space()
	require.True(t, s.Full)
	require.False(t, s.Since.IsZero())
	require.GreaterOrEqual(t, s.Live+int64(len(data)), int64(max))
	require.Less(t, s.Live, int64(max)+64<<10, "one batch over at most")
	require.False(t, db.HasRoom(0), "full stays full")
	fileBefore := mustStats(t, db).FileBytes

	es := all(t, db, "s")
	// Deleting a few entries leaves it above 90%: still full.
	var b store.Batch
	b.Delete("s", es[0].Seq)
	require.NoError(t, db.Commit(&b))
	require.True(t, db.Space().Full)
	b = store.Batch{}
	for _, e := range es[1:] {
		b.Delete("s", e.Seq)
	}
	require.NoError(t, db.Commit(&b))
	s = db.Space()
	require.False(t, s.Full)
	require.Less(t, s.Live, int64(max/2))
	require.True(t, db.HasRoom(int64(len(data))))
	require.Equal(t, fileBefore, mustStats(t, db).FileBytes, "the file does not shrink; its pages are reused")
}

// TestSpaceBoundRaised: a full store whose bound is raised (the daemon found more
// free space) has room again at once, without a commit.
func TestSpaceBoundRaised(t *testing.T) {
	db := storetest.MustOpen(t)
	const max = 256 << 10
	db.SetLimits(store.Limits{MaxBytes: max})
	data := []byte(strings.Repeat("y", 2000))
	storetest.FillUntilFull(t, db, "s", data, 1000)
	require.True(t, db.Space().Full)
	db.SetLimits(store.Limits{MaxBytes: 4 * max})
	s := db.Space()
	require.False(t, s.Full)
	require.Equal(t, int64(4*max), s.Max)
	require.True(t, db.HasRoom(int64(len(data))))
}

func mustStats(t *testing.T, db *store.DB) store.Stats {
	t.Helper()
	st, err := db.Stats()
	require.NoError(t, err)
	return st
}
