package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// benchData is a typical encoded alert event.
var benchData = []byte(`{"id":"0b7f1c2e","source":"mqtt","severity":"critical","summary":"pump 3 pressure high","alertKey":"site1/pump3"}`)

// reportWrites reports the flash cost per event from the store's counters.
func reportWrites(b *testing.B, db *store.DB, before store.Counters, events int) {
	after := db.Counters()
	b.ReportMetric(float64(after.BytesWritten-before.BytesWritten)/float64(events), "written-B/event")
	b.ReportMetric(float64(after.Commits-before.Commits)/float64(events), "commits/event")
}

// BenchmarkCommitBatch commits 100 puts per transaction; one op is one transaction.
func BenchmarkCommitBatch(b *testing.B) {
	db := storetest.MustOpen(b)
	before := db.Counters()
	var batch store.Batch
	es := make([]store.Entry, 100)
	b.ReportAllocs()
	for b.Loop() {
		batch.Reset()
		for i := range es {
			es[i] = store.Entry{Sink: "bench", Key: fmt.Sprint("site1/pump", i%8), Data: benchData}
			batch.Put(&es[i])
		}
		if err := db.Commit(&batch); err != nil {
			b.Fatal(err)
		}
	}
	reportWrites(b, db, before, b.N*len(es))
}

// BenchmarkCommitDeliver is the steady state of a healthy sink that still pays for the
// outbox: every event is put in one group commit and deleted in the next.
func BenchmarkCommitDeliver(b *testing.B) {
	db := storetest.MustOpen(b)
	before := db.Counters()
	var batch store.Batch
	es := make([]store.Entry, 100)
	var prev []uint64
	for b.Loop() {
		batch.Reset()
		for _, s := range prev {
			batch.Delete("bench", s)
		}
		prev = prev[:0]
		for i := range es {
			es[i] = store.Entry{Sink: "bench", Key: "k", Data: benchData}
			batch.Put(&es[i])
		}
		if err := db.Commit(&batch); err != nil {
			b.Fatal(err)
		}
		for i := range es {
			prev = append(prev, es[i].Seq)
		}
	}
	reportWrites(b, db, before, b.N*len(es))
}

// benchJob puts one event and signals a WaitGroup when done.
type benchJob struct {
	entry store.Entry
	wg    *sync.WaitGroup
	err   error
}

func (j *benchJob) Prepare(b *store.Batch) { b.Put(&j.entry) }
func (j *benchJob) Done(err error)         { j.err = err; j.wg.Done() }

// BenchmarkWriterSubmit submits one event per op from parallel goroutines through a
// Writer with the default window, as sources do.
func BenchmarkWriterSubmit(b *testing.B) {
	db := storetest.MustOpen(b)
	w := db.NewWriter(store.WriterOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }() // exits when the benchmark cancels ctx
	before := db.Counters()
	b.SetParallelism(16) // many sources waiting on their commit at once
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var wg sync.WaitGroup
		for pb.Next() {
			wg.Add(1)
			j := &benchJob{entry: store.Entry{Sink: "bench", Key: "k", Data: benchData}, wg: &wg}
			if err := w.Submit(context.Background(), j); err != nil {
				b.Error(err)
				return
			}
			wg.Wait()
			if j.err != nil {
				b.Error(j.err)
				return
			}
		}
	})
	b.StopTimer()
	cancel()
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
	reportWrites(b, db, before, b.N)
}
