package store_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// TestCommitFaultFailsLikeAFullDisk: a commit failed by SetCommitFault applies nothing
// and assigns no Seq, and the next commit after the fault is removed takes the Seq the
// failed one would have had.
func TestCommitFaultFailsLikeAFullDisk(t *testing.T) {
	db := storetest.MustOpen(t)
	put(t, db, &store.Entry{Sink: "a", Data: []byte("1")})

	full := errors.New("no space left on device")
	db.SetCommitFault(func() error { return full })
	var b store.Batch
	e := &store.Entry{Sink: "a", Data: []byte("2")}
	b.Put(e)
	b.Delete("a", 1)
	require.ErrorIs(t, db.Commit(&b), full)
	require.Zero(t, e.Seq)
	require.Equal(t, []uint64{1}, seqsOf(all(t, db, "a")))

	db.SetCommitFault(func() error { return nil })
	require.NoError(t, db.Commit(&b))
	require.EqualValues(t, 2, e.Seq)
	require.Equal(t, []uint64{2}, seqsOf(all(t, db, "a")))

	db.SetCommitFault(nil)
	put(t, db, &store.Entry{Sink: "a", Data: []byte("3")})
	require.Equal(t, []uint64{2, 3}, seqsOf(all(t, db, "a")))
}
