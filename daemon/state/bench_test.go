package state

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// BenchmarkTableSet measures one Set of a table holding adapters.MaxTableEntries
// records (a value of about 200 bytes, like a receiver's record of an alert).
// "committing": the writer commits the changed records every 10ms window, on its own
// goroutine (on a small machine its work competes with the Sets for the CPU, and its
// allocations count in allocs/op). "set-only": no commit runs, the cost of a Set
// alone.
func BenchmarkTableSet(b *testing.B) {
	b.Run("committing", func(b *testing.B) { benchmarkTableSet(b, true) })
	b.Run("set-only", func(b *testing.B) { benchmarkTableSet(b, false) })
}

func benchmarkTableSet(b *testing.B, commit bool) {
	db := storetest.MustOpen(b)
	value := make([]byte, 200)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	const n = adapters.MaxTableEntries
	for start := 0; start < n; start += 10000 {
		var batch store.Batch
		for i := start; i < start+10000; i++ {
			batch.SetCursor(TableKey("recv", "alerts", benchKey(i)), value)
		}
		require.NoError(b, db.Commit(&batch))
	}
	w := db.NewWriter(store.WriterOptions{Window: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	run := func() { go func() { defer close(ended); _ = w.Run(ctx) }() } // ends with ctx
	if commit {
		run()
	}
	defer func() {
		cancel()
		if !commit {
			run() // stops at once, letting the Committer's pending submit return
		}
		<-ended
	}()
	c, err := Load(db, w, Options{})
	require.NoError(b, err)
	opened := time.Now()
	tb, err := c.Table("recv", "alerts", adapters.TableLimits{})
	require.NoError(b, err)
	b.Logf("opening the table of %d records took %v", tb.Len(), time.Since(opened))
	require.Equal(b, n, tb.Len())

	keys := make([]string, n)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	values := make([][]byte, 17) // 17: a key's next Set, n Sets later, has another value
	for i := range values {
		values[i] = append(strconv.AppendInt(nil, int64(i), 10), value...)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		// A stride over the keys: every Set changes a record, most of them a new one.
		if err := tb.Set(keys[i*7919%n], values[i%len(values)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if commit {
		fctx, fcancel := context.WithTimeout(context.Background(), time.Minute)
		defer fcancel()
		require.NoError(b, tb.Flush(fctx))
	}
}

func benchKey(i int) string { return fmt.Sprintf("%08x-0b1d-4c55-9a7e-3f4e5d6c7b8a", i) }
