package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// deadLetters fills sink "s" with outbox seqs 1..3 and dead letters 1..4.
func deadLetters(t *testing.T) *store.DB {
	t.Helper()
	db := storetest.MustOpen(t)
	for i := 1; i <= 3; i++ {
		put(t, db, &store.Entry{Sink: "s", Key: "k", Data: []byte(fmt.Sprint("out", i))})
	}
	var b store.Batch
	for i := 1; i <= 4; i++ {
		b.DeadLetter(&store.Entry{Sink: "s", Key: "k", Data: []byte(fmt.Sprint("dead", i)), Attempts: 7,
			LastError: "400", NextAttempt: time.Now().Add(time.Hour)}, "permanent")
	}
	require.NoError(t, db.Commit(&b))
	return db
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name      string
		sink      string
		seqs      []uint64
		want      int
		wantDead  []uint64
		wantOut   []uint64
		wantMoved []string
	}{
		{name: "all", sink: "s", seqs: nil, want: 4, wantDead: nil, wantOut: []uint64{1, 2, 3, 4, 5, 6, 7},
			wantMoved: []string{"dead1", "dead2", "dead3", "dead4"}},
		{name: "some, in dead order", sink: "s", seqs: []uint64{3, 1}, want: 2, wantDead: []uint64{2, 4},
			wantOut: []uint64{1, 2, 3, 4, 5}, wantMoved: []string{"dead3", "dead1"}},
		{name: "missing seqs are ignored", sink: "s", seqs: []uint64{2, 99}, want: 1, wantDead: []uint64{1, 3, 4},
			wantOut: []uint64{1, 2, 3, 4}, wantMoved: []string{"dead2"}},
		{name: "empty list moves nothing", sink: "s", seqs: []uint64{}, want: 0, wantDead: []uint64{1, 2, 3, 4},
			wantOut: []uint64{1, 2, 3}},
		{name: "unknown sink", sink: "nope", seqs: nil, want: 0, wantDead: []uint64{1, 2, 3, 4},
			wantOut: []uint64{1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := deadLetters(t)
			n, err := db.Retry(tc.sink, tc.seqs)
			require.NoError(t, err)
			require.Equal(t, tc.want, n)

			var dead []uint64
			for _, d := range allDead(t, db, "s") {
				dead = append(dead, d.Seq)
			}
			require.Equal(t, tc.wantDead, dead)
			out := all(t, db, "s")
			require.Equal(t, tc.wantOut, seqsOf(out))
			for i, want := range tc.wantMoved {
				e := out[3+i]
				require.Equal(t, want, string(e.Data))
				require.Equal(t, "k", e.Key)
				require.Zero(t, e.Attempts)
				require.True(t, e.NextAttempt.IsZero(), "due now")
				require.Empty(t, e.LastError)
				require.False(t, e.Enqueued.IsZero(), "keeps its enqueue time")
			}
		})
	}
}

func TestDrop(t *testing.T) {
	tests := []struct {
		name     string
		sink     string
		dead     bool
		seqs     []uint64
		want     int
		wantOut  []uint64
		wantDead int
	}{
		{name: "all pending", sink: "s", seqs: nil, want: 3, wantOut: nil, wantDead: 4},
		{name: "some pending", sink: "s", seqs: []uint64{2, 3, 77}, want: 2, wantOut: []uint64{1}, wantDead: 4},
		{name: "all dead", sink: "s", dead: true, seqs: nil, want: 4, wantOut: []uint64{1, 2, 3}, wantDead: 0},
		{name: "some dead", sink: "s", dead: true, seqs: []uint64{4}, want: 1, wantOut: []uint64{1, 2, 3}, wantDead: 3},
		{name: "unknown sink", sink: "nope", seqs: nil, want: 0, wantOut: []uint64{1, 2, 3}, wantDead: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := deadLetters(t)
			n, err := db.Drop(tc.sink, tc.dead, tc.seqs)
			require.NoError(t, err)
			require.Equal(t, tc.want, n)
			require.Equal(t, tc.wantOut, seqsOf(all(t, db, "s")))
			require.Len(t, allDead(t, db, "s"), tc.wantDead)
		})
	}
}

func TestDropKeepsSequenceGrowing(t *testing.T) {
	db := deadLetters(t)
	_, err := db.Drop("s", false, nil)
	require.NoError(t, err)
	e := &store.Entry{Sink: "s"}
	put(t, db, e)
	require.Equal(t, uint64(4), e.Seq, "seqs are never reused")
	sinks, err := db.Sinks()
	require.NoError(t, err)
	require.Equal(t, []string{"s"}, sinks)
}

func TestStats(t *testing.T) {
	db := storetest.MustOpen(t)
	st, err := db.Stats()
	require.NoError(t, err)
	require.Equal(t, 2, st.Schema)
	require.Empty(t, st.Sinks)
	require.Positive(t, st.FileBytes)

	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	put(t, db,
		&store.Entry{Sink: "a", Enqueued: t1},
		&store.Entry{Sink: "a", Enqueued: t1.Add(time.Minute)},
		&store.Entry{Sink: "b", Enqueued: t1.Add(time.Hour)},
	)
	before := time.Now().Truncate(time.Millisecond)
	var b store.Batch
	b.DeadLetter(&store.Entry{Sink: "c", Enqueued: t1}, "x")
	b.DeadLetter(&store.Entry{Sink: "a", Enqueued: t1}, "x")
	require.NoError(t, db.Commit(&b))

	st, err = db.Stats()
	require.NoError(t, err)
	require.Len(t, st.Sinks, 3)
	dead, err := db.DeadCount()
	require.NoError(t, err)
	require.Equal(t, 2, dead, "DeadCount agrees with Stats")
	a := st.Sinks["a"]
	require.Equal(t, 2, a.Pending)
	require.Equal(t, 1, a.Dead)
	require.True(t, a.Oldest.Equal(t1))
	require.False(t, a.OldestDead.Before(before))
	require.Equal(t, store.SinkStats{Pending: 1, Oldest: t1.Add(time.Hour)}, st.Sinks["b"])
	c := st.Sinks["c"]
	require.Zero(t, c.Pending)
	require.True(t, c.Oldest.IsZero())
	require.Equal(t, 1, c.Dead)

	sinks, err := db.Sinks()
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, sinks)
}

func TestClosedDB(t *testing.T) {
	db := storetest.MustOpen(t)
	put(t, db, &store.Entry{Sink: "s"})
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "second Close")

	var b store.Batch
	b.Put(&store.Entry{Sink: "s"})
	calls := []struct {
		name string
		call func() error
	}{
		{"Commit", func() error { return db.Commit(&b) }},
		{"Scan", func() error { return db.Scan("s", 0, 0, func(store.Entry) error { return nil }) }},
		{"ScanDead", func() error { return db.ScanDead("s", 0, 0, func(store.Dead) error { return nil }) }},
		{"Check", db.Check},
		{"Sinks", func() error { _, err := db.Sinks(); return err }},
		{"Stats", func() error { _, err := db.Stats(); return err }},
		{"Retry", func() error { _, err := db.Retry("s", nil); return err }},
		{"Drop", func() error { _, err := db.Drop("s", false, nil); return err }},
		{"Cursor", func() error { _, err := db.Cursor("c"); return err }},
		{"Cursors", func() error { return db.Cursors("", func(string, []byte) error { return nil }) }},
	}
	for _, c := range calls {
		require.ErrorIs(t, c.call(), store.ErrClosed, c.name)
	}
	require.Equal(t, uint64(2), db.Counters().Commits, "counters survive Close (init + one put)")
}

func TestMove(t *testing.T) {
	db := storetest.MustOpen(t)
	var b store.Batch
	for i := range 2500 { // more than one step
		b.Put(&store.Entry{Sink: "old", Key: fmt.Sprint("k", i%7), Data: []byte(fmt.Sprint(i))})
	}
	b.Put(&store.Entry{Sink: "new", Data: []byte("already there")})
	require.NoError(t, db.Commit(&b))
	old := all(t, db, "old")
	b.Reset()
	b.DeadLetter(&old[0], "permanent: 400")
	b.Update("old", old[1].Seq, 4, time.Time{}, "503")
	require.NoError(t, db.Commit(&b))
	old = all(t, db, "old")

	m, err := db.Move("old", "new")
	require.NoError(t, err)
	require.Equal(t, store.Moved{Outbox: 2499, Dead: 1}, m)
	got := all(t, db, "new")
	require.Len(t, got, 2500)
	require.Equal(t, "already there", string(got[0].Data), "moved entries go to the end")
	for i, e := range got[1:] {
		want := old[i]
		require.Greater(t, e.Seq, got[i].Seq, "new seqs, in order")
		want.Sink, want.Seq = "new", e.Seq
		require.Equal(t, want, e)
	}
	require.Equal(t, 4, got[1].Attempts)
	dead := allDead(t, db, "new")
	require.Len(t, dead, 1)
	require.Equal(t, "permanent: 400", dead[0].Reason)
	sinks, err := db.Sinks()
	require.NoError(t, err)
	require.Equal(t, []string{"new"}, sinks, "the old buckets are gone")

	_, err = db.Move("new", "new")
	require.ErrorContains(t, err, "to itself")
	m, err = db.Move("nothing", "new")
	require.NoError(t, err)
	require.Zero(t, m)
}
