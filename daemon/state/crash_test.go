package state

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// crashPathEnv names the store of the crash child.
const crashPathEnv = "EDGERELAY_STATE_CRASH_CHILD_PATH"

// TestCrashState is the power-cut test of source state, after the store's
// TestCrashEnqueue. A child process sets a counter on every step, continuing from the
// value it loaded, and prints it each time a Flush of it returned; the parent kills
// it with SIGKILL mid-stream and reopens the store. The stored value must be one the
// child set (a number), at least the last one whose Flush returned, and the file must
// pass its check. Three rounds also show that each run starts from the value the last
// one made durable.
func TestCrashState(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary and kills it; skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "edgerelay.db")
	last := 0
	for round := range 3 {
		flushed := storetest.KillChild(t, "TestCrashStateChild", []string{crashPathEnv + "=" + path}, "flushed", 40)
		require.NotEmpty(t, flushed, "the child flushed nothing in round %d", round)
		require.Greater(t, flushed[0], last, "round %d started below the value stored before it", round)

		db, err := store.Open(path, storetest.Options(t))
		require.NoError(t, err)
		moved, reason := db.Quarantined()
		require.Empty(t, moved, "store quarantined after a crash: %s", reason)
		require.NoError(t, db.Check())
		v, err := db.Cursor(Key("crash", "counter"))
		require.NoError(t, err)
		id, err := db.Cursor(Key("crash", "node-id"))
		require.NoError(t, err)
		require.NoError(t, db.Close())

		n, err := strconv.Atoi(string(v))
		require.NoError(t, err, "round %d: stored value %q is not one the child set", round, v)
		require.GreaterOrEqual(t, n, flushed[len(flushed)-1], "round %d: a flushed value was lost", round)
		require.Equal(t, "gw-1", string(id))
		t.Logf("round %d: %d flushes, last flushed %d, stored %d", round, len(flushed), flushed[len(flushed)-1], n)
		last = n
	}
}

// TestCrashStateChild is the child of TestCrashState; it does nothing in a normal run.
func TestCrashStateChild(t *testing.T) {
	path := os.Getenv(crashPathEnv)
	if path == "" {
		t.Skip("helper process of TestCrashState")
	}
	db, err := store.Open(path, storetest.Options(t))
	require.NoError(t, err)
	w := db.NewWriter(store.WriterOptions{Window: time.Millisecond})
	go func() { _ = w.Run(context.Background()) }() // runs until the parent kills the process
	c, err := Load(db, w, Options{})
	require.NoError(t, err)
	s := c.For("crash")
	require.NoError(t, s.Set("node-id", []byte("gw-1")))
	n := 0
	if v := s.Get("counter"); v != nil {
		n, err = strconv.Atoi(string(v))
		require.NoError(t, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n++
		require.NoError(t, s.Set("counter", []byte(strconv.Itoa(n))))
		if n%5 == 0 { // between flushes, values are set and maybe committed
			require.NoError(t, s.Flush(context.Background()))
			fmt.Fprintf(os.Stdout, "flushed %d\n", n) // os.Stdout is unbuffered
		}
	}
	t.Fatal("crash child was not killed within its bounds")
}

// crashTablePathEnv names the store of the table crash child.
const crashTablePathEnv = "EDGERELAY_TABLE_CRASH_CHILD_PATH"

// crashRecord is the key of the record the table crash child adds at step i.
func crashRecord(i int) string { return fmt.Sprintf("alert/%07d", i) }

// crashDeleted reports whether the child deletes the record of step i, which it does
// at step i+1.
func crashDeleted(i int) bool { return i%7 == 0 }

// TestCrashTable is the power-cut test of tables. A child process adds one record per
// step (its value the step number), deletes every seventh record at the next step,
// and moves a "counter" record, continuing from the counter it loaded; it prints the
// step each time a Flush returned. The parent kills it with SIGKILL mid-stream and
// reopens the store: every record flushed must be there with its value, every delete
// flushed must be gone, any later record must hold a value the child set, and the
// file must pass its check. Three rounds, each starting from what the last made
// durable.
func TestCrashTable(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary and kills it; skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "edgerelay.db")
	last := 0
	for round := range 3 {
		flushed := storetest.KillChild(t, "TestCrashTableChild", []string{crashTablePathEnv + "=" + path}, "flushed", 40)
		require.NotEmpty(t, flushed, "the child flushed nothing in round %d", round)
		require.Greater(t, flushed[0], last, "round %d started below the counter stored before it", round)
		lastFlushed := flushed[len(flushed)-1]

		db, err := store.Open(path, storetest.Options(t))
		require.NoError(t, err)
		moved, reason := db.Quarantined()
		require.Empty(t, moved, "store quarantined after a crash: %s", reason)
		require.NoError(t, db.Check())
		stored := map[string]string{}
		require.NoError(t, db.Cursors(TableKey("crash", "alerts", ""), func(name string, v []byte) error {
			_, _, key, ok := SplitTableKey(name)
			require.True(t, ok, name)
			stored[key] = string(v)
			return nil
		}))
		require.NoError(t, db.Close())

		n, err := strconv.Atoi(stored["counter"])
		require.NoError(t, err, "round %d: stored counter %q is not one the child set", round, stored["counter"])
		require.GreaterOrEqual(t, n, lastFlushed, "round %d: a flushed counter was lost", round)
		for i := 1; i <= lastFlushed; i++ {
			v, ok := stored[crashRecord(i)]
			switch {
			case crashDeleted(i) && i+1 <= lastFlushed:
				require.False(t, ok, "round %d: the flushed delete of record %d was lost", round, i)
			case crashDeleted(i):
				// Deleted after the last flush, maybe durably.
			default:
				require.True(t, ok, "round %d: flushed record %d was lost", round, i)
				require.Equal(t, strconv.Itoa(i), v)
			}
		}
		for k, v := range stored {
			if k != "counter" {
				i, err := strconv.Atoi(v)
				require.NoError(t, err, "round %d: record %q holds %q, not a step", round, k, v)
				require.Equal(t, crashRecord(i), k, "round %d: record %q holds a value the child did not set", round, k)
			}
		}
		t.Logf("round %d: %d flushes, last flushed %d, counter %d, %d records", round, len(flushed), lastFlushed, n, len(stored))
		last = n
	}
}

// TestCrashTableChild is the child of TestCrashTable; it does nothing in a normal run.
func TestCrashTableChild(t *testing.T) {
	path := os.Getenv(crashTablePathEnv)
	if path == "" {
		t.Skip("helper process of TestCrashTable")
	}
	db, err := store.Open(path, storetest.Options(t))
	require.NoError(t, err)
	w := db.NewWriter(store.WriterOptions{Window: time.Millisecond})
	go func() { _ = w.Run(context.Background()) }() // runs until the parent kills the process
	c, err := Load(db, w, Options{})
	require.NoError(t, err)
	tb, err := c.Table("crash", "alerts", adapters.TableLimits{})
	require.NoError(t, err)
	n := 0
	if v := tb.Get("counter"); v != nil {
		n, err = strconv.Atoi(string(v))
		require.NoError(t, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n++
		require.NoError(t, tb.Set(crashRecord(n), []byte(strconv.Itoa(n))))
		if crashDeleted(n - 1) {
			require.NoError(t, tb.Set(crashRecord(n-1), nil))
		}
		require.NoError(t, tb.Set("counter", []byte(strconv.Itoa(n))))
		if n%25 == 0 { // between flushes, records are set and maybe committed
			require.NoError(t, tb.Flush(context.Background()))
			fmt.Fprintf(os.Stdout, "flushed %d\n", n) // os.Stdout is unbuffered
		}
	}
	t.Fatal("crash child was not killed within its bounds")
}
