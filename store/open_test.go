package store_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

func tempPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "edgerelay.db")
}

// makeStore creates a store at path with n entries in sink "s" and closes it.
func makeStore(t *testing.T, path string, n int) {
	t.Helper()
	db, err := store.Open(path, storetest.Options(t))
	require.NoError(t, err)
	var b store.Batch
	for i := range n {
		b.Put(&store.Entry{Sink: "s", Key: fmt.Sprint("key", i), Data: bytes.Repeat([]byte{'x'}, 200)})
	}
	require.NoError(t, db.Commit(&b))
	require.NoError(t, db.Close())
}

// rawUpdate edits the file with bbolt directly, bypassing the store.
func rawUpdate(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoFreelistSync: true})
	require.NoError(t, err)
	require.NoError(t, bdb.Update(fn))
	require.NoError(t, bdb.Close())
}

func TestReopenKeepsDataAndWritesNothing(t *testing.T) {
	path := tempPath(t)
	makeStore(t, path, 3)
	var b store.Batch
	db := storetest.MustOpenAt(t, path)
	require.Equal(t, []uint64{1, 2, 3}, seqsOf(all(t, db, "s")))
	require.Zero(t, db.Counters().Commits, "opening a healthy store must not write")
	mv, reason := db.Quarantined()
	require.Empty(t, mv)
	require.Empty(t, reason)
	require.Equal(t, path, db.Path())

	b.SetCursor("c", []byte("1"))
	require.NoError(t, db.Commit(&b))
	require.NoError(t, db.Close())
	db = storetest.MustOpenAt(t, path)
	v, err := db.Cursor("c")
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
}

func TestOpenNoVerifyStillOpens(t *testing.T) {
	path := tempPath(t)
	makeStore(t, path, 10)
	o := storetest.Options(t)
	o.NoVerify = true
	db, err := store.Open(path, o)
	require.NoError(t, err)
	require.Len(t, all(t, db, "s"), 10)
	require.NoError(t, db.Close())
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	db := storetest.MustOpenAt(t, filepath.Join(dir, "edgerelay.db"))
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	require.Equal(t, os.FileMode(0o750), fi.Mode().Perm()&^umask())
	require.NotNil(t, db)
}

// umask returns the bits the process umask removes from 0750.
func umask() os.FileMode {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("umask-probe-%d", os.Getpid()))
	_ = os.Mkdir(dir, 0o777)
	defer os.Remove(dir)
	fi, err := os.Stat(dir)
	if err != nil {
		return 0
	}
	return 0o777 &^ fi.Mode().Perm()
}

func TestOpenUnusableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	dir := filepath.Join(file, "sub")
	_, err := store.Open(filepath.Join(dir, "edgerelay.db"), storetest.Options(t))
	require.Error(t, err)
	require.Contains(t, err.Error(), dir)
	require.Contains(t, err.Error(), "fix its permissions or set store.path")
}

func TestOpenUnknownFreelist(t *testing.T) {
	_, err := store.Open(tempPath(t), store.Options{FreelistType: "btree"})
	require.ErrorContains(t, err, `unknown freelist type "btree"`)
}

func TestOpenFreelistTypes(t *testing.T) {
	for _, ft := range []string{"", "hashmap", "array"} {
		t.Run(ft, func(t *testing.T) {
			path := tempPath(t)
			for range 2 {
				db, err := store.Open(path, store.Options{FreelistType: ft})
				require.NoError(t, err)
				put(t, db, &store.Entry{Sink: "s"})
				_, err = db.Drop("s", false, nil)
				require.NoError(t, err)
				require.NoError(t, db.Check())
				require.NoError(t, db.Close())
			}
		})
	}
}

func TestSchemaNewerRefused(t *testing.T) {
	path := tempPath(t)
	makeStore(t, path, 1)
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 3))
	})
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	_, err = store.Open(path, storetest.Options(t))
	require.ErrorIs(t, err, store.ErrSchemaNewer)
	require.ErrorContains(t, err, "schema 3")

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after, "a newer store is left untouched")
	require.NoDirExists(t, filepath.Join(filepath.Dir(path), "quarantine"))
}

func TestLockHeldBySecondOpen(t *testing.T) {
	path := tempPath(t)
	db := storetest.MustOpenAt(t, path)
	put(t, db, &store.Entry{Sink: "s"})

	o := storetest.Options(t)
	o.Timeout = 50 * time.Millisecond
	_, err := store.Open(path, o)
	require.ErrorIs(t, err, store.ErrLocked)
	require.ErrorContains(t, err, "another edgerelay is using "+path)

	// The first store is unharmed and the file was not quarantined.
	require.Len(t, all(t, db, "s"), 1)
	require.NoDirExists(t, filepath.Join(filepath.Dir(path), "quarantine"))

	// Once closed, the lock is free.
	require.NoError(t, db.Close())
	db2, err := store.Open(path, o)
	require.NoError(t, err)
	require.NoError(t, db2.Close())
}

var quarantineName = regexp.MustCompile(`/quarantine/edgerelay\.db\.\d{8}T\d{6}Z(-\d+)?\.corrupt$`)

func TestQuarantine(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, path string)
		reason   string // a fragment of the reason
		salvaged int    // records of outbox/s the salvage recovers (-1: some)
		corrupt  int    // records it dead-letters as corrupt
	}{
		{
			name: "random bytes",
			damage: func(t *testing.T, path string) {
				b := make([]byte, 64<<10)
				_, _ = rand.Read(b)
				require.NoError(t, os.WriteFile(path, b, 0o600))
			},
			reason: "meta",
		},
		{
			name: "tiny file",
			damage: func(t *testing.T, path string) {
				require.NoError(t, os.WriteFile(path, []byte("hello"), 0o600))
			},
			reason: "meta",
		},
		{
			name: "truncated store",
			damage: func(t *testing.T, path string) {
				makeStore(t, path, 2000)
				fi, err := os.Stat(path)
				require.NoError(t, err)
				require.NoError(t, os.Truncate(path, fi.Size()/4)) // the file has slack past the data
			},
			reason:   "truncated",
			salvaged: -1, // the records on the pages that remain
		},
		{
			name: "scribbled pages",
			damage: func(t *testing.T, path string) {
				makeStore(t, path, 200)
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				require.NoError(t, err)
				defer f.Close()
				fi, err := f.Stat()
				require.NoError(t, err)
				junk := make([]byte, fi.Size()-2*int64(os.Getpagesize()))
				_, _ = rand.Read(junk)
				_, err = f.WriteAt(junk, 2*int64(os.Getpagesize()))
				require.NoError(t, err)
			},
			reason: "page",
		},
		{
			name: "garbage record in an outbox",
			damage: func(t *testing.T, path string) {
				makeStore(t, path, 5)
				rawUpdate(t, path, func(tx *bbolt.Tx) error {
					return tx.Bucket([]byte("outbox")).Bucket([]byte("s")).Put(binary.BigEndian.AppendUint64(nil, 3), []byte{9, 9, 9})
				})
			},
			reason:   "outbox/s/3: unknown record version 9",
			salvaged: 4,
			corrupt:  1,
		},
		{
			name: "garbage key in a dead-letter bucket",
			damage: func(t *testing.T, path string) {
				makeStore(t, path, 1)
				rawUpdate(t, path, func(tx *bbolt.Tx) error {
					b, err := tx.Bucket([]byte("dead")).CreateBucket([]byte("s"))
					if err != nil {
						return err
					}
					return b.Put([]byte("nope"), []byte{1, 0})
				})
			},
			reason:   "not an 8-byte sequence",
			salvaged: 1,
			corrupt:  1,
		},
		{
			name: "value where a sink bucket belongs",
			damage: func(t *testing.T, path string) {
				makeStore(t, path, 1)
				rawUpdate(t, path, func(tx *bbolt.Tx) error {
					return tx.Bucket([]byte("outbox")).Put([]byte("x"), []byte("y"))
				})
			},
			reason:   "sink bucket",
			salvaged: 1,
		},
		{
			name: "sequence beyond the counter",
			damage: func(t *testing.T, path string) {
				makeStore(t, path, 2)
				rawUpdate(t, path, func(tx *bbolt.Tx) error {
					return tx.Bucket([]byte("outbox")).Bucket([]byte("s")).SetSequence(1)
				})
			},
			reason:   "would overwrite",
			salvaged: 2,
		},
		{
			name: "bucket where a cursor value belongs",
			damage: func(t *testing.T, path string) {
				makeStore(t, path, 1)
				rawUpdate(t, path, func(tx *bbolt.Tx) error {
					_, err := tx.Bucket([]byte("cursors")).CreateBucket([]byte("source/edge/pos"))
					return err
				})
			},
			reason:   "cursor value belongs",
			salvaged: 1,
		},
		{
			name: "cursor value over the limit",
			damage: func(t *testing.T, path string) {
				makeStore(t, path, 1)
				rawUpdate(t, path, func(tx *bbolt.Tx) error {
					return tx.Bucket([]byte("cursors")).Put([]byte("source/edge/pos"), make([]byte, store.MaxCursorValue+1))
				})
			},
			reason:   "over the limit",
			salvaged: 1,
		},
		{
			name: "bad schema value",
			damage: func(t *testing.T, path string) {
				makeStore(t, path, 1)
				rawUpdate(t, path, func(tx *bbolt.Tx) error {
					return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte("one"))
				})
			},
			reason:   "meta/schema",
			salvaged: 1,
		},
		{
			name: "another application's bbolt file",
			damage: func(t *testing.T, path string) {
				rawUpdate(t, path, func(tx *bbolt.Tx) error {
					_, err := tx.CreateBucket([]byte("users"))
					return err
				})
			},
			reason: "not an edgerelay store",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPath(t)
			tc.damage(t, path)
			damaged, err := os.ReadFile(path)
			require.NoError(t, err)

			rec := &logRecorder{}
			o := storetest.Options(t)
			o.Logger = slog.New(rec)
			db, err := store.Open(path, o)
			require.NoError(t, err, "corruption must never stop Open")
			t.Cleanup(func() { require.NoError(t, db.Close()) })

			moved, reason := db.Quarantined()
			t.Logf("moved to %s: %s", moved, reason)
			require.Regexp(t, quarantineName, moved)
			require.Contains(t, reason, tc.reason)
			kept, err := os.ReadFile(moved)
			require.NoError(t, err, "the damaged file is kept")
			require.Equal(t, damaged, kept)
			require.Equal(t, 1, rec.count(slog.LevelError), "quarantine is logged at ERROR")

			// A fresh, healthy, usable store took its place, holding what was salvaged.
			rep, serr := db.Salvaged()
			require.NoError(t, serr)
			require.NotNil(t, rep)
			t.Logf("%s", rep)
			require.NoError(t, db.Check())
			before := len(all(t, db, "s"))
			if tc.salvaged < 0 {
				require.Positive(t, before, "records salvaged into outbox/s")
			} else {
				require.Equal(t, tc.salvaged, before, "records salvaged into outbox/s")
			}
			put(t, db, &store.Entry{Sink: "s"})
			require.Len(t, all(t, db, "s"), before+1)
			if tc.corrupt > 0 {
				require.Equal(t, tc.corrupt, rep.Corrupt)
				dead := allDead(t, db, "s")
				require.Len(t, dead, tc.corrupt)
				require.Contains(t, dead[0].Reason, "corrupt record: ")
				require.NotEmpty(t, dead[0].Corrupt)
			}
		})
	}
}

func TestQuarantineTwiceKeepsBoth(t *testing.T) {
	path := tempPath(t)
	var moved []string
	for range 2 {
		require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))
		db, err := store.Open(path, storetest.Options(t))
		require.NoError(t, err)
		mv, _ := db.Quarantined()
		moved = append(moved, mv)
		require.NoError(t, db.Close())
	}
	require.NotEqual(t, moved[0], moved[1])
	for _, m := range moved {
		require.FileExists(t, m)
	}
}

func TestNoVerifySkipsRecordCheckButCheckReportsAll(t *testing.T) {
	path := tempPath(t)
	makeStore(t, path, 5)
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		s := tx.Bucket([]byte("outbox")).Bucket([]byte("s"))
		if err := s.Put(binary.BigEndian.AppendUint64(nil, 2), []byte{7}); err != nil {
			return err
		}
		return s.Put(binary.BigEndian.AppendUint64(nil, 4), []byte{1, 0xff})
	})
	o := storetest.Options(t)
	o.NoVerify = true
	db, err := store.Open(path, o)
	require.NoError(t, err)
	defer db.Close()
	moved, _ := db.Quarantined()
	require.Empty(t, moved, "NoVerify does not decode records")

	err = db.Check()
	require.ErrorContains(t, err, "2 problems")
	require.ErrorContains(t, err, "outbox/s/2")
	require.ErrorContains(t, err, "outbox/s/4")

	// Scan hands the damaged records out marked corrupt, with their raw bytes, and
	// never as events.
	var corrupt []store.Entry
	require.NoError(t, db.Scan("s", 0, 0, func(e store.Entry) error {
		if e.Corrupt != "" {
			corrupt = append(corrupt, e)
		}
		return nil
	}))
	require.Len(t, corrupt, 2)
	require.Equal(t, uint64(2), corrupt[0].Seq)
	require.Equal(t, []byte{7}, corrupt[0].Data)
	require.Contains(t, corrupt[0].Corrupt, "corrupt record: outbox/s/2")
	require.Equal(t, uint64(4), corrupt[1].Seq)
}

func TestReopenLargeEntries(t *testing.T) {
	// Values bigger than a page live in overflow pages, which the preflight must follow.
	path := tempPath(t)
	db, err := store.Open(path, storetest.Options(t))
	require.NoError(t, err)
	big := bytes.Repeat([]byte("0123456789abcdef"), 3000) // 48 KB
	put(t, db, &store.Entry{Sink: "big", Data: big}, &store.Entry{Sink: "small", Data: []byte("x")})
	require.NoError(t, db.Close())

	db = storetest.MustOpenAt(t, path)
	moved, reason := db.Quarantined()
	require.Empty(t, moved, reason)
	got := all(t, db, "big")
	require.Len(t, got, 1)
	require.Equal(t, big, got[0].Data)
}

// TestInterruptedSalvageResumes: a daemon that died while it salvaged a quarantined
// store (the file moved aside, the salvage not renamed into place) does not start
// on an empty store at the next Open: the marker written before the move makes Open
// salvage the quarantined file again. A marker whose move never happened goes.
func TestInterruptedSalvageResumes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	makeStore(t, path, 50)
	qdir := filepath.Join(dir, "quarantine")
	require.NoError(t, os.MkdirAll(qdir, 0o750))
	moved := filepath.Join(qdir, "queue.db.20261202T070000Z.corrupt")
	// The state a crash leaves: the marker, the file moved, a partial salvage.
	require.NoError(t, os.WriteFile(path+".salvage-pending", []byte(moved+"\n"), 0o600))
	require.NoError(t, os.Rename(path, moved))
	require.NoError(t, os.WriteFile(path+".salvage", []byte("partial"), 0o600))

	db, err := store.Open(path, storetest.Options(t))
	require.NoError(t, err)
	got, _ := db.Quarantined()
	require.Equal(t, moved, got)
	rep, serr := db.Salvaged()
	require.NoError(t, serr)
	require.Equal(t, 50, rep.Outbox)
	require.Len(t, all(t, db, "s"), 50)
	require.NoError(t, db.Close())
	require.NoFileExists(t, path+".salvage-pending")
	require.NoFileExists(t, path+".salvage")

	// A stale marker (the store is in place): removed, the store opens as it is.
	require.NoError(t, os.WriteFile(path+".salvage-pending", []byte(filepath.Join(qdir, "never-moved.corrupt")+"\n"), 0o600))
	db, err = store.Open(path, storetest.Options(t))
	require.NoError(t, err)
	got, _ = db.Quarantined()
	require.Empty(t, got)
	require.Len(t, all(t, db, "s"), 50)
	require.NoError(t, db.Close())
	require.NoFileExists(t, path+".salvage-pending")
}
