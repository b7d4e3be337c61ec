package state

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
		flushed := runStateChild(t, path, 40)
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

// runStateChild starts the child, collects the flushed values until it has want of
// them (or 20 seconds passed), kills it and returns them.
func runStateChild(t *testing.T, path string, want int) []int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashStateChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashPathEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	lines := make(chan int, 1024)
	go func() { // exits at EOF, when the child is dead
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "flushed "); ok {
				if n, err := strconv.Atoi(s); err == nil {
					lines <- n
				}
			}
		}
	}()
	var got []int
	deadline := time.After(20 * time.Second)
collect:
	for len(got) < want {
		select {
		case n, ok := <-lines:
			if !ok {
				break collect
			}
			got = append(got, n)
		case <-deadline:
			break collect
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	for n := range lines { // flushes printed before the kill landed count too
		got = append(got, n)
	}
	_ = cmd.Wait()
	return got
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
