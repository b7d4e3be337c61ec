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
