package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// seedDead adds dead letters of sink "a": two whole events, a truncated record, one
// whose data is not an event and a corrupt record, and returns their seqs in that
// order.
func seedDead(t *testing.T, db *store.DB) (whole1, whole2, cut, undecodable, corrupt uint64) {
	t.Helper()
	enc := func(e *adapters.Event) []byte {
		b, err := e.MarshalBinary()
		require.NoError(t, err)
		return b
	}
	var b store.Batch
	b.DeadLetter(&store.Entry{Sink: "a", Data: enc(&adapters.Event{ID: "w1", Kind: adapters.KindRaw, Payload: []byte("{}")})}, "400")
	b.DeadLetter(&store.Entry{Sink: "a", Data: enc(&adapters.Event{ID: "w2", Kind: adapters.KindRaw, Payload: []byte("{}")})}, "400")
	b.DeadLetter(&store.Entry{Sink: "a", Data: enc(&adapters.Event{ID: "huge", Kind: adapters.KindRaw, Payload: []byte("{"),
		Attrs: map[string]string{pipeline.TruncatedAttr: "999999"}})}, "too_large")
	b.DeadLetter(&store.Entry{Sink: "a", Data: []byte("not an encoded event")}, "invalid")
	b.DeadLetter(&store.Entry{Sink: "a", Data: []byte{2, 0, 9}, Corrupt: "corrupt record: checksum mismatch"}, "corrupt record")
	require.NoError(t, db.Commit(&b))
	s := deadSeqs(t, db, "a")
	require.Len(t, s, 5)
	return s[0], s[1], s[2], s[3], s[4]
}

// TestRetryDeadRules: what the status page shows without a retry button, RetryDead
// never moves: a truncated, an undecodable and a corrupt record. Each one named
// refuses the whole request, nothing moved; "all" moves the whole events and says
// which stayed and why. SplitTruncated (the CLI's rule too) reads only what is named.
func TestRetryDeadRules(t *testing.T) {
	db := storetest.MustOpen(t)
	w1, w2, cut, undecodable, corrupt := seedDead(t, db)

	keep, held, err := pipeline.SplitTruncated(db, "a", []uint64{w2, w2, 999})
	require.NoError(t, err)
	require.Equal(t, []uint64{w2, w2, 999}, keep, "nothing held: the seqs as named")
	require.Empty(t, held)
	keep, held, err = pipeline.SplitTruncated(db, "a", []uint64{corrupt, w1})
	require.NoError(t, err)
	require.Equal(t, []uint64{w1}, keep)
	require.Equal(t, []pipeline.CutDead{{Seq: corrupt, Kind: pipeline.CutCorrupt}}, held)

	sink := newPeer()
	h := start(t, db, 2*time.Millisecond, pipeline.Options{Sinks: []pipeline.Sink{{Name: "a", Sink: sink}}})
	<-h.p.Started()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		seq  uint64
		why  string
	}{
		{"truncated", cut, "only the first"},
		{"undecodable", undecodable, "do not decode as events"},
		{"corrupt", corrupt, "corrupt records"},
	} {
		_, err := h.p.RetryDead(ctx, "a", []uint64{w1, tc.seq})
		require.ErrorIs(t, err, pipeline.ErrNotRetryable, tc.name)
		require.ErrorContains(t, err, "nothing retried", tc.name)
		require.ErrorContains(t, err, tc.why, tc.name)
		require.Len(t, deadSeqs(t, db, "a"), 5, "%s: nothing moved", tc.name)
	}
	r, err := h.p.RetryDead(ctx, "a", nil)
	require.NoError(t, err)
	require.Equal(t, 2, r.Done)
	for _, want := range []string{"left in place", "only the first", "do not decode as events", "corrupt records"} {
		require.Contains(t, r.Left, want)
	}
	require.Equal(t, []uint64{cut, undecodable, corrupt}, deadSeqs(t, db, "a"), "only the whole events moved")
	waitFor(t, "the two whole events delivered", func() bool { return len(sink.received()) == 2 })
}

// TestDeadActionsBeforeStart: before Run has started the lanes, RetryDead and DropDead
// answer ErrStarting and change nothing (a lane counts its stored backlog as it
// starts: an event moved before then would be counted twice); once started they work.
func TestDeadActionsBeforeStart(t *testing.T) {
	db := storetest.MustOpen(t)
	w1, _, _, _, _ := seedDead(t, db)
	w := db.NewWriter(store.WriterOptions{Window: time.Millisecond})
	p, err := pipeline.New(pipeline.Options{DB: db, Writer: w, Sinks: []pipeline.Sink{{Name: "a", Sink: newPeer()}},
		Router: pipeline.NewRouter([]pipeline.Route{{Name: "all", To: []string{"a"}}})})
	require.NoError(t, err)
	wctx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() { _ = w.Run(wctx); close(writerDone) }() // exits when wctx ends
	defer func() { stopWriter(); <-writerDone }()

	ctx := context.Background()
	_, err = p.RetryDead(ctx, "a", []uint64{w1})
	require.ErrorIs(t, err, pipeline.ErrStarting)
	_, err = p.DropDead(ctx, "a", nil)
	require.ErrorIs(t, err, pipeline.ErrStarting)
	require.Len(t, deadSeqs(t, db, "a"), 5, "nothing changed")

	pctx, stopPipe := context.WithCancel(context.Background())
	pipeDone := make(chan struct{})
	go func() { _ = p.Run(pctx); close(pipeDone) }() // exits when pctx ends
	defer func() { p.StopIntake(); stopPipe(); <-pipeDone }()
	<-p.Started()
	r, err := p.RetryDead(ctx, "a", []uint64{w1})
	require.NoError(t, err)
	require.Equal(t, 1, r.Done)
	waitFor(t, "the depth back to 0", func() bool { st, _ := p.SinkStatus("a"); return st.Depth == 0 })
}

// blockJob holds the writer goroutine in Prepare until release closes.
type blockJob struct{ held, release chan struct{} }

func (j *blockJob) Prepare(*store.Batch) { close(j.held); <-j.release }
func (j *blockJob) Done(error)           {}

// TestRetryDeadOutcomeDespiteCancel: a caller whose context ends while its retry waits
// for the writer gets the retry's outcome once it ran, never an error for a change
// that is then made anyway (nor a data race on the result).
func TestRetryDeadOutcomeDespiteCancel(t *testing.T) {
	db := storetest.MustOpen(t)
	w1, _, _, _, _ := seedDead(t, db)
	w := db.NewWriter(store.WriterOptions{Window: time.Millisecond})
	p, err := pipeline.New(pipeline.Options{DB: db, Writer: w, Sinks: []pipeline.Sink{{Name: "a", Sink: newPeer()}},
		Router: pipeline.NewRouter([]pipeline.Route{{Name: "all", To: []string{"a"}}})})
	require.NoError(t, err)
	wctx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() { _ = w.Run(wctx); close(writerDone) }() // exits when wctx ends
	defer func() { stopWriter(); <-writerDone }()
	pctx, stopPipe := context.WithCancel(context.Background())
	pipeDone := make(chan struct{})
	go func() { _ = p.Run(pctx); close(pipeDone) }() // exits when pctx ends
	defer func() { p.StopIntake(); stopPipe(); <-pipeDone }()
	<-p.Started()

	block := &blockJob{held: make(chan struct{}), release: make(chan struct{})}
	require.NoError(t, w.Submit(context.Background(), block))
	<-block.held // the writer is busy: the retry below waits in its queue
	ctx, cancel := context.WithCancel(context.Background())
	type outcome struct {
		r   pipeline.DeadResult
		err error
	}
	got := make(chan outcome, 1)
	go func() { r, err := p.RetryDead(ctx, "a", []uint64{w1}); got <- outcome{r, err} }() // exits when RetryDead returns
	time.Sleep(20 * time.Millisecond)                                                     // lets the retry reach the writer's queue (an ordering, not an assertion)
	cancel()
	close(block.release)
	o := <-got
	// Whatever the order, the answer is the store's truth: an error means nothing
	// moved, success that it did.
	flushed := &blockJob{held: make(chan struct{}), release: make(chan struct{})}
	close(flushed.release)
	require.NoError(t, w.Submit(context.Background(), flushed))
	<-flushed.held // the writer ran everything queued before it
	moved := len(deadSeqs(t, db, "a")) == 4
	if o.err != nil {
		require.False(t, moved, "RetryDead answered %v, but the dead letter moved", o.err)
	} else {
		require.True(t, moved)
		require.Equal(t, 1, o.r.Done)
	}
}

// TestTruncatedReasonBounded: the reason names at most 20 dead letters of a kind, then
// counts the rest, so that "all" over thousands of them answers a line, not a page.
func TestTruncatedReasonBounded(t *testing.T) {
	var cut []pipeline.CutDead
	for i := range 25 {
		cut = append(cut, pipeline.CutDead{Seq: uint64(100 + i), Kind: pipeline.CutCorrupt})
	}
	cut = append(cut, pipeline.CutDead{Seq: 7, ID: "huge", Bytes: 300000, Kind: pipeline.CutTruncated})
	why := pipeline.TruncatedReason("a", cut)
	require.Contains(t, why, "dead letter(s) 7 (event huge, 300000 bytes) of a are only the first")
	require.Contains(t, why, "100, 101,")
	require.Contains(t, why, "119, and 5 more of a are corrupt records")
	require.NotContains(t, why, "120")
	require.NotContains(t, why, "\n")
}
