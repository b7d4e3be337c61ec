package storetest_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

func TestMustOpen(t *testing.T) {
	db := storetest.MustOpen(t)
	var b store.Batch
	b.Put(&store.Entry{Sink: "s", Data: []byte("x")})
	require.NoError(t, db.Commit(&b))
	require.NoError(t, db.Check())
}

// recordingTB keeps the errors reported through it, so a test can watch
// MustOpenAt's cleanup fail.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestCleanupChecksTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edgerelay.db")
	marker := []byte("MARKER-0123456789")
	rec := &recordingTB{}
	t.Run("damage", func(t *testing.T) {
		rec.TB = t
		db := storetest.MustOpenAt(rec, path)
		var b store.Batch
		b.Put(&store.Entry{Sink: "s", Data: marker})
		require.NoError(t, db.Commit(&b))

		// Scribble over a byte of the record behind bbolt's back: its checksum fails. The record is
		// version, flags, a 6-byte enqueue time, then the data.
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		i := bytes.Index(raw, marker)
		require.Greater(t, i, 8)
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte{9}, int64(i-8))
		require.NoError(t, err)
		require.NoError(t, f.Close())
	})
	require.Len(t, rec.errs, 1, "the cleanup check reports the damage")
	require.True(t, strings.Contains(rec.errs[0], "checksum mismatch"), rec.errs[0])
}

func TestOptionsFreelistFromEnv(t *testing.T) {
	for _, ft := range []string{"array", "hashmap", ""} {
		t.Run(ft, func(t *testing.T) {
			t.Setenv(storetest.FreelistEnv, ft)
			require.Equal(t, ft, storetest.Options(t).FreelistType)
			db := storetest.MustOpen(t)
			require.NotNil(t, db)
		})
	}
}
