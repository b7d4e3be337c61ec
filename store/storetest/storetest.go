// Package storetest opens throw-away stores for tests and checks them afterwards, in
// the manner of bbolt's internal btesting.
//
// Every store it opens is checked with [store.DB.Check] when the test ends, so a test
// that leaves a damaged file fails even if its own assertions passed. The freelist
// type follows the environment variable EDGERELAY_TEST_FREELIST ("array" or
// "hashmap"; unset means the store's default), so CI can run the suite once per type
// as bbolt's own Makefile does.
package storetest

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/edgerelay/edgerelay/store"
)

// FreelistEnv names the environment variable that selects the freelist type.
const FreelistEnv = "EDGERELAY_TEST_FREELIST"

// Options returns store options for tests: the freelist type from FreelistEnv and a
// logger that writes to the test log until the test's cleanup has run.
func Options(t testing.TB) store.Options {
	t.Helper()
	ft := os.Getenv(FreelistEnv)
	switch ft {
	case "", "array", "hashmap":
	default:
		t.Fatalf("%s=%q: want array or hashmap", FreelistEnv, ft)
	}
	return store.Options{FreelistType: ft, Logger: slog.New(newTestHandler(t))}
}

// MustOpen opens a store in a fresh t.TempDir(). See MustOpenAt.
func MustOpen(t testing.TB) *store.DB {
	t.Helper()
	return MustOpenAt(t, filepath.Join(t.TempDir(), "edgerelay.db"))
}

// MustOpenAt opens the store at path with Options(t), failing the test on error. At
// cleanup it runs Check, failing the test on any problem, and closes the store. A test
// may Close the store itself; the check is then skipped.
func MustOpenAt(t testing.TB, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, Options(t))
	if err != nil {
		t.Fatalf("open store %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Check(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("store %s failed its check after the test:\n%v", path, err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close store %s: %v", path, err)
		}
	})
	return db
}

// testWriter writes log lines to t.Log. It stops when the test's cleanup has run,
// because testing panics on a Log after the test ended.
type testWriter struct {
	mu   sync.Mutex // guards t and done, and serialises lines
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p[:len(p)-min(1, len(p))]))
	}
	return len(p), nil
}

func newTestHandler(t testing.TB) slog.Handler {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
}

// FillUntilFull commits batches of 8 entries of data to sink until the store's
// bound (store.Limits.MaxBytes) leaves no room for another, and fails the test if
// that takes more than limit batches.
func FillUntilFull(t testing.TB, db *store.DB, sink string, data []byte, limit int) {
	t.Helper()
	for n := 0; db.HasRoom(int64(len(data))); n++ {
		if n >= limit {
			t.Fatalf("the store's bound was not reached after %d batches", limit)
		}
		var b store.Batch
		for i := 0; i < 8; i++ {
			b.Put(&store.Entry{Sink: sink, Data: data})
		}
		if err := db.Commit(&b); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
}
