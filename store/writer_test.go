package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/logx"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// putJob puts one entry, unless skip is set (a delivered event: write avoidance).
type putJob struct {
	entry store.Entry
	skip  bool
	bad   bool // add an operation that makes the commit fail

	prepared atomic.Int32
	dones    atomic.Int32
	err      error         // written by Done before done is closed
	done     chan struct{} // closed by the first Done
}

func newPutJob(sink, data string) *putJob {
	return &putJob{entry: store.Entry{Sink: sink, Data: []byte(data)}, done: make(chan struct{})}
}

func (j *putJob) Prepare(b *store.Batch) {
	j.prepared.Add(1)
	if j.bad {
		b.Put(&store.Entry{Sink: ""}) // an empty sink name fails the whole commit
		return
	}
	if !j.skip {
		b.Put(&j.entry)
	}
}

func (j *putJob) Done(err error) {
	if j.dones.Add(1) == 1 {
		j.err = err
		close(j.done)
	}
}

// wait waits for Done, failing the test after ten seconds.
func (j *putJob) wait(t testing.TB) error {
	t.Helper()
	select {
	case <-j.done:
		return j.err
	case <-time.After(10 * time.Second):
		t.Fatal("job not done after 10s")
		return nil
	}
}

// startWriter runs w until the test ends, then checks Run returned nil.
func startWriter(t *testing.T, w *store.Writer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }() // exits when ctx is cancelled
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-ran:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestWriterGroupsConcurrentSubmits(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{Window: 20 * time.Millisecond, MaxBatch: 64})
	startWriter(t, w)
	before := db.Counters().Commits

	const jobs = 400
	js := make([]*putJob, jobs)
	var wg sync.WaitGroup
	for i := range js {
		js[i] = newPutJob(fmt.Sprint("sink", i%4), fmt.Sprint(i))
		wg.Go(func() {
			require.NoError(t, w.Submit(context.Background(), js[i]))
		})
	}
	wg.Wait()
	seen := map[string]map[uint64]bool{}
	for _, j := range js {
		require.NoError(t, j.wait(t))
		require.NotZero(t, j.entry.Seq)
		if seen[j.entry.Sink] == nil {
			seen[j.entry.Sink] = map[uint64]bool{}
		}
		require.False(t, seen[j.entry.Sink][j.entry.Seq], "seq assigned twice")
		seen[j.entry.Sink][j.entry.Seq] = true
	}
	commits := db.Counters().Commits - before
	t.Logf("%d jobs in %d commits", jobs, commits)
	require.Less(t, commits, uint64(jobs))
	require.Positive(t, commits)
	for s := range 4 {
		require.Len(t, all(t, db, fmt.Sprint("sink", s)), jobs/4)
	}
	for _, j := range js {
		require.Equal(t, int32(1), j.dones.Load(), "Done exactly once")
		require.Equal(t, int32(1), j.prepared.Load(), "Prepare exactly once")
	}
	require.False(t, w.LastProgress().IsZero())
}

func TestWriterSkipsTxWhenNothingToWrite(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{})
	startWriter(t, w)
	before := db.Counters()
	for i := range 20 {
		j := newPutJob("s", fmt.Sprint(i))
		j.skip = true
		require.NoError(t, w.Submit(context.Background(), j))
		require.NoError(t, j.wait(t), "Done(nil) also when no tx was needed")
		require.Equal(t, int32(1), j.prepared.Load())
	}
	require.Equal(t, before.Commits, db.Counters().Commits, "no transaction for jobs that add nothing")
	require.Empty(t, all(t, db, "s"))
}

func TestWriterFlushesOnCancel(t *testing.T) {
	db := storetest.MustOpen(t)
	// A window that never ends on its own: only the cancel can flush.
	w := db.NewWriter(store.WriterOptions{Window: time.Hour, MaxBatch: 1000})
	stop := startWriter(t, w)
	var js []*putJob
	for i := range 50 {
		j := newPutJob("s", fmt.Sprint(i))
		js = append(js, j)
		require.NoError(t, w.Submit(context.Background(), j))
	}
	stop()
	for _, j := range js {
		require.NoError(t, j.wait(t))
		require.Equal(t, int32(1), j.dones.Load())
	}
	require.Len(t, all(t, db, "s"), 50)

	// After Run returned, Submit refuses.
	require.ErrorIs(t, w.Submit(context.Background(), newPutJob("s", "late")), store.ErrClosed)
}

func TestWriterFlushesBeforeRunStarts(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{Queue: 10})
	j := newPutJob("s", "early")
	require.NoError(t, w.Submit(context.Background(), j), "the queue accepts jobs before Run")
	startWriter(t, w)
	require.NoError(t, j.wait(t))
	require.Len(t, all(t, db, "s"), 1)
}

func TestWriterBackPressure(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{MaxBatch: 2, Queue: 2})
	// Run is not started: the queue fills up.
	require.NoError(t, w.Submit(context.Background(), newPutJob("s", "1")))
	require.NoError(t, w.Submit(context.Background(), newPutJob("s", "2")))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, w.Submit(ctx, newPutJob("s", "3")), context.DeadlineExceeded)

	// Once Run drains the queue, Submit goes through again.
	startWriter(t, w)
	j := newPutJob("s", "4")
	require.NoError(t, w.Submit(context.Background(), j))
	require.NoError(t, j.wait(t))
	require.Len(t, all(t, db, "s"), 3)
}

func TestWriterSurvivesFailedCommits(t *testing.T) {
	rec := &logRecorder{}
	o := storetest.Options(t)
	o.Logger = slog.New(rec)
	db, err := store.Open(tempPath(t), o)
	require.NoError(t, err)
	defer db.Close()
	fake := clocktest.NewFake(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	lim := logx.New(logx.Options{Now: fake.Now})
	w := db.NewWriter(store.WriterOptions{Limiter: lim})
	startWriter(t, w)

	for range 5 {
		bad := newPutJob("s", "bad")
		bad.bad = true
		require.NoError(t, w.Submit(context.Background(), bad))
		require.Error(t, bad.wait(t))
		good := newPutJob("s", "good")
		require.NoError(t, w.Submit(context.Background(), good))
		require.NoError(t, good.wait(t), "Run keeps committing after a failure")
	}
	require.Len(t, all(t, db, "s"), 5)
	// A failure a commit after a recovery continues the streak: one line for the
	// failure, and the recovery only once commits have worked for the settle time.
	require.Equal(t, 1, rec.count(slog.LevelError))
	require.Zero(t, rec.count(slog.LevelInfo), "the recovery has not settled")
	fake.Advance(logx.DefaultSettle)
	lim.Flush()
	require.Equal(t, 1, rec.count(slog.LevelInfo), "recovery is logged once settled")
}

func TestWriterFailedBatchFailsEveryJob(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{Window: time.Hour, MaxBatch: 3})
	startWriter(t, w)
	js := []*putJob{newPutJob("s", "1"), newPutJob("s", "2"), newPutJob("s", "3")}
	js[1].bad = true
	for _, j := range js { // MaxBatch 3: the three share one transaction
		require.NoError(t, w.Submit(context.Background(), j))
	}
	for _, j := range js {
		require.Error(t, j.wait(t))
		require.Zero(t, j.entry.Seq)
	}
	require.Empty(t, all(t, db, "s"), "on error nothing is applied")
}

func TestWriterLogsRepeatedErrorOnce(t *testing.T) {
	rec := &logRecorder{}
	o := storetest.Options(t)
	o.Logger = slog.New(rec)
	db, err := store.Open(tempPath(t), o)
	require.NoError(t, err)
	w := db.NewWriter(store.WriterOptions{})
	startWriter(t, w)

	for range 10 {
		j := newPutJob("s", "x")
		j.bad = true
		require.NoError(t, w.Submit(context.Background(), j))
		require.Error(t, j.wait(t))
	}
	require.Equal(t, 1, rec.count(slog.LevelError), "one log line for one distinct error")

	// A closed DB is an honest, different failure: logged once more, Run stays alive.
	require.NoError(t, db.Close())
	for range 3 {
		j := newPutJob("s", "x")
		require.NoError(t, w.Submit(context.Background(), j))
		require.ErrorIs(t, j.wait(t), store.ErrClosed)
	}
	require.Equal(t, 2, rec.count(slog.LevelError))
}

func TestWriterRunTwice(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, w.Run(ctx))
	require.ErrorContains(t, w.Run(ctx), "twice")
	require.ErrorIs(t, w.Submit(context.Background(), newPutJob("s", "x")), store.ErrClosed)
}

func TestWriterSubmitNil(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{})
	require.Error(t, w.Submit(context.Background(), nil))
}

func TestWriterDoneOncePerJobUnderShutdownRace(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{Window: time.Millisecond, MaxBatch: 8, Queue: 8})
	stop := startWriter(t, w)

	var (
		mu       sync.Mutex // guards accepted
		accepted []*putJob
		wg       sync.WaitGroup
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				j := newPutJob("s", fmt.Sprint(g, "-", i))
				err := w.Submit(context.Background(), j)
				if errors.Is(err, store.ErrClosed) {
					return
				}
				require.NoError(t, err)
				mu.Lock()
				accepted = append(accepted, j)
				mu.Unlock()
			}
		})
	}
	time.Sleep(5 * time.Millisecond) // let some jobs through before the shutdown
	stop()
	wg.Wait()
	for _, j := range accepted {
		require.NoError(t, j.wait(t), "every accepted job is committed")
		require.Equal(t, int32(1), j.dones.Load())
	}
	require.Len(t, all(t, db, "s"), len(accepted))
}

func TestWriterLastProgress(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{})
	require.True(t, w.LastProgress().IsZero(), "zero before Run")
	startWriter(t, w)
	j := newPutJob("s", "x")
	require.NoError(t, w.Submit(context.Background(), j))
	require.NoError(t, j.wait(t))
	p1 := w.LastProgress()
	require.False(t, p1.IsZero())
	require.False(t, p1.Before(db.Counters().LastCommit.Add(-time.Second)))
}

// deferJob is a putJob that asks to wait until a time the test controls.
type deferJob struct {
	*putJob
	mu    sync.Mutex // guards until
	until time.Time
}

func (j *deferJob) DeferUntil() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.until
}

func (j *deferJob) release() {
	j.mu.Lock()
	j.until = time.Time{}
	j.mu.Unlock()
}

// TestWriterDeferredJobsWait: a deferred job stays out of commits while it defers,
// jobs behind it are not held up, and it is committed once due; shutdown commits it
// regardless.
func TestWriterDeferredJobsWait(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{Window: time.Millisecond})
	stop := startWriter(t, w)
	held := &deferJob{putJob: newPutJob("s", "held"), until: time.Now().Add(time.Hour)}
	next := newPutJob("s", "next")
	require.NoError(t, w.Submit(context.Background(), held))
	require.NoError(t, w.Submit(context.Background(), next))
	require.NoError(t, next.wait(t), "a due job is not held behind a deferred one")
	require.Zero(t, held.prepared.Load())
	held.release()
	// Re-evaluated at the next window: a new job opens one.
	kick := newPutJob("s", "kick")
	require.NoError(t, w.Submit(context.Background(), kick))
	require.NoError(t, held.wait(t))
	require.NoError(t, kick.wait(t))

	last := &deferJob{putJob: newPutJob("s", "last"), until: time.Now().Add(time.Hour)}
	require.NoError(t, w.Submit(context.Background(), last))
	stop()
	require.NoError(t, last.wait(t), "shutdown commits deferred jobs")
	var got []string
	require.NoError(t, db.Scan("s", 0, 0, func(e store.Entry) error { got = append(got, string(e.Data)); return nil }))
	require.Equal(t, []string{"next", "held", "kick", "last"}, got)
}

// askJob is a deferJob that records each DeferUntil call in a shared log.
type askJob struct {
	*deferJob
	n   int
	mu  *sync.Mutex // guards *log
	log *[]int
}

func (j *askJob) DeferUntil() time.Time {
	j.mu.Lock()
	*j.log = append(*j.log, j.n)
	j.mu.Unlock()
	return j.deferJob.DeferUntil()
}

// TestWriterAsksWaitingJobsInOrder: when a window closes, the writer asks every
// waiting job once, in submission order (the pipeline relies on it to keep a sink's
// events in order in the store).
func TestWriterAsksWaitingJobsInOrder(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{Window: time.Millisecond})
	stop := startWriter(t, w)
	var mu sync.Mutex
	var log []int
	const n = 5
	held := make([]*askJob, n)
	for i := range held {
		held[i] = &askJob{
			deferJob: &deferJob{putJob: newPutJob("s", fmt.Sprint("held", i)), until: time.Now().Add(time.Hour)},
			n:        i, mu: &mu, log: &log,
		}
		require.NoError(t, w.Submit(context.Background(), held[i]))
	}
	for i := 0; i < 3; i++ { // each opens a window, which asks the held jobs again
		kick := newPutJob("s", fmt.Sprint("kick", i))
		require.NoError(t, w.Submit(context.Background(), kick))
		require.NoError(t, kick.wait(t))
	}
	stop()

	mu.Lock()
	defer mu.Unlock()
	var walks [][]int
	for _, i := range log {
		if i == 0 {
			walks = append(walks, nil)
		}
		require.NotEmpty(t, walks, "the first job is asked first")
		walks[len(walks)-1] = append(walks[len(walks)-1], i)
	}
	require.GreaterOrEqual(t, len(walks), 3)
	for _, walk := range walks {
		for k, i := range walk {
			require.Equal(t, k, i, "walk %v: the waiting jobs, each once, in submission order", walk)
		}
	}
	require.Len(t, walks[len(walks)-1], n, "the last walks ask every held job")
	for _, j := range held {
		require.NoError(t, j.wait(t), "shutdown commits held jobs")
	}
}

// TestWriterQueueHoldsAFullBatch: a Queue smaller than MaxBatch is raised to it, since
// only a full batch wakes the writer while a window is open: with an hour's window the
// eight Submits and their commit must not wait for it.
func TestWriterQueueHoldsAFullBatch(t *testing.T) {
	db := storetest.MustOpen(t)
	w := db.NewWriter(store.WriterOptions{Window: time.Hour, MaxBatch: 8, Queue: 2})
	startWriter(t, w)
	submitted := make(chan []*putJob, 1)
	go func() {
		var js []*putJob
		for i := range 8 {
			j := newPutJob("s", fmt.Sprint(i))
			if err := w.Submit(context.Background(), j); err != nil {
				panic(err) // the writer runs until the test ends
			}
			js = append(js, j)
		}
		submitted <- js
	}()
	var js []*putJob
	select {
	case js = <-submitted:
	case <-time.After(10 * time.Second):
		t.Fatal("Submit blocks until the window closes")
	}
	for _, j := range js {
		require.NoError(t, j.wait(t))
	}
}

// TestWriterConcurrentFullBatches: jobs submitted concurrently in a multiple of
// MaxBatch, with a window that never closes, are all committed: Submit and Run never
// both miss a full batch.
func TestWriterConcurrentFullBatches(t *testing.T) {
	for round := range 50 {
		db := storetest.MustOpen(t)
		const maxBatch, submitters, per = 4, 8, 6 // 48 jobs: 12 full batches
		w := db.NewWriter(store.WriterOptions{Window: time.Hour, MaxBatch: maxBatch})
		stop := startWriter(t, w)
		var wg sync.WaitGroup
		jobs := make(chan *putJob, submitters*per)
		for g := range submitters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					j := newPutJob("s", fmt.Sprint(round, "/", g, "/", i))
					if err := w.Submit(context.Background(), j); err != nil {
						panic(err) // the writer runs until stop
					}
					jobs <- j
				}
			}()
		}
		wg.Wait()
		close(jobs)
		for j := range jobs {
			require.NoError(t, j.wait(t), "round %d", round)
		}
		stop()
	}
}
