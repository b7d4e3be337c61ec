package store_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// salvageFixture is a real store with thousands of records, written the way the
// daemon writes (many commits, failed attempts, dead letters), and its contents.
type salvageFixture struct {
	path string
	out  map[string][]store.Entry // every outbox, by sink
	dead map[string][]store.Dead
}

const fixtureSinks = 3 // a, b, c

func makeFixture(t *testing.T, perSink int) salvageFixture {
	t.Helper()
	path := tempPath(t)
	o := storetest.Options(t)
	o.NoSync = true // no power cut here: the damage is done by hand
	db, err := store.Open(path, o)
	require.NoError(t, err)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 0; i < perSink; i += 100 { // one commit per 100 events per sink, as bursts do
		var b store.Batch
		for j := i; j < min(i+100, perSink); j++ {
			for s := range fixtureSinks {
				b.Put(&store.Entry{
					Sink: string(rune('a' + s)), Key: fmt.Sprintf("key-%d", j%17),
					Data:     []byte(fmt.Sprintf(`{"sink":%d,"n":%d,"pad":"%0*d"}`, s, j, 40+j%90, j)),
					Enqueued: t0.Add(time.Duration(j) * time.Second),
				})
			}
		}
		require.NoError(t, db.Commit(&b))
	}
	// Failed attempts on a's head, dead letters out of b, source state.
	var b store.Batch
	for seq := uint64(1); seq <= 50; seq++ {
		b.Update("a", seq, 3, t0.Add(time.Hour), "503 service unavailable")
	}
	for _, e := range all(t, db, "b")[:40] {
		b.DeadLetter(&e, "permanent: 400 bad request")
	}
	b.SetCursor("source/edge/pos", []byte("42"))
	require.NoError(t, db.Commit(&b))

	f := salvageFixture{path: path, out: map[string][]store.Entry{}, dead: map[string][]store.Dead{}}
	for s := range fixtureSinks {
		name := string(rune('a' + s))
		f.out[name] = all(t, db, name)
		f.dead[name] = allDead(t, db, name)
	}
	require.Len(t, f.dead["b"], 40)
	require.NoError(t, db.Close())
	return f
}

// pages lists the live pages of the file: the root and the top-level buckets' own
// root pages, every branch page, and the leaf pages of each sink's outbox.
type pages struct {
	pageSize int64
	top      []uint64            // the root bucket's page and the pages of meta, outbox, dead, cursors
	branches []uint64            // every branch page in use
	leaves   map[string][]uint64 // outbox/<sink> → its leaf pages in use
}

func livePages(t *testing.T, path string) pages {
	t.Helper()
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: time.Second})
	require.NoError(t, err)
	defer bdb.Close()
	p := pages{pageSize: int64(bdb.Info().PageSize), leaves: map[string][]uint64{}}
	require.NoError(t, bdb.View(func(tx *bbolt.Tx) error {
		p.top = append(p.top, uint64(tx.Cursor().Bucket().Root()))
		for _, name := range []string{"meta", "outbox", "dead", "cursors"} {
			if r := tx.Bucket([]byte(name)).Root(); r != 0 {
				p.top = append(p.top, uint64(r))
			}
		}
		var hwm uint64
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info == nil {
				hwm = uint64(id)
				break
			}
			if info.Type == "branch" {
				p.branches = append(p.branches, uint64(id))
			}
		}
		// The leaves of each outbox: walk its branch pages in the file.
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return tx.Bucket([]byte("outbox")).ForEachBucket(func(k []byte) error {
			root := uint64(tx.Bucket([]byte("outbox")).Bucket(k).Root())
			p.leaves[string(k)] = leavesUnder(t, raw, p.pageSize, root, hwm)
			return nil
		})
	}))
	return p
}

// leavesUnder reads page id of the file raw and returns the leaf pages below it.
func leavesUnder(t *testing.T, raw []byte, pageSize int64, id, hwm uint64) []uint64 {
	t.Helper()
	require.Less(t, id, hwm)
	pg := raw[int64(id)*pageSize:]
	flags, count := binary.NativeEndian.Uint16(pg[8:]), int(binary.NativeEndian.Uint16(pg[10:]))
	if flags == 0x02 {
		return []uint64{id}
	}
	require.Equal(t, uint16(0x01), flags, "page %d", id)
	var out []uint64
	for i := range count {
		el := pg[16+16*i:]
		out = append(out, leavesUnder(t, raw, pageSize, binary.NativeEndian.Uint64(el[8:]), hwm)...)
	}
	return out
}

// leafSeqs returns the seqs stored on leaf page id.
func leafSeqs(t *testing.T, path string, pageSize int64, id uint64) []uint64 {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	pg := raw[int64(id)*pageSize:]
	var seqs []uint64
	for i := range int(binary.NativeEndian.Uint16(pg[10:])) {
		off := 16 + 16*i
		el := pg[off:]
		pos, ksize := binary.NativeEndian.Uint32(el[4:]), binary.NativeEndian.Uint32(el[8:])
		require.Equal(t, uint32(8), ksize)
		k := pg[off+int(pos) : off+int(pos)+8]
		seqs = append(seqs, binary.BigEndian.Uint64(k))
	}
	return seqs
}

// overwrite writes fill (zeros when nil, else random bytes) over the given pages.
func overwrite(t *testing.T, path string, pageSize int64, random bool, ids ...uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, pageSize)
	for _, id := range ids {
		if random {
			_, _ = rand.Read(buf)
		} else {
			clear(buf)
		}
		_, err := f.WriteAt(buf, int64(id)*pageSize)
		require.NoError(t, err)
	}
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

func salvageInto(t *testing.T, src string) (*store.DB, store.SalvageReport) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "salvaged.db")
	before := fileHash(t, src)
	o := storetest.Options(t)
	o.NoSync = true
	rep, err := store.Salvage(src, dst, o)
	require.NoError(t, err)
	t.Logf("%s", &rep)
	require.Equal(t, before, fileHash(t, src), "salvage must not change the damaged file")
	return storetest.MustOpenAt(t, dst), rep
}

// sameEntry compares what a sink would get: everything but Seq is compared, and Seq
// too, since a salvage keeps every record at its seq.
func requireSame(t *testing.T, want, got []store.Entry, what string) {
	t.Helper()
	require.Equal(t, len(want), len(got), "%s: record count", what)
	if !slices.EqualFunc(want, got, sameEntry) {
		for i := range want {
			require.Equal(t, want[i], got[i], "%s: record %d", what, i)
		}
	}
}

func sameEntry(a, b store.Entry) bool {
	return a.Sink == b.Sink && a.Seq == b.Seq && a.Key == b.Key && string(a.Data) == string(b.Data) &&
		a.Enqueued.Equal(b.Enqueued) && a.Attempts == b.Attempts && a.NextAttempt.Equal(b.NextAttempt) &&
		a.LastError == b.LastError && a.Corrupt == b.Corrupt && a.Enqueued.Location() == b.Enqueued.Location()
}

func requireSameDead(t *testing.T, want, got []store.Dead) {
	t.Helper()
	require.Equal(t, len(want), len(got))
	for i := range want {
		if !sameEntry(want[i].Entry, got[i].Entry) || want[i].Reason != got[i].Reason || !want[i].At.Equal(got[i].At) {
			require.Equal(t, want[i], got[i], "dead letter %d", i)
		}
	}
}

func TestSalvageHealthyStoreIsExact(t *testing.T) {
	f := makeFixture(t, 1000)
	db, rep := salvageInto(t, f.path)
	require.Empty(t, rep.Lost())
	require.Zero(t, rep.FromPageScan, "an intact tree needs no page scan")
	require.Equal(t, 1, rep.Cursors)
	for s, want := range f.out {
		requireSame(t, want, all(t, db, s), "outbox/"+s)
		requireSameDead(t, f.dead[s], allDead(t, db, s))
	}
	v, err := db.Cursor("source/edge/pos")
	require.NoError(t, err)
	require.Equal(t, "42", string(v))
	// The counters go on where they were: a new entry does not reuse a seq.
	e := &store.Entry{Sink: "a"}
	put(t, db, e)
	require.Equal(t, f.out["a"][len(f.out["a"])-1].Seq+1, e.Seq)
}

// TestSalvageWithoutTree destroys the tree above the records (the root page, the
// top-level buckets' pages and every branch page, as a power cut in the middle of
// rewriting them could) and shows that every record on an intact leaf page comes
// back unaltered, at its seq, from the page scan alone.
func TestSalvageWithoutTree(t *testing.T) {
	for _, random := range []bool{false, true} {
		t.Run(map[bool]string{false: "zeros", true: "garbage"}[random], func(t *testing.T) {
			f := makeFixture(t, 2000)
			p := livePages(t, f.path)
			require.NotEmpty(t, p.branches, "the fixture must have branch pages")
			overwrite(t, f.path, p.pageSize, random, append(p.top, p.branches...)...)

			// The daemon's Open would quarantine it; queue check names the damage.
			_, err := store.OpenReadOnly(f.path, store.Options{})
			require.ErrorContains(t, err, "is damaged")

			db, rep := salvageInto(t, f.path)
			require.Positive(t, rep.FromPageScan)
			require.Subset(t, rep.DamagedPages, p.top[:1], "the root page is reported")
			require.True(t, rep.CursorsLost, "the cursors bucket lived in the root page")
			require.Contains(t, rep.Lost(), "damaged page")

			requireSame(t, f.out["a"], all(t, db, "a"), "outbox/a (failed attempts kept)")
			requireSame(t, f.out["c"], all(t, db, "c"), "outbox/c")
			requireSameDead(t, f.dead["b"], allDead(t, db, "b"))
			// b's outbox: everything it held, plus perhaps old copies of the records that
			// were dead-lettered, which survive on freed pages (a duplicate, never a loss).
			got := all(t, db, "b")
			bySeq := map[uint64]store.Entry{}
			for _, e := range got {
				bySeq[e.Seq] = e
			}
			for _, e := range f.out["b"] {
				if !sameEntry(e, bySeq[e.Seq]) {
					require.Equal(t, e, bySeq[e.Seq], "outbox/b/%d", e.Seq)
				}
				delete(bySeq, e.Seq)
			}
			deadData := map[string]bool{}
			for _, d := range f.dead["b"] {
				deadData[string(d.Data)] = true
			}
			for seq, e := range bySeq {
				require.True(t, deadData[string(e.Data)], "outbox/b/%d came back but was never there", seq)
			}
			require.NoError(t, db.Check())
		})
	}
}

// TestSalvageLosesOnlyDamagedLeaf damages one leaf page of records as well: exactly
// the records on it may be missing (or come back as an older copy from a freed page),
// every other one comes back unaltered.
func TestSalvageLosesOnlyDamagedLeaf(t *testing.T) {
	f := makeFixture(t, 2000)
	p := livePages(t, f.path)
	leaves := p.leaves["c"]
	require.Greater(t, len(leaves), 3)
	victim := leaves[len(leaves)/2]
	onVictim := leafSeqs(t, f.path, p.pageSize, victim)
	require.NotEmpty(t, onVictim)
	overwrite(t, f.path, p.pageSize, false, append(p.top, p.branches...)...)
	overwrite(t, f.path, p.pageSize, true, victim)

	db, rep := salvageInto(t, f.path)
	require.Contains(t, rep.DamagedPages, p.top[0])
	requireSame(t, f.out["a"], all(t, db, "a"), "outbox/a")
	got := map[uint64]store.Entry{}
	for _, e := range all(t, db, "c") {
		got[e.Seq] = e
	}
	missing := 0
	for _, e := range f.out["c"] {
		g, ok := got[e.Seq]
		if slices.Contains(onVictim, e.Seq) {
			if !ok {
				missing++
				continue
			}
			// An older copy: the same event, perhaps an older attempt count.
			require.Equal(t, e.Data, g.Data)
			require.Equal(t, e.Key, g.Key)
			continue
		}
		require.True(t, ok, "outbox/c/%d was on an intact page and is missing", e.Seq)
		if !sameEntry(e, g) {
			require.Equal(t, e, g, "outbox/c/%d", e.Seq)
		}
	}
	t.Logf("%d of the %d records on the damaged page are lost", missing, len(onVictim))
}

// TestCorruptRecordIsDeadLettered alters one byte of one record: its checksum fails,
// Scan hands it out marked corrupt, dead-lettering keeps the mark and the raw bytes,
// and Retry never queues it for delivery.
func TestCorruptRecordIsDeadLettered(t *testing.T) {
	path := tempPath(t)
	marker := []byte("the-payload-to-alter")
	db, err := store.Open(path, storetest.Options(t))
	require.NoError(t, err)
	put(t, db, &store.Entry{Sink: "s", Key: "k1", Data: []byte("first")},
		&store.Entry{Sink: "s", Key: "k2", Data: marker},
		&store.Entry{Sink: "s", Key: "k3", Data: []byte("third")})
	require.NoError(t, db.Close())
	alterByte(t, path, marker)

	// At start the daemon's verify finds it and salvages: the record lands in the dead
	// letters as corrupt, the two others are back in the outbox.
	t.Run("open salvages", func(t *testing.T) {
		cp := filepath.Join(t.TempDir(), "edgerelay.db")
		copyFile(t, path, cp)
		rec := &logRecorder{}
		o := storetest.Options(t)
		o.Logger = slog.New(rec)
		db, err := store.Open(cp, o)
		require.NoError(t, err)
		defer db.Close()
		moved, reason := db.Quarantined()
		require.NotEmpty(t, moved)
		require.Contains(t, reason, "outbox/s/2: checksum mismatch")
		rep, serr := db.Salvaged()
		require.NoError(t, serr)
		require.Equal(t, 1, rep.Corrupt)
		require.Equal(t, []string{"first", "third"}, datas(all(t, db, "s")))
		dead := allDead(t, db, "s")
		require.Len(t, dead, 1)
		require.Contains(t, dead[0].Reason, "corrupt record: outbox/s/2: checksum mismatch")
		require.NotEmpty(t, dead[0].Corrupt)
	})

	// Without the verify at open (store.verify_on_open: false), the read refuses it.
	t.Run("read refuses", func(t *testing.T) {
		o := storetest.Options(t)
		o.NoVerify = true
		db, err := store.Open(path, o)
		require.NoError(t, err)
		defer db.Close()
		entries := all(t, db, "s")
		require.Len(t, entries, 3)
		bad := entries[1]
		require.Equal(t, uint64(2), bad.Seq)
		require.Contains(t, bad.Corrupt, "corrupt record: outbox/s/2: checksum mismatch")
		require.NotContains(t, string(bad.Data), string(marker), "never the altered payload as an event")
		require.Empty(t, entries[0].Corrupt)
		require.Equal(t, "first", string(entries[0].Data))

		var b store.Batch
		b.DeadLetter(&bad, "whatever the caller says")
		require.NoError(t, db.Commit(&b))
		dead := allDead(t, db, "s")
		require.Len(t, dead, 1)
		require.Contains(t, dead[0].Reason, "corrupt record: outbox/s/2")
		require.Equal(t, bad.Corrupt, dead[0].Corrupt)
		n, err := db.Retry("s", nil)
		require.NoError(t, err)
		require.Zero(t, n, "a corrupt dead letter is never queued for delivery")
		require.Len(t, allDead(t, db, "s"), 1)
		require.Equal(t, []string{"first", "third"}, datas(all(t, db, "s")))
		require.NoError(t, db.Check())

		b.Reset()
		b.Put(&store.Entry{Sink: "s", Corrupt: "x"})
		require.ErrorContains(t, db.Commit(&b), "marked corrupt")
	})
}

// TestUpdateOfCorruptRecord: an attempt recorded for a record that went bad on disk
// since it was loaded moves it to the dead letters instead of failing the commit.
func TestUpdateOfCorruptRecord(t *testing.T) {
	path := tempPath(t)
	marker := []byte("payload-that-rots")
	db, err := store.Open(path, storetest.Options(t))
	require.NoError(t, err)
	put(t, db, &store.Entry{Sink: "s", Data: marker}, &store.Entry{Sink: "s", Data: []byte("ok")})
	require.NoError(t, db.Close())
	alterByte(t, path, marker)
	o := storetest.Options(t)
	o.NoVerify = true
	db, err = store.Open(path, o)
	require.NoError(t, err)
	defer db.Close()
	var b store.Batch
	b.Update("s", 1, 1, time.Time{}, "timeout")
	b.Update("s", 2, 1, time.Time{}, "timeout")
	require.NoError(t, db.Commit(&b))
	require.Equal(t, []string{"ok"}, datas(all(t, db, "s")))
	dead := allDead(t, db, "s")
	require.Len(t, dead, 1)
	require.Contains(t, dead[0].Reason, "corrupt record: outbox/s/1")
	require.NoError(t, db.Check())
}

// TestOldRecordsStillRead: a schema 1 file with version 1 records opens, reads as it
// always did, is upgraded to schema 2, and new writes are version 2.
func TestOldRecordsStillRead(t *testing.T) {
	path := tempPath(t)
	makeStore(t, path, 3)
	v1 := []byte{1, 0x10, 2, 'k', '1', 'o', 'l', 'd'} // version 1, fKey "k1", data "old"
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		// A schema 1 file: no meta/records (version 2 records only) either.
		if err := tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 1)); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("meta")).Delete([]byte("records")); err != nil {
			return err
		}
		return tx.Bucket([]byte("outbox")).Bucket([]byte("s")).Put(binary.BigEndian.AppendUint64(nil, 2), v1)
	})
	db := storetest.MustOpenAt(t, path)
	moved, reason := db.Quarantined()
	require.Empty(t, moved, reason)
	es := all(t, db, "s")
	require.Len(t, es, 3)
	require.Equal(t, "k1", es[1].Key)
	require.Equal(t, "old", string(es[1].Data))
	require.Empty(t, es[1].Corrupt)
	st, err := db.Stats()
	require.NoError(t, err)
	require.Equal(t, 2, st.Schema)
}

// TestVersionByteDamageIsCorrupt: in a file created with version 2 records, a record
// whose version byte reads 1 is damage (a version 1 record has no checksum), not an
// old record: the checksum cannot be skipped that way.
func TestVersionByteDamageIsCorrupt(t *testing.T) {
	path := tempPath(t)
	makeStore(t, path, 3)
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("outbox")).Bucket([]byte("s"))
		k := binary.BigEndian.AppendUint64(nil, 2)
		v := append([]byte(nil), b.Get(k)...)
		require.Equal(t, byte(2), v[0])
		v[0] = 1
		return b.Put(k, v)
	})
	_, err := store.OpenReadOnly(path, storetest.Options(t))
	require.ErrorContains(t, err, "outbox/s/2: a version 1 record in a file created with version 2 records only")
	o := storetest.Options(t)
	o.NoVerify = true // the daemon's reads, not the open check
	db, err := store.Open(path, o)
	require.NoError(t, err)
	es := all(t, db, "s")
	require.Len(t, es, 3)
	require.NotEmpty(t, es[1].Corrupt, "handed out marked corrupt, never as an event")
	require.NoError(t, db.Close())
}

func alterByte(t *testing.T, path string, marker []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	i := slices.Index(splitAt(raw, marker), true)
	require.GreaterOrEqual(t, i, 0, "marker not found")
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte{raw[i+3] ^ 0x20}, int64(i+3))
	require.NoError(t, err)
}

// splitAt marks the offset of every occurrence of marker in raw.
func splitAt(raw, marker []byte) []bool {
	m := make([]bool, len(raw))
	for i := 0; i+len(marker) <= len(raw); i++ {
		if string(raw[i:i+len(marker)]) == string(marker) {
			m[i] = true
		}
	}
	return m
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, 0o600))
}

func datas(es []store.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, string(e.Data))
	}
	return out
}

func TestSalvageRefusesExistingOutput(t *testing.T) {
	path := tempPath(t)
	makeStore(t, path, 1)
	_, err := store.Salvage(path, path, store.Options{})
	require.ErrorContains(t, err, "the file exists")
	_, err = store.Salvage(filepath.Join(t.TempDir(), "nope.db"), filepath.Join(t.TempDir(), "out.db"), store.Options{})
	require.ErrorIs(t, err, store.ErrNotExist)

	// A newer edgerelay's file is not this build's to rewrite.
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 3))
	})
	out := filepath.Join(t.TempDir(), "out.db")
	_, err = store.Salvage(path, out, store.Options{})
	require.ErrorIs(t, err, store.ErrSchemaNewer)
	require.NoFileExists(t, out)
}

// TestSalvageRepairsAVersionByte: a version 2 record whose version byte alone is
// damaged comes back as it was written — its checksum covers that byte, so with the
// byte put back it proves the rest intact — both from the tree walk and from the
// page scan. One damaged elsewhere too is dead-lettered as corrupt: never read as a
// version 1 record (which has no checksum), never delivered altered.
func TestSalvageRepairsAVersionByte(t *testing.T) {
	damage := func(t *testing.T, path string, seq uint64, alsoData bool) {
		rawUpdate(t, path, func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte("outbox")).Bucket([]byte("s"))
			k := binary.BigEndian.AppendUint64(nil, seq)
			v := append([]byte(nil), b.Get(k)...)
			require.Equal(t, byte(2), v[0])
			v[0] = 1
			if alsoData {
				v[len(v)-6] ^= 0x01
			}
			return b.Put(k, v)
		})
	}
	t.Run("tree walk", func(t *testing.T) {
		path := tempPath(t)
		makeStore(t, path, 3)
		db := storetest.MustOpenAt(t, path)
		want := all(t, db, "s")
		require.NoError(t, db.Close())
		damage(t, path, 2, false)
		damage(t, path, 3, true)

		db, rep := salvageInto(t, path)
		require.Equal(t, 1, rep.Repaired)
		require.Equal(t, 1, rep.Corrupt)
		require.Contains(t, rep.String(), "1 record(s) with a damaged version byte repaired")
		got := all(t, db, "s")
		require.Len(t, got, 2)
		requireSame(t, want[:2], got, "outbox/s")
		dead := allDead(t, db, "s")
		require.Len(t, dead, 1)
		require.NotEmpty(t, dead[0].Corrupt, "the doubly damaged record is a corrupt dead letter")
		require.NoError(t, db.Check())
	})
	t.Run("page scan", func(t *testing.T) {
		f := makeFixture(t, 2000)
		seq := f.out["c"][len(f.out["c"])/2].Seq
		damage := func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte("outbox")).Bucket([]byte("c"))
			k := binary.BigEndian.AppendUint64(nil, seq)
			v := append([]byte(nil), b.Get(k)...)
			v[0] = 1
			return b.Put(k, v)
		}
		rawUpdate(t, f.path, damage)
		p := livePages(t, f.path) // after the update, which rewrote pages
		overwrite(t, f.path, p.pageSize, false, append(p.top, p.branches...)...)

		db, rep := salvageInto(t, f.path)
		require.Positive(t, rep.FromPageScan)
		require.Positive(t, rep.Repaired)
		requireSame(t, f.out["c"], all(t, db, "c"), "outbox/c")
		require.NoError(t, db.Check())
	})
}

// TestSalvageOfSeqZero: an old-format (version 1) record, which does not say where it
// belongs, found under a key damaged to 0 (sequences start at 1) becomes a corrupt
// dead letter; the salvaged store opens and checks clean.
func TestSalvageOfSeqZero(t *testing.T) {
	path := tempPath(t)
	makeStore(t, path, 3)
	v1 := []byte{1, 0x10, 2, 'k', '1', 'o', 'l', 'd'} // version 1, fKey "k1", data "old"
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		if err := tx.Bucket([]byte("meta")).Delete([]byte("records")); err != nil {
			return err
		}
		return tx.Bucket([]byte("outbox")).Bucket([]byte("s")).Put(binary.BigEndian.AppendUint64(nil, 0), v1)
	})
	db, rep := salvageInto(t, path)
	require.Equal(t, 1, rep.Corrupt)
	require.Len(t, all(t, db, "s"), 3)
	dead := allDead(t, db, "s")
	require.Len(t, dead, 1)
	require.NotEmpty(t, dead[0].Corrupt)
	require.NoError(t, db.Check())
}

// TestSalvageOfV1InAV2File: in a file of version 2 records only (meta/records), a
// record that reads as version 1 and whose checksum does not check out with the
// byte put back is damage, dead-lettered as corrupt — the walk reads meta after the
// outboxes, so this is decided once the walk is done.
func TestSalvageOfV1InAV2File(t *testing.T) {
	path := tempPath(t)
	makeStore(t, path, 3)
	v1 := []byte{1, 0x10, 2, 'k', '1', 'o', 'l', 'd'}
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("outbox")).Bucket([]byte("s")).Put(binary.BigEndian.AppendUint64(nil, 2), v1)
	})
	db, rep := salvageInto(t, path)
	require.Equal(t, 1, rep.Corrupt)
	require.Len(t, all(t, db, "s"), 2)
	require.Len(t, allDead(t, db, "s"), 1)
	require.NoError(t, db.Check())
}
