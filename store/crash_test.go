package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// Environment of the crash child: the store path and the first id to write.
const (
	crashPathEnv  = "EDGERELAY_CRASH_CHILD_PATH"
	crashStartEnv = "EDGERELAY_CRASH_CHILD_START"
	crashSink     = "crash"
)

// TestCrashEnqueue is the power-cut test. A child process enqueues events through a
// Writer and prints each id once its job is acknowledged (Done(nil)); the parent kills
// it with SIGKILL mid-stream, reopens the store, checks it, and requires every
// acknowledged id to be in the outbox. SIGKILL loses everything not yet fsynced by
// the child, which is what a power cut does to the process (the page cache surviving
// is the difference; fsync ordering is bbolt's part).
func TestCrashEnqueue(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary and kills it; skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "edgerelay.db")
	acked := map[int]bool{}
	for round := range 3 {
		start := (round + 1) * 1_000_000
		ids := storetest.KillChild(t, "TestCrashChild",
			[]string{crashPathEnv + "=" + path, crashStartEnv + "=" + strconv.Itoa(start)}, "ack", 300+100*round)
		require.NotEmpty(t, ids, "the child acknowledged nothing")
		t.Logf("round %d: %d acknowledged before SIGKILL", round, len(ids))
		for _, id := range ids {
			acked[id] = true
		}

		db, err := store.Open(path, storetest.Options(t))
		require.NoError(t, err)
		moved, reason := db.Quarantined()
		require.Empty(t, moved, "store quarantined after a crash: %s", reason)
		require.NoError(t, db.Check())
		present := map[int]bool{}
		require.NoError(t, db.Scan(crashSink, 0, 0, func(e store.Entry) error {
			id, err := strconv.Atoi(string(e.Data))
			if err != nil {
				return fmt.Errorf("seq %d: data %q: %w", e.Seq, e.Data, err)
			}
			present[id] = true
			return nil
		}))
		require.NoError(t, db.Close())
		var missing []int
		for id := range acked {
			if !present[id] {
				missing = append(missing, id)
			}
		}
		require.Empty(t, missing, "acknowledged ids lost after SIGKILL in round %d", round)
	}
}

// crashJob puts one entry whose data is its id and reports the ack on a channel.
type crashJob struct {
	id    int
	entry store.Entry
	acks  chan<- int
}

func (j *crashJob) Prepare(b *store.Batch) { b.Put(&j.entry) }

func (j *crashJob) Done(err error) {
	if err == nil {
		j.acks <- j.id // buffered for every job in flight, so it never blocks
	}
}

// TestCrashChild is the child of TestCrashEnqueue; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashPathEnv)
	if path == "" {
		t.Skip("helper process of TestCrashEnqueue")
	}
	start, err := strconv.Atoi(os.Getenv(crashStartEnv))
	require.NoError(t, err)
	db, err := store.Open(path, storetest.Options(t))
	require.NoError(t, err)
	w := db.NewWriter(store.WriterOptions{Window: time.Millisecond, MaxBatch: 32, Queue: 64})
	go func() { _ = w.Run(context.Background()) }() // runs until the parent kills the process

	const maxJobs = 200_000 // bound: the parent kills us long before
	acks := make(chan int, maxJobs)
	go func() { // prints acks until the process is killed
		for id := range acks {
			// One line per acknowledged job, written at once (os.Stdout is unbuffered).
			fmt.Fprintf(os.Stdout, "ack %d\n", id)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	const submitters = 4
	done := make(chan struct{})
	for g := range submitters {
		go func() { // submits until its share is done or the deadline passes
			defer func() { done <- struct{}{} }()
			for i := g; i < maxJobs && time.Now().Before(deadline); i += submitters {
				id := start + i
				j := &crashJob{id: id, acks: acks, entry: store.Entry{Sink: crashSink, Key: "k", Data: []byte(strconv.Itoa(id))}}
				if err := w.Submit(context.Background(), j); err != nil {
					return
				}
			}
		}()
	}
	for range submitters {
		<-done
	}
	t.Fatal("crash child was not killed within its bounds")
}
