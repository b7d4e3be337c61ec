package daemon

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/daemon/web"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// TestPageCache: however many read the status document at once, one builds it and
// the others take that one; it is built again once pageFresh has passed, after an
// action invalidated it, and when the clock went back. The clock is the test's.
func TestPageCache(t *testing.T) {
	var c pageCache
	var mu sync.Mutex
	builds := 0
	build := func() web.Status {
		mu.Lock()
		defer mu.Unlock()
		builds++
		return web.Status{Node: "gw", Store: web.StoreInfo{Commits: uint64(builds)}}
	}
	t0 := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.Equal(t, uint64(1), c.get(t0, build).Store.Commits)
		}()
	}
	wg.Wait()
	require.Equal(t, 1, builds, "one build for 32 readers at once")
	require.Equal(t, uint64(1), c.get(t0.Add(pageFresh-time.Millisecond), build).Store.Commits)
	require.Equal(t, uint64(2), c.get(t0.Add(pageFresh), build).Store.Commits, "stale after pageFresh")
	c.invalidate()
	require.Equal(t, uint64(3), c.get(t0.Add(pageFresh), build).Store.Commits, "built again after an action")
	require.Equal(t, uint64(4), c.get(t0, build).Store.Commits, "the clock went back")
	require.Equal(t, 4, builds)
	require.Equal(t, 4, c.builds)
}

// TestPageDead: the page's dead letters are read in place, with what each holds and
// whether RetryDead would move it (pipeline.Inspect): a whole event of 200 KiB, a
// truncated record, an undecodable and a corrupt one; the payload never.
func TestPageDead(t *testing.T) {
	db := storetest.MustOpen(t)
	enc := func(e *adapters.Event) []byte {
		b, err := e.MarshalBinary()
		require.NoError(t, err)
		return b
	}
	big := enc(&adapters.Event{ID: "big-1", Kind: adapters.KindRaw, Payload: bytes.Repeat([]byte("p"), 200<<10)})
	var b store.Batch
	b.DeadLetter(&store.Entry{Sink: "hook", Data: big}, "400: refused")
	b.DeadLetter(&store.Entry{Sink: "hook", Data: enc(&adapters.Event{ID: "huge", Kind: adapters.KindRaw, Payload: []byte("{"),
		Attrs: map[string]string{pipeline.TruncatedAttr: "300000"}})}, "too_large")
	b.DeadLetter(&store.Entry{Sink: "hook", Data: []byte("not an event")}, "invalid")
	b.DeadLetter(&store.Entry{Sink: "hook", Data: []byte{2, 0, 9}, Corrupt: "corrupt record: checksum mismatch"}, "corrupt record")
	require.NoError(t, db.Commit(&b))
	d := &Daemon{db: db, sinks: []pipeline.Sink{{Name: "hook"}}}
	d.page.setDead(map[string]int{"hook": 4})

	list, more := d.pageDead()
	require.False(t, more)
	require.Len(t, list, 4)
	type row struct {
		id    string
		bytes int
		retry bool
		why   string
	}
	var got []row
	for _, x := range list {
		got = append(got, row{x.EventID, x.Bytes, x.Retryable, x.Why})
	}
	require.Equal(t, []row{
		{"big-1", len(big), true, ""},
		{"huge", got[1].bytes, false, "truncated record of a 300000-byte event: not the event"},
		{"", len("not an event"), false, "undecodable record: never delivered"},
		{"", 3, false, "corrupt record: never delivered"},
	}, got)
}

// TestPageErrorStarting: an action before the lanes have started is the web server's
// ErrUnavailable (503), with the pipeline's words.
func TestPageErrorStarting(t *testing.T) {
	for _, tc := range []struct {
		err  error
		kind error
	}{
		{pipeline.ErrStarting, web.ErrUnavailable},
		{pipeline.ErrStopping, web.ErrUnavailable},
		{store.ErrClosed, web.ErrUnavailable},
		{context.Canceled, web.ErrUnavailable},
		{pipeline.ErrNotRetryable, web.ErrRefused},
		{pipeline.ErrNoSuchSink, web.ErrUnknownSink},
	} {
		err := pageError(tc.err)
		require.ErrorIs(t, err, tc.kind, "%v", tc.err)
		require.ErrorIs(t, err, tc.err)
		require.Equal(t, tc.err.Error(), err.Error())
	}
	require.NoError(t, pageError(nil))
	require.False(t, errors.Is(pageError(errors.New("disk")), web.ErrUnavailable))
}
