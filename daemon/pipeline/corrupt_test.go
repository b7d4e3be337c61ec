package pipeline_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// TestCorruptRecordDeadLettered: a stored event whose bytes changed on disk fails its
// checksum when the backlog is loaded; it is dead-lettered as corrupt, never
// delivered, and the events around it are delivered.
func TestCorruptRecordDeadLettered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edgerelay.db")
	db, err := store.Open(path, storetest.Options(t))
	require.NoError(t, err)
	var b store.Batch
	for _, id := range []string{"e1", "e2-altered-on-disk", "e3"} {
		data, err := (&adapters.Event{ID: id, Kind: adapters.KindRaw, Topic: "t/x", Payload: []byte(`{}`)}).MarshalBinary()
		require.NoError(t, err)
		b.Put(&store.Entry{Sink: "a", Data: data})
	}
	require.NoError(t, db.Commit(&b))
	require.NoError(t, db.Close())

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	i := bytes.Index(raw, []byte("altered"))
	require.Positive(t, i)
	raw[i] = 'A'
	require.NoError(t, os.WriteFile(path, raw, 0o600))

	o := storetest.Options(t)
	o.NoVerify = true // store.verify_on_open: false, so the damage reaches the loader
	db, err = store.Open(path, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	sink := newPeer()
	start(t, db, time.Millisecond, pipeline.Options{Sinks: []pipeline.Sink{{Name: "a", Sink: sink, MaxInFlight: 1}}})

	waitFor(t, "the dead letter", func() bool {
		n, err := db.DeadCount()
		return err == nil && n == 1
	})
	waitFor(t, "two deliveries", func() bool { return len(sink.received()) == 2 })
	var ids []string
	for _, e := range sink.received() {
		ids = append(ids, e.ID)
	}
	require.Equal(t, []string{"e1", "e3"}, ids)
	var dead []store.Dead
	require.NoError(t, db.ScanDead("a", 0, 0, func(d store.Dead) error { dead = append(dead, d); return nil }))
	require.Len(t, dead, 1)
	require.Contains(t, dead[0].Reason, "corrupt record: outbox/a/2: checksum mismatch")
	require.NotEmpty(t, dead[0].Corrupt)
	waitFor(t, "an empty outbox", func() bool { return pending(t, db, "a") == 0 })
}
