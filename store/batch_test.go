package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// all returns every outbox entry of sink.
func all(t testing.TB, db *store.DB, sink string) []store.Entry {
	t.Helper()
	var out []store.Entry
	require.NoError(t, db.Scan(sink, 0, 0, func(e store.Entry) error {
		out = append(out, e)
		return nil
	}))
	return out
}

// allDead returns every dead letter of sink.
func allDead(t testing.TB, db *store.DB, sink string) []store.Dead {
	t.Helper()
	var out []store.Dead
	require.NoError(t, db.ScanDead(sink, 0, 0, func(d store.Dead) error {
		out = append(out, d)
		return nil
	}))
	return out
}

func seqsOf(es []store.Entry) []uint64 {
	var s []uint64
	for _, e := range es {
		s = append(s, e.Seq)
	}
	return s
}

func put(t testing.TB, db *store.DB, es ...*store.Entry) {
	t.Helper()
	var b store.Batch
	for _, e := range es {
		b.Put(e)
	}
	require.NoError(t, db.Commit(&b))
}

func TestPutAssignsSeqsInFIFOOrderPerSink(t *testing.T) {
	db := storetest.MustOpen(t)
	var b store.Batch
	var es []*store.Entry
	for i := range 10 {
		sink := []string{"a", "b"}[i%2]
		e := &store.Entry{Sink: sink, Key: fmt.Sprint("k", i%3), Data: []byte(fmt.Sprint(i))}
		es = append(es, e)
		b.Put(e)
	}
	require.Equal(t, 10, b.Len())
	for _, e := range es {
		require.Zero(t, e.Seq, "Seq is set only by a successful commit")
	}
	before := time.Now()
	require.NoError(t, db.Commit(&b))

	for i, e := range es {
		require.Equal(t, uint64(i/2+1), e.Seq, "entry %d", i)
		require.False(t, e.Enqueued.Before(before.Truncate(time.Millisecond)), "zero Enqueued is set at commit")
	}
	// A second batch continues the sequence.
	e := &store.Entry{Sink: "a", Data: []byte("late")}
	put(t, db, e)
	require.Equal(t, uint64(6), e.Seq)

	got := all(t, db, "a")
	require.Equal(t, []uint64{1, 2, 3, 4, 5, 6}, seqsOf(got))
	for i, g := range got[:5] {
		require.Equal(t, "a", g.Sink)
		require.Equal(t, fmt.Sprint(2*i), string(g.Data))
		require.Equal(t, fmt.Sprint("k", (2*i)%3), g.Key)
		require.Zero(t, g.Attempts)
		require.True(t, g.NextAttempt.IsZero())
	}
	require.Equal(t, []uint64{1, 2, 3, 4, 5}, seqsOf(all(t, db, "b")))
	require.Empty(t, all(t, db, "missing"))
}

func TestPutKeepsEnqueued(t *testing.T) {
	db := storetest.MustOpen(t)
	at := time.Date(2024, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	put(t, db, &store.Entry{Sink: "s", Data: []byte("x"), Enqueued: at})
	got := all(t, db, "s")
	require.Len(t, got, 1)
	require.True(t, got[0].Enqueued.Equal(at))
}

func TestBatchOperations(t *testing.T) {
	next := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// Every case starts from sink "s" holding seqs 1, 2, 3 (data "1", "2", "3").
	tests := []struct {
		name     string
		ops      func(b *store.Batch)
		wantSeqs []uint64
		check    func(t *testing.T, db *store.DB)
	}{
		{
			name:     "delete one",
			ops:      func(b *store.Batch) { b.Delete("s", 2) },
			wantSeqs: []uint64{1, 3},
		},
		{
			name: "delete missing seq and missing sink are no-ops",
			ops: func(b *store.Batch) {
				b.Delete("s", 99)
				b.Delete("nope", 1)
			},
			wantSeqs: []uint64{1, 2, 3},
		},
		{
			name:     "update records the attempt",
			ops:      func(b *store.Batch) { b.Update("s", 2, 4, next, "503") },
			wantSeqs: []uint64{1, 2, 3},
			check: func(t *testing.T, db *store.DB) {
				e := all(t, db, "s")[1]
				require.Equal(t, 4, e.Attempts)
				require.True(t, e.NextAttempt.Equal(next))
				require.Equal(t, "503", e.LastError)
				require.Equal(t, "2", string(e.Data), "data survives an update")
			},
		},
		{
			name: "update twice in one batch keeps the last",
			ops: func(b *store.Batch) {
				b.Update("s", 1, 1, next, "first")
				b.Update("s", 1, 2, time.Time{}, "second")
			},
			wantSeqs: []uint64{1, 2, 3},
			check: func(t *testing.T, db *store.DB) {
				e := all(t, db, "s")[0]
				require.Equal(t, 2, e.Attempts)
				require.True(t, e.NextAttempt.IsZero())
				require.Equal(t, "second", e.LastError)
			},
		},
		{
			name: "update missing seq and missing sink are no-ops",
			ops: func(b *store.Batch) {
				b.Update("s", 99, 1, next, "x")
				b.Update("nope", 1, 1, next, "x")
			},
			wantSeqs: []uint64{1, 2, 3},
			check: func(t *testing.T, db *store.DB) {
				sinks, err := db.Sinks()
				require.NoError(t, err)
				require.Equal(t, []string{"s"}, sinks, "update must not create buckets")
			},
		},
		{
			name:     "update after delete in the same batch is a no-op",
			ops:      func(b *store.Batch) { b.Delete("s", 1); b.Update("s", 1, 1, next, "x") },
			wantSeqs: []uint64{2, 3},
		},
		{
			name: "put and delete mixed keep order",
			ops: func(b *store.Batch) {
				b.Delete("s", 1)
				b.Put(&store.Entry{Sink: "s", Data: []byte("4")})
				b.Delete("s", 3)
			},
			wantSeqs: []uint64{2, 4},
		},
		{
			name: "dead letter a committed entry",
			ops: func(b *store.Batch) {
				b.DeadLetter(&store.Entry{Sink: "s", Seq: 2, Key: "k", Data: []byte("2"), Attempts: 5, LastError: "400"}, "permanent")
			},
			wantSeqs: []uint64{1, 3},
			check: func(t *testing.T, db *store.DB) {
				d := allDead(t, db, "s")
				require.Len(t, d, 1)
				require.Equal(t, uint64(1), d[0].Seq, "dead letters have their own sequence")
				require.Equal(t, "permanent", d[0].Reason)
				require.Equal(t, "400", d[0].LastError)
				require.Equal(t, 5, d[0].Attempts)
				require.Equal(t, "2", string(d[0].Data))
				require.False(t, d[0].At.IsZero())
				require.False(t, d[0].Enqueued.IsZero())
			},
		},
		{
			name:     "dead letter an entry never committed",
			ops:      func(b *store.Batch) { b.DeadLetter(&store.Entry{Sink: "other", Data: []byte("x")}, "no route") },
			wantSeqs: []uint64{1, 2, 3},
			check: func(t *testing.T, db *store.DB) {
				require.Len(t, allDead(t, db, "other"), 1)
				require.Empty(t, all(t, db, "other"))
				sinks, err := db.Sinks()
				require.NoError(t, err)
				require.Equal(t, []string{"other", "s"}, sinks)
			},
		},
		{
			name:     "dead letter of a gone seq still stores the letter",
			ops:      func(b *store.Batch) { b.DeadLetter(&store.Entry{Sink: "s", Seq: 42}, "gone") },
			wantSeqs: []uint64{1, 2, 3},
			check: func(t *testing.T, db *store.DB) {
				require.Len(t, allDead(t, db, "s"), 1)
			},
		},
		{
			name: "cursor set, replaced and removed",
			ops: func(b *store.Batch) {
				b.SetCursor("edge", []byte("v1"))
				b.SetCursor("edge", []byte("v2"))
				b.SetCursor("gone", []byte("x"))
				b.SetCursor("gone", nil)
				b.SetCursor("empty", []byte{})
			},
			wantSeqs: []uint64{1, 2, 3},
			check: func(t *testing.T, db *store.DB) {
				v, err := db.Cursor("edge")
				require.NoError(t, err)
				require.Equal(t, []byte("v2"), v)
				v, err = db.Cursor("gone")
				require.NoError(t, err)
				require.Nil(t, v)
				v, err = db.Cursor("empty")
				require.NoError(t, err)
				require.NotNil(t, v)
				require.Empty(t, v)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.MustOpen(t)
			for i := 1; i <= 3; i++ {
				put(t, db, &store.Entry{Sink: "s", Key: "k", Data: []byte(fmt.Sprint(i))})
			}
			var b store.Batch
			tc.ops(&b)
			require.NoError(t, db.Commit(&b))
			require.Equal(t, tc.wantSeqs, seqsOf(all(t, db, "s")))
			if tc.check != nil {
				tc.check(t, db)
			}
		})
	}
}

func TestSetCursorCopiesValue(t *testing.T) {
	db := storetest.MustOpen(t)
	v := []byte("abc")
	var b store.Batch
	b.SetCursor("c", v)
	v[0] = 'X'
	require.NoError(t, db.Commit(&b))
	got, err := db.Cursor("c")
	require.NoError(t, err)
	require.Equal(t, "abc", string(got))
	got[0] = 'Y' // the returned slice is the caller's
	got, err = db.Cursor("c")
	require.NoError(t, err)
	require.Equal(t, "abc", string(got))
}

// TestCursorsByPrefix: Cursors walks the names under a prefix in order, with copies,
// the limits are inclusive, and Stats sizes every cursor.
func TestCursorsByPrefix(t *testing.T) {
	db := storetest.MustOpen(t)
	var b store.Batch
	b.SetCursor("source/b/x", []byte("2"))
	b.SetCursor("source/a/y", []byte("1"))
	b.SetCursor("sourcery", []byte("no"))
	b.SetCursor("other", []byte("no"))
	b.SetCursor(strings.Repeat("n", store.MaxCursorName), make([]byte, store.MaxCursorValue))
	require.NoError(t, db.Commit(&b))

	var got []string
	require.NoError(t, db.Cursors("source/", func(name string, v []byte) error {
		got = append(got, name+"="+string(v))
		v[0] = 'X' // the caller's copy
		return nil
	}))
	require.Equal(t, []string{"source/a/y=1", "source/b/x=2"}, got)
	v, err := db.Cursor("source/a/y")
	require.NoError(t, err)
	require.Equal(t, "1", string(v))

	stop := errors.New("stop")
	n := 0
	require.ErrorIs(t, db.Cursors("", func(string, []byte) error { n++; return stop }), stop)
	require.Equal(t, 1, n)

	st, err := db.Stats()
	require.NoError(t, err)
	require.Len(t, st.Cursors, 5)
	require.Equal(t, 1, st.Cursors["source/a/y"])
	require.Equal(t, store.MaxCursorValue, st.Cursors[strings.Repeat("n", store.MaxCursorName)])
}

func TestEmptyBatchCommitsNothing(t *testing.T) {
	db := storetest.MustOpen(t)
	before := db.Counters()
	var b store.Batch
	require.NoError(t, db.Commit(&b))
	require.NoError(t, db.Commit(nil))
	b.Put(&store.Entry{Sink: "s"})
	b.Reset()
	require.Zero(t, b.Len())
	require.NoError(t, db.Commit(&b))
	require.Equal(t, before, db.Counters())
}

func TestFailedCommitAppliesNothing(t *testing.T) {
	tests := []struct {
		name string
		bad  func(b *store.Batch)
	}{
		{name: "empty sink name", bad: func(b *store.Batch) { b.Put(&store.Entry{Data: []byte("x")}) }},
		{name: "empty dead-letter sink", bad: func(b *store.Batch) { b.DeadLetter(&store.Entry{}, "x") }},
		{name: "empty cursor name", bad: func(b *store.Batch) { b.SetCursor("", []byte("x")) }},
		{name: "cursor name too long for bbolt", bad: func(b *store.Batch) {
			b.SetCursor(string(make([]byte, 40000)), []byte("x"))
		}},
		{name: "cursor name over the limit", bad: func(b *store.Batch) {
			b.SetCursor(strings.Repeat("n", store.MaxCursorName+1), []byte("x"))
		}},
		{name: "cursor value over the limit", bad: func(b *store.Batch) {
			b.SetCursor("big", make([]byte, store.MaxCursorValue+1))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.MustOpen(t)
			put(t, db, &store.Entry{Sink: "s", Data: []byte("1")})
			commits := db.Counters().Commits

			var b store.Batch
			good := &store.Entry{Sink: "s", Data: []byte("2")}
			b.Put(good)
			b.Delete("s", 1)
			b.SetCursor("c", []byte("v"))
			tc.bad(&b)
			require.Error(t, db.Commit(&b))

			require.Zero(t, good.Seq, "no Seq after a failed commit")
			require.Equal(t, []uint64{1}, seqsOf(all(t, db, "s")))
			v, err := db.Cursor("c")
			require.NoError(t, err)
			require.Nil(t, v)
			require.Equal(t, commits, db.Counters().Commits)
		})
	}
}

func TestCountersGrowPerCommit(t *testing.T) {
	db := storetest.MustOpen(t)
	before := db.Counters()
	put(t, db, &store.Entry{Sink: "s", Data: make([]byte, 100)})
	after := db.Counters()
	require.Equal(t, before.Commits+1, after.Commits)
	// At least one data page and the meta page were written.
	require.GreaterOrEqual(t, after.BytesWritten-before.BytesWritten, uint64(2*4096)/2)
	require.False(t, after.LastCommit.IsZero())
}

func TestScanAfterAndLimit(t *testing.T) {
	db := storetest.MustOpen(t)
	const n = 700 // more than one internal chunk
	var b store.Batch
	for i := range n {
		b.Put(&store.Entry{Sink: "s", Data: []byte(fmt.Sprint(i + 1))})
	}
	require.NoError(t, db.Commit(&b))

	tests := []struct {
		name         string
		after        uint64
		limit        int
		first, count int
	}{
		{name: "all", after: 0, limit: 0, first: 1, count: n},
		{name: "negative limit is all", after: 0, limit: -1, first: 1, count: n},
		{name: "after", after: 300, limit: 0, first: 301, count: n - 300},
		{name: "limit", after: 0, limit: 5, first: 1, count: 5},
		{name: "limit across chunks", after: 10, limit: 600, first: 11, count: 600},
		{name: "after the end", after: n, limit: 0, count: 0},
		{name: "max seq", after: 1<<64 - 1, limit: 0, count: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			require.NoError(t, db.Scan("s", tc.after, tc.limit, func(e store.Entry) error {
				got = append(got, e.Seq)
				require.Equal(t, fmt.Sprint(e.Seq), string(e.Data))
				return nil
			}))
			require.Len(t, got, tc.count)
			for i, s := range got {
				require.Equal(t, uint64(tc.first+i), s)
			}
		})
	}

	t.Run("error stops the scan", func(t *testing.T) {
		stop := fmt.Errorf("stop")
		calls := 0
		err := db.Scan("s", 0, 0, func(store.Entry) error {
			calls++
			if calls == 3 {
				return stop
			}
			return nil
		})
		require.ErrorIs(t, err, stop)
		require.Equal(t, 3, calls)
	})

	t.Run("callback may write", func(t *testing.T) {
		// fn runs outside a transaction, so committing from it must not deadlock.
		require.NoError(t, db.Scan("s", 0, 3, func(e store.Entry) error {
			var b store.Batch
			b.Delete("s", e.Seq)
			return db.Commit(&b)
		}))
		require.Len(t, all(t, db, "s"), n-3)
	})
}
