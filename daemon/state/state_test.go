package state

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// TestMain fails the package's tests when a goroutine (a writer, a submit) outlives
// them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rig is a store, its writer (started on demand) and a Committer over them.
type rig struct {
	t     *testing.T
	db    *store.DB
	w     *store.Writer
	c     *Committer
	stop  context.CancelFunc
	ended chan struct{}
	// retries receives the function of every retry the Committer schedules; the
	// test fires it (see Options.AfterFunc).
	retries chan func()
}

func newRig(t *testing.T, path string) *rig {
	t.Helper()
	var db *store.DB
	if path == "" {
		db = storetest.MustOpen(t)
	} else {
		db = storetest.MustOpenAt(t, path)
	}
	r := &rig{t: t, db: db, retries: make(chan func(), 16)}
	r.w = db.NewWriter(store.WriterOptions{Window: time.Millisecond})
	c, err := Load(db, r.w, Options{AfterFunc: func(_ time.Duration, f func()) func() bool {
		r.retries <- f
		return func() bool { return true }
	}})
	require.NoError(t, err)
	r.c = c
	t.Cleanup(r.stopWriter)
	return r
}

// startWriter runs the writer until stopWriter.
func (r *rig) startWriter() {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.ended = cancel, make(chan struct{})
	go func() { // ends with ctx, after committing what was submitted
		defer close(r.ended)
		_ = r.w.Run(ctx)
	}()
}

// stopWriter stops the writer after it committed every submitted job.
func (r *rig) stopWriter() {
	if r.stop != nil {
		r.stop()
		<-r.ended
		r.stop = nil
	}
}

// close commits pending state, stops the writer and closes the store.
func (r *rig) close() {
	r.t.Helper()
	require.NoError(r.t, r.c.Close(context.Background()))
	r.stopWriter()
	require.NoError(r.t, r.db.Check())
	require.NoError(r.t, r.db.Close())
}

func (r *rig) stored(source, name string) []byte {
	r.t.Helper()
	v, err := r.db.Cursor(Key(source, name))
	require.NoError(r.t, err)
	return v
}

func (r *rig) flush(s adapters.State) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(r.t, s.Flush(ctx))
}

// TestSetLimits: the name syntax, the value size, the count per source, and what each
// refusal leaves unchanged.
func TestSetLimits(t *testing.T) {
	long := strings.Repeat("n", adapters.MaxStateName)
	tests := []struct {
		name, key string
		value     []byte
		wantErr   string // "" for success
		limit     bool   // the error wraps adapters.ErrStateLimit
	}{
		{name: "plain", key: "cursor", value: []byte("42")},
		{name: "punctuation", key: "p0.offset_1-x", value: []byte("7")},
		{name: "longest name", key: long, value: []byte("x")},
		{name: "largest value", key: "big", value: make([]byte, adapters.MaxStateValue)},
		{name: "empty name", key: "", value: []byte("x"), wantErr: "empty"},
		{name: "slash", key: "a/b", value: []byte("x"), wantErr: "letters"},
		{name: "leading dot", key: ".hidden", value: []byte("x"), wantErr: "starting with"},
		{name: "space", key: "a b", value: []byte("x"), wantErr: "letters"},
		{name: "non-ASCII", key: "curseur-é", value: []byte("x"), wantErr: "letters"},
		{name: "name too long", key: long + "n", value: []byte("x"), wantErr: "65 bytes", limit: true},
		{name: "value too large", key: "big", value: make([]byte, adapters.MaxStateValue+1), wantErr: "4097 bytes", limit: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "")
			s := r.c.For("src")
			err := s.Set(tc.key, tc.value)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, tc.value, s.Get(tc.key))
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			require.Equal(t, tc.limit, errors.Is(err, adapters.ErrStateLimit), "wraps ErrStateLimit: %v", err)
			require.Nil(t, s.Get(tc.key), "a refused Set changes nothing")
			r.c.mu.Lock()
			require.False(t, r.c.queued, "a refused Set submits nothing")
			r.c.mu.Unlock()
		})
	}
}

func TestCountLimit(t *testing.T) {
	r := newRig(t, "")
	s := r.c.For("src")
	for i := range adapters.MaxStateEntries {
		require.NoError(t, s.Set(string(rune('a'+i%26))+strings.Repeat("x", i/26), []byte("v")))
	}
	err := s.Set("onemore", []byte("v"))
	require.ErrorIs(t, err, adapters.ErrStateLimit)
	require.ErrorContains(t, err, "32 names")
	require.NoError(t, s.Set("a", []byte("changed")), "an existing name may change")
	require.NoError(t, r.c.For("other").Set("onemore", []byte("v")), "the limit is per source")
	require.NoError(t, s.Set("a", nil), "removing a name frees its place")
	require.NoError(t, s.Set("onemore", []byte("v")))
	require.ErrorIs(t, s.Set("a", []byte("v")), adapters.ErrStateLimit)
}

// TestGetSetRemove: Get sees the latest Set at once, copies both ways, and an empty
// value removes the name from memory and, once committed, from the store.
func TestGetSetRemove(t *testing.T) {
	r := newRig(t, "")
	r.startWriter()
	s := r.c.For("src")
	requireCopies(t, s, "cursor")
	r.flush(s)
	require.Equal(t, "abc", string(r.stored("src", "cursor")))

	require.NoError(t, s.Set("cursor", []byte{}))
	require.Nil(t, s.Get("cursor"))
	r.flush(s)
	require.Nil(t, r.stored("src", "cursor"))
	require.NoError(t, s.Set("never", nil), "removing an absent name is fine")
	r.c.mu.Lock()
	require.Empty(t, r.c.views["src"].entries, "removed names are forgotten once the store has them gone")
	r.c.mu.Unlock()
}

// requireCopies checks that Get sees a Set at once and that the record copies
// both ways: changing the slice given to Set, or the one Get returned, changes
// nothing. The key must be absent; it is left holding "abc".
func requireCopies(t *testing.T, s interface {
	Get(key string) []byte
	Set(key string, v []byte) error
}, key string,
) {
	t.Helper()
	require.Nil(t, s.Get(key))
	v := []byte("abc")
	require.NoError(t, s.Set(key, v))
	v[0] = 'X'
	got := s.Get(key)
	require.Equal(t, "abc", string(got))
	got[0] = 'Y'
	require.Equal(t, "abc", string(s.Get(key)))
}

// TestCoalescing: every Set made while the writer has not taken the job is written by
// one transaction; a value set back to the stored one, and a Set of the value a name
// already has, cost no transaction.
func TestCoalescing(t *testing.T) {
	r := newRig(t, "")
	edge, kafka := r.c.For("edge"), r.c.For("kafka")
	before := r.db.Counters()
	for i := range 100 {
		require.NoError(t, edge.Set("cursor", []byte{byte(i)}))
		require.NoError(t, kafka.Set("offsets", []byte{byte(i), 1}))
	}
	r.startWriter() // the window opens only now: every Set above is in it
	r.flush(edge)
	r.flush(kafka)
	after := r.db.Counters()
	require.Equal(t, before.Commits+1, after.Commits, "100 Sets of two sources, one window: one commit")
	require.Equal(t, []byte{99}, r.stored("edge", "cursor"))
	require.Equal(t, []byte{99, 1}, r.stored("kafka", "offsets"))
	perCommit := after.BytesWritten - before.BytesWritten
	t.Logf("one commit of source state wrote %d bytes", perCommit)
	require.LessOrEqual(t, perCommit, uint64(3*4096), "a state commit rewrites a leaf or two and the meta page")

	// Unchanged, and changed then set back before the writer takes it: no commit.
	r.stopWriter()
	w2 := r.db.NewWriter(store.WriterOptions{Window: time.Millisecond})
	r.w, r.c.w = w2, w2
	require.NoError(t, edge.Set("cursor", []byte{99}))
	r.c.mu.Lock()
	require.False(t, r.c.queued, "an unchanged value submits nothing")
	r.c.mu.Unlock()
	require.NoError(t, kafka.Set("offsets", []byte{1, 2, 3}))
	require.NoError(t, kafka.Set("offsets", []byte{99, 1}))
	r.flush(kafka) // durable already: the stored value is the latest
	r.startWriter()
	require.NoError(t, r.c.Close(context.Background()))
	r.stopWriter() // the writer has prepared the queued job, which wrote nothing
	require.Equal(t, after.Commits, r.db.Counters().Commits, "no transaction for unchanged state")
}

// TestSetDuringCommit: Sets while a commit is being written go into exactly one next
// commit, and Flush waits for it.
func TestSetDuringCommit(t *testing.T) {
	r := newRig(t, "")
	s := r.c.For("edge")
	inCommit, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r.db.SetCommitFault(func() error {
		once.Do(func() {
			close(inCommit)
			<-release
		})
		return nil
	})
	r.startWriter()
	before := r.db.Counters()
	require.NoError(t, s.Set("cursor", []byte("1")))
	<-inCommit
	for i := 2; i <= 50; i++ {
		require.NoError(t, s.Set("cursor", []byte{byte(i)}))
	}
	flushed := make(chan error, 1)
	go func() { flushed <- s.Flush(context.Background()) }() // returns once 50 is stored
	close(release)
	require.NoError(t, <-flushed)
	require.Equal(t, []byte{50}, r.stored("edge", "cursor"))
	require.Equal(t, before.Commits+2, r.db.Counters().Commits, "the value being written, then the latest")
}

// TestCommitFailureRetries: a failed commit keeps the latest value pending, Sets while
// a retry waits submit nothing, Flush keeps waiting, and the retry stores the latest
// value once the store works again.
func TestCommitFailureRetries(t *testing.T) {
	r := newRig(t, "")
	s := r.c.For("edge")
	full := errors.New("no space left on device")
	var mu sync.Mutex
	faults := 0
	r.db.SetCommitFault(func() error {
		mu.Lock()
		defer mu.Unlock()
		faults++
		return full
	})
	r.startWriter()
	require.NoError(t, s.Set("cursor", []byte("1")))
	retry := <-r.retries // the failed commit scheduled a retry
	require.Nil(t, r.stored("edge", "cursor"))

	require.NoError(t, s.Set("cursor", []byte("2")))
	r.c.mu.Lock()
	require.False(t, r.c.queued, "while a retry waits, a Set only records the value")
	r.c.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.Flush(ctx), context.Canceled, "not durable yet")

	r.db.SetCommitFault(nil)
	retry()
	r.flush(s)
	require.Equal(t, "2", string(r.stored("edge", "cursor")))
	mu.Lock()
	require.Equal(t, 1, faults, "one failed commit, then the retry")
	mu.Unlock()
	require.Empty(t, r.retries, "no retry after a success")
}

// TestCloseFlushesPending: Close commits at once what waits for a retry, and Sets
// fail afterwards.
func TestCloseFlushesPending(t *testing.T) {
	path := t.TempDir() + "/q.db"
	r := newRig(t, path)
	s := r.c.For("edge")
	var failed sync.Once
	r.db.SetCommitFault(func() error {
		err := error(nil)
		failed.Do(func() { err = errors.New("disk hiccup") })
		return err // the first commit fails, the others pass
	})
	r.startWriter()
	require.NoError(t, s.Set("cursor", []byte("7")))
	<-r.retries // pending, waiting for a retry that the test never fires
	require.NoError(t, r.c.Close(context.Background()))
	require.Equal(t, "7", string(r.stored("edge", "cursor")))
	require.ErrorIs(t, s.Set("cursor", []byte("8")), ErrClosed)
	require.Equal(t, "7", string(s.Get("cursor")))
	r.stopWriter()
}

// TestCloseReportsUnsaved: when the store keeps failing, Close gives up with ctx and
// names the sources whose state was lost.
func TestCloseReportsUnsaved(t *testing.T) {
	r := newRig(t, "")
	r.db.SetCommitFault(func() error { return errors.New("read-only file system") })
	r.startWriter()
	require.NoError(t, r.c.For("kafka").Set("offsets", []byte("1")))
	require.NoError(t, r.c.For("edge").Set("cursor", []byte("1")))
	require.NoError(t, r.c.For("idle").Set("id", nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.c.Close(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "state of edge, kafka not saved")
	r.stopWriter()
	r.db.SetCommitFault(nil)
}

// TestWriterStopped: once the writer refuses jobs, Flush reports it instead of
// waiting forever.
func TestWriterStopped(t *testing.T) {
	r := newRig(t, "")
	r.startWriter()
	r.stopWriter()
	s := r.c.For("edge")
	require.NoError(t, s.Set("cursor", []byte("1")))
	err := s.Flush(context.Background())
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorContains(t, err, "writer has stopped")
}

// TestPersistence: state survives a reopen, per source, and is there before the
// first Set of the new run; names of one source never reach another.
func TestPersistence(t *testing.T) {
	path := t.TempDir() + "/q.db"
	r := newRig(t, path)
	r.startWriter()
	require.NoError(t, r.c.For("edge").Set("cursor", []byte("42")))
	require.NoError(t, r.c.For("edge").Set("node-id", []byte("gw-1")))
	require.NoError(t, r.c.For("kafka").Set("cursor", []byte("7")))
	require.NoError(t, r.c.For("gone").Set("x", []byte("1")))
	r.flush(r.c.For("gone"))
	require.NoError(t, r.c.For("gone").Set("x", nil))
	r.close()

	r = newRig(t, path)
	edge, kafka := r.c.For("edge"), r.c.For("kafka")
	require.Equal(t, "42", string(edge.Get("cursor")))
	require.Equal(t, "gw-1", string(edge.Get("node-id")))
	require.Equal(t, "7", string(kafka.Get("cursor")))
	require.Nil(t, kafka.Get("node-id"))
	require.Nil(t, r.c.For("gone").Get("x"), "a removal made at shutdown is durable")
	require.Nil(t, r.c.For("new").Get("cursor"))
	r.flush(edge) // nothing pending: returns at once, even with the writer stopped

	st, err := r.db.Stats()
	require.NoError(t, err)
	require.Equal(t, map[string]int{"source/edge/cursor": 2, "source/edge/node-id": 4, "source/kafka/cursor": 1}, st.Cursors)
	require.NoError(t, r.db.Close())
}

func TestSplitKey(t *testing.T) {
	tests := []struct {
		key, source, name string
		ok                bool
	}{
		{key: Key("edge", "cursor"), source: "edge", name: "cursor", ok: true},
		{key: Key("a.b-c", "x"), source: "a.b-c", name: "x", ok: true},
		{key: "source/edge", ok: false},
		{key: "source//x", ok: false},
		{key: "source/edge/", ok: false},
		{key: "edge/cursor", ok: false},
		{key: "sourcery/edge/cursor", ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			src, name, ok := SplitKey(tc.key)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.source, src)
			require.Equal(t, tc.name, name)
		})
	}
}

// TestLoadIgnoresForeignNames: cursors outside the namespace, or that the daemon
// would not write, are left alone.
func TestLoadIgnoresForeignNames(t *testing.T) {
	path := t.TempDir() + "/q.db"
	db := storetest.MustOpenAt(t, path)
	var b store.Batch
	b.SetCursor("other", []byte("x"))
	b.SetCursor("source/broken", []byte("x"))
	b.SetCursor("source/edge/empty", []byte{})
	b.SetCursor(Key("edge", "cursor"), []byte("1"))
	require.NoError(t, db.Commit(&b))
	c, err := Load(db, db.NewWriter(store.WriterOptions{}), Options{})
	require.NoError(t, err)
	require.Equal(t, "1", string(c.For("edge").Get("cursor")))
	require.Nil(t, c.For("edge").Get("empty"))
	c.mu.Lock()
	require.Len(t, c.views, 1)
	c.mu.Unlock()
}

// TestRetryFollowsTheClock: without an AfterFunc, a failed commit is retried after
// RetryDelay on Options.Clock, not on wall time.
func TestRetryFollowsTheClock(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{Window: time.Millisecond})
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fake := clocktest.NewFake(start)
	c, err := Load(db, w, Options{Clock: fake, RetryDelay: time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() { defer close(ended); _ = w.Run(ctx) }() // ends with ctx
	defer func() { cancel(); <-ended }()

	db.SetCommitFault(func() error { return errors.New("no space left on device") })
	s := c.For("edge")
	require.NoError(t, s.Set("cursor", []byte("7")))
	require.Eventually(t, func() bool { // the failed commit arms its retry on the fake clock
		at, ok := fake.Next()
		return ok && at.Equal(start.Add(time.Second))
	}, 10*time.Second, time.Millisecond)
	db.SetCommitFault(nil)
	fake.Advance(time.Second)
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer fcancel()
	require.NoError(t, s.Flush(fctx), "the retry ran once the fake clock reached it")
	v, err := db.Cursor(Key("edge", "cursor"))
	require.NoError(t, err)
	require.Equal(t, "7", string(v))
}
