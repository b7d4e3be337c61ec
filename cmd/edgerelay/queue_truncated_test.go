package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
)

// TestQueueRetryRefusesTruncated: a dead letter that is only the bounded prefix of
// an oversize event is never put back in an outbox. Named, it refuses the command
// (nothing moves); with --all the whole ones are retried and it stays, with a line
// saying why.
func TestQueueRetryRefusesTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	var b store.Batch
	for _, ev := range []*adapters.Event{
		{ID: "whole", Payload: []byte(`{}`)},
		{ID: "cut", Payload: []byte("prefix"), Attrs: map[string]string{pipeline.TruncatedAttr: "300000"}},
	} {
		data, err := ev.MarshalBinary()
		require.NoError(t, err)
		b.DeadLetter(&store.Entry{Sink: "hook", Data: data}, "too_large: …")
	}
	require.NoError(t, db.Commit(&b))
	require.NoError(t, db.Close())

	code, out, errs := cli(t, "queue", "retry", "--store", path, "--sink", "hook", "1", "2")
	require.NotEqual(t, exitOK, code)
	require.Contains(t, errs, "nothing retried: dead letter(s) 2 (event cut, 300000 bytes) of hook are only the first 1024 bytes")
	require.Contains(t, errs, "not the events")
	require.NotContains(t, out, "queued for delivery")

	code, out, errs = cli(t, "queue", "retry", "--store", path, "--sink", "hook", "--all")
	require.Equal(t, exitOK, code, errs)
	require.Contains(t, out, "left in place: dead letter(s) 2 (event cut")
	require.Contains(t, out, "1 dead letter(s) of hook queued for delivery again")

	code, out, errs = cli(t, "queue", "retry", "--store", path, "--sink", "hook", "--all")
	require.Equal(t, exitOK, code, errs)
	require.Contains(t, out, "0 dead letter(s) of hook queued")

	db, err = store.Open(path, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	st, err := db.Stats()
	require.NoError(t, err)
	require.Equal(t, 1, st.Sinks["hook"].Pending, "the whole event only")
	require.Equal(t, 1, st.Sinks["hook"].Dead, "the truncated record stays")
}
