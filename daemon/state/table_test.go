package state

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

func (r *rig) table(source, name string, l adapters.TableLimits) adapters.Table {
	r.t.Helper()
	tb, err := r.c.Table(source, name, l)
	require.NoError(r.t, err)
	return tb
}

func (r *rig) storedRecord(source, table, key string) []byte {
	r.t.Helper()
	v, err := r.db.Cursor(TableKey(source, table, key))
	require.NoError(r.t, err)
	return v
}

// records lists a table through Range, as "key=value".
func records(tb adapters.Table) []string {
	var out []string
	tb.Range(func(k string, v []byte) bool {
		out = append(out, k+"="+string(v))
		return true
	})
	return out
}

// TestTableSetRules: the key rule, the value limit, and what each refusal leaves
// unchanged.
func TestTableSetRules(t *testing.T) {
	longest := strings.Repeat("k", adapters.MaxTableKey)
	tests := []struct {
		name, key string
		value     []byte
		wantErr   string // "" for success
		limit     bool   // the error wraps adapters.ErrStateLimit
	}{
		{name: "uuid", key: "7f3c1a9e-0b1d-4c55-9a7e-3f4e5d6c7b8a", value: []byte(`{"id":1}`)},
		{name: "slash and pipe", key: "prod|web/01|NodeDown", value: []byte("x")},
		{name: "any byte but NUL", key: "\xff\x01 é\n", value: []byte("x")},
		{name: "longest key", key: longest, value: []byte("x")},
		{name: "largest value", key: "big", value: make([]byte, 100)},
		{name: "empty key", key: "", value: []byte("x"), wantErr: "empty"},
		{name: "NUL", key: "a\x00b", value: []byte("x"), wantErr: "NUL"},
		{name: "key too long", key: longest + "k", value: []byte("x"), wantErr: "201 bytes", limit: true},
		{name: "value too large", key: "big", value: make([]byte, 101), wantErr: "101 bytes, the limit is 100", limit: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "")
			tb := r.table("src", "alerts", adapters.TableLimits{MaxValue: 100})
			err := tb.Set(tc.key, tc.value)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, tc.value, tb.Get(tc.key))
				require.Equal(t, 1, tb.Len())
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			require.ErrorContains(t, err, "table alerts")
			require.Equal(t, tc.limit, errors.Is(err, adapters.ErrStateLimit), "wraps ErrStateLimit: %v", err)
			require.Nil(t, tb.Get(tc.key), "a refused Set changes nothing")
			require.Zero(t, tb.Len())
			r.c.mu.Lock()
			require.False(t, r.c.queued, "a refused Set submits nothing")
			r.c.mu.Unlock()
		})
	}
}

// TestTableOpen: the name and limit rules of Committer.Table, the same Table for the
// same name, and no table once the daemon is closing.
func TestTableOpen(t *testing.T) {
	tests := []struct {
		name, source, table string
		l                   adapters.TableLimits
		wantErr             string
	}{
		{name: "defaults", source: "src", table: "alerts"},
		{name: "maxima", source: "src", table: "a.b_c-1", l: adapters.TableLimits{MaxEntries: adapters.MaxTableEntries, MaxValue: adapters.MaxTableValue}},
		{name: "longest source", source: strings.Repeat("s", store.MaxCursorName-len("table///")-adapters.MaxStateName-adapters.MaxTableKey), table: strings.Repeat("t", adapters.MaxStateName)},
		{name: "empty name", source: "src", table: "", wantErr: "empty"},
		{name: "slash in name", source: "src", table: "a/b", wantErr: "letters"},
		{name: "too many entries", source: "src", table: "t", l: adapters.TableLimits{MaxEntries: adapters.MaxTableEntries + 1}, wantErr: "MaxEntries 100001"},
		{name: "negative value", source: "src", table: "t", l: adapters.TableLimits{MaxValue: -1}, wantErr: "MaxValue -1"},
		{name: "too large value", source: "src", table: "t", l: adapters.TableLimits{MaxValue: adapters.MaxTableValue + 1}, wantErr: "MaxValue 65537"},
		{name: "source too long", source: strings.Repeat("s", 900), table: "t", wantErr: "source name is 900 bytes long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "")
			tb, err := r.c.Table(tc.source, tc.table, tc.l)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Nil(t, tb)
				return
			}
			require.NoError(t, err)
			// Every key the rule accepts fits the store: a commit never fails on a name.
			r.startWriter()
			key := strings.Repeat("k", adapters.MaxTableKey)
			require.NoError(t, tb.Set(key, []byte("v")))
			r.flush(tb)
			require.Equal(t, "v", string(r.storedRecord(tc.source, tc.table, key)))
		})
	}

	r := newRig(t, "")
	a := r.table("src", "alerts", adapters.TableLimits{})
	require.Same(t, a, r.table("src", "alerts", adapters.TableLimits{MaxEntries: 5}), "one table per name")
	require.NotSame(t, a, r.table("src", "other", adapters.TableLimits{}))
	require.NotSame(t, a, r.table("src2", "alerts", adapters.TableLimits{}))
	require.NoError(t, r.c.Close(context.Background()))
	late, err := r.c.Table("src", "late", adapters.TableLimits{})
	require.ErrorIs(t, err, ErrClosed)
	require.Nil(t, late, "no table, not a nil *table in the interface")
	require.ErrorIs(t, a.Set("k", []byte("v")), ErrClosed)
}

// TestTableEntryLimit: MaxEntries refuses new keys only; a delete frees a place; a
// table is independent of the source's State and of other tables.
func TestTableEntryLimit(t *testing.T) {
	r := newRig(t, "")
	tb := r.table("src", "alerts", adapters.TableLimits{MaxEntries: 3})
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, tb.Set(k, []byte("v")))
	}
	err := tb.Set("d", []byte("v"))
	require.ErrorIs(t, err, adapters.ErrStateLimit)
	require.ErrorContains(t, err, "holds 3 records, the limit is 3")
	require.NoError(t, tb.Set("a", []byte("changed")), "an existing key may change")
	require.NoError(t, tb.Set("d", nil), "deleting an absent key is fine")
	require.NoError(t, r.table("src", "other", adapters.TableLimits{MaxEntries: 1}).Set("d", []byte("v")), "the limit is per table")
	require.NoError(t, r.c.For("src").Set("d", []byte("v")), "State is another namespace")
	require.NoError(t, tb.Set("b", nil))
	require.NoError(t, tb.Set("d", []byte("v")))
	require.Equal(t, 3, tb.Len())
	require.Equal(t, []string{"a=changed", "c=v", "d=v"}, records(tb))
	require.Nil(t, r.c.For("src").Get("a"))
}

// TestTableShrunkLimits: a table reopened with limits below what it stores keeps
// every record, refuses new keys and larger values, and takes new keys again once
// the source evicted enough.
func TestTableShrunkLimits(t *testing.T) {
	path := t.TempDir() + "/q.db"
	r := newRig(t, path)
	r.startWriter()
	tb := r.table("src", "alerts", adapters.TableLimits{})
	for i := range 5 {
		require.NoError(t, tb.Set(fmt.Sprint("k", i), []byte(strings.Repeat("v", 10))))
	}
	r.close()

	r = newRig(t, path)
	r.startWriter()
	tb = r.table("src", "alerts", adapters.TableLimits{MaxEntries: 3, MaxValue: 4})
	require.Equal(t, 5, tb.Len(), "nothing is dropped")
	require.Equal(t, strings.Repeat("v", 10), string(tb.Get("k4")))
	require.ErrorIs(t, tb.Set("new", []byte("v")), adapters.ErrStateLimit)
	require.ErrorIs(t, tb.Set("k0", []byte("12345")), adapters.ErrStateLimit)
	require.NoError(t, tb.Set("k0", []byte("1234")))
	for _, k := range []string{"k1", "k2", "k3"} {
		require.NoError(t, tb.Set(k, nil))
	}
	require.NoError(t, tb.Set("new", []byte("v")))
	require.Equal(t, []string{"k0=1234", "k4=vvvvvvvvvv", "new=v"}, records(tb))
	r.close()
}

// TestTableGetSetDelete: Get sees the latest Set at once and copies; a delete is
// gone from the store once flushed, and the table forgets the key.
func TestTableGetSetDelete(t *testing.T) {
	r := newRig(t, "")
	r.startWriter()
	tb := r.table("src", "alerts", adapters.TableLimits{})
	requireCopies(t, tb, "a")
	r.flush(tb)
	require.Equal(t, "abc", string(r.storedRecord("src", "alerts", "a")))

	require.NoError(t, tb.Set("a", []byte{}))
	require.Nil(t, tb.Get("a"))
	require.Zero(t, tb.Len())
	r.flush(tb)
	require.Nil(t, r.storedRecord("src", "alerts", "a"))
	r.c.mu.Lock()
	tt := r.c.tables[tableID{"src", "alerts"}]
	require.Empty(t, tt.entries, "deleted keys are forgotten once the store has them gone")
	require.Empty(t, tt.unclean)
	require.Empty(t, r.c.todo)
	r.c.mu.Unlock()
}

// TestTableCoalescing: 1000 Sets of a table and of State in one window cost one
// commit; the next commit writes only the records that changed since, without
// looking at the others; unchanged values and values set back cost nothing.
func TestTableCoalescing(t *testing.T) {
	r := newRig(t, "")
	tb := r.table("recv", "alerts", adapters.TableLimits{})
	st := r.c.For("recv")
	before := r.db.Counters()
	for i := range 1000 {
		require.NoError(t, tb.Set(fmt.Sprintf("alert-%04d", i%500), fmt.Appendf(nil, "v%d", i)))
		require.NoError(t, st.Set("cursor", fmt.Appendf(nil, "%d", i)))
	}
	r.startWriter() // the window opens only now: every Set above is in it
	r.flush(tb)
	r.flush(st)
	after := r.db.Counters()
	require.Equal(t, before.Commits+1, after.Commits, "1000 Sets of a table and a State, one window: one commit")
	require.Equal(t, "v999", string(r.storedRecord("recv", "alerts", "alert-0499")))
	require.Equal(t, "v500", string(r.storedRecord("recv", "alerts", "alert-0000")))
	require.Equal(t, "999", string(r.stored("recv", "cursor")))
	require.Equal(t, 500, tb.Len())
	r.c.mu.Lock()
	sp := &r.c.tables[tableID{"recv", "alerts"}].space
	require.Empty(t, sp.unclean)
	require.LessOrEqual(t, sp.peak, smallMap, "the map that held the window's records was replaced by a small one")
	r.c.mu.Unlock()
	r.stopWriter()

	// The next job takes exactly the changed records: O(changed), not O(records).
	require.NoError(t, tb.Set("alert-0001", []byte("new")))
	require.NoError(t, tb.Set("alert-0002", nil))
	require.NoError(t, tb.Set("alert-0003", []byte("v503"))) // the value it has: nothing
	require.NoError(t, tb.Set("alert-0004", []byte("x")))
	require.NoError(t, tb.Set("alert-0004", []byte("v504"))) // set back: nothing
	require.NoError(t, st.Set("cursor", []byte("1000")))
	j := &job{c: r.c}
	var b store.Batch
	j.Prepare(&b)
	require.Equal(t, 3, b.Len(), "two records and the State name")
	require.NoError(t, r.db.Commit(&b))
	j.Done(nil)
	require.Equal(t, "new", string(r.storedRecord("recv", "alerts", "alert-0001")))
	require.Nil(t, r.storedRecord("recv", "alerts", "alert-0002"))
	require.Equal(t, 499, tb.Len())
	r.flush(tb) // durable: returns with the writer stopped

	// Unchanged and set back: no transaction.
	w2 := r.db.NewWriter(store.WriterOptions{Window: time.Millisecond})
	r.w, r.c.w = w2, w2
	require.NoError(t, tb.Set("alert-0001", []byte("new")))
	require.NoError(t, tb.Set("alert-0005", []byte("y")))
	require.NoError(t, tb.Set("alert-0005", []byte("v505")))
	commits := r.db.Counters().Commits
	r.startWriter()
	require.NoError(t, r.c.Close(context.Background()))
	r.stopWriter()
	require.Equal(t, commits, r.db.Counters().Commits, "no transaction for unchanged records")
}

// TestTablePersistence: records survive a reopen; Range gives them in key order,
// stops when asked and lets f use the table; tables of other sources and names, and
// State names, stay apart; a table is not read before it is opened.
func TestTablePersistence(t *testing.T) {
	path := t.TempDir() + "/q.db"
	r := newRig(t, path)
	r.startWriter()
	tb := r.table("recv", "alerts", adapters.TableLimits{})
	for _, k := range []string{"b", "a/x", "c", "a", "\xff", "gone"} {
		require.NoError(t, tb.Set(k, []byte("v-"+k)))
	}
	r.flush(tb)
	require.NoError(t, tb.Set("gone", nil))
	require.NoError(t, r.table("recv", "hb", adapters.TableLimits{}).Set("a", []byte("heartbeat")))
	require.NoError(t, r.table("recv2", "alerts", adapters.TableLimits{}).Set("a", []byte("other source")))
	require.NoError(t, r.c.For("recv").Set("alerts", []byte("state")))
	r.close()

	r = newRig(t, path)
	r.c.mu.Lock()
	require.Empty(t, r.c.tables, "Load reads no table")
	r.c.mu.Unlock()
	tb = r.table("recv", "alerts", adapters.TableLimits{})
	require.Equal(t, []string{"a=v-a", "a/x=v-a/x", "b=v-b", "c=v-c", "\xff=v-\xff"}, records(tb), "the delete made at shutdown is durable")
	require.Equal(t, "heartbeat", string(r.table("recv", "hb", adapters.TableLimits{}).Get("a")))
	require.Equal(t, "other source", string(r.table("recv2", "alerts", adapters.TableLimits{}).Get("a")))
	require.Equal(t, "state", string(r.c.For("recv").Get("alerts")))

	var seen []string
	r.startWriter()
	tb.Range(func(k string, v []byte) bool {
		seen = append(seen, k)
		require.NoError(t, tb.Set(k, nil)) // f may use the table: Range works on a snapshot
		return len(seen) < 2
	})
	require.Equal(t, []string{"a", "a/x"}, seen)
	require.Equal(t, 3, tb.Len())
	r.close()
}

// TestTableCommitFailure: a failed commit keeps the records pending, Flush waits,
// the retry writes the latest values, and Close names the table it could not save.
func TestTableCommitFailure(t *testing.T) {
	r := newRig(t, "")
	tb := r.table("recv", "alerts", adapters.TableLimits{})
	full := errors.New("no space left on device")
	r.db.SetCommitFault(func() error { return full })
	r.startWriter()
	require.NoError(t, tb.Set("a", []byte("1")))
	retry := <-r.retries
	require.NoError(t, tb.Set("a", []byte("2")))
	require.NoError(t, tb.Set("b", []byte("1")))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, tb.Flush(ctx), context.Canceled, "not durable yet")
	err := r.c.Close(ctx)
	require.ErrorContains(t, err, "state of recv table alerts not saved")

	r.db.SetCommitFault(nil)
	retry()
	r.flush(tb)
	require.Equal(t, "2", string(r.storedRecord("recv", "alerts", "a")))
	require.Equal(t, "1", string(r.storedRecord("recv", "alerts", "b")))
}

// TestTableConcurrent: Sets of many goroutines on tables and State while the writer
// commits; afterwards the store holds exactly what memory holds.
func TestTableConcurrent(t *testing.T) {
	path := t.TempDir() + "/q.db"
	r := newRig(t, path)
	r.startWriter()
	tb := r.table("recv", "alerts", adapters.TableLimits{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			st := r.c.For(fmt.Sprint("src", g))
			for i := range 500 {
				k := fmt.Sprintf("k%03d", (i*7+g)%300)
				v := fmt.Appendf(nil, "%d-%d", g, i)
				if i%5 == 4 {
					v = nil
				}
				require.NoError(t, tb.Set(k, v))
				require.NoError(t, st.Set("cursor", fmt.Appendf(nil, "%d", i)))
				if i%50 == 0 {
					r.flush(tb)
				}
			}
		})
	}
	wg.Wait()
	want := records(tb)
	r.close()

	r = newRig(t, path)
	require.Equal(t, want, records(r.table("recv", "alerts", adapters.TableLimits{})))
	for g := range 4 {
		require.Equal(t, "499", string(r.c.For(fmt.Sprint("src", g)).Get("cursor")))
	}
}

// TestTableLoadIgnoresForeignRecords: records the daemon would not write are left
// out, with one warning.
func TestTableLoadIgnoresForeignRecords(t *testing.T) {
	db := storetest.MustOpen(t)
	var b store.Batch
	b.SetCursor(TableKey("recv", "alerts", "ok"), []byte("1"))
	b.SetCursor(TableKey("recv", "alerts", "empty"), []byte{})
	b.SetCursor(TableKey("recv", "alerts", "nul\x00"), []byte("1"))
	b.SetCursor(TableKey("recv", "alerts.old", "x"), []byte("1"))
	require.NoError(t, db.Commit(&b))
	c, err := Load(db, db.NewWriter(store.WriterOptions{}), Options{})
	require.NoError(t, err)
	tb, err := c.Table("recv", "alerts", adapters.TableLimits{})
	require.NoError(t, err)
	require.Equal(t, []string{"ok=1"}, records(tb))
}

// TestMemory: Memory applies the rules, keeps records in memory, and never waits.
func TestMemory(t *testing.T) {
	c := Memory()
	tb, err := c.Table("src", "alerts", adapters.TableLimits{MaxEntries: 1})
	require.NoError(t, err)
	require.NoError(t, tb.Set("a", []byte("1")))
	require.ErrorIs(t, tb.Set("b", []byte("1")), adapters.ErrStateLimit)
	require.ErrorContains(t, tb.Set("", []byte("1")), "empty")
	require.Equal(t, "1", string(tb.Get("a")))
	require.NoError(t, tb.Flush(context.Background()))
	require.NoError(t, c.For("src").Set("cursor", []byte("1")))
	require.NoError(t, c.For("src").Flush(context.Background()))
	_, err = c.Table("src", "a/b", adapters.TableLimits{})
	require.Error(t, err)
	require.NoError(t, c.Close(context.Background()))
	require.ErrorIs(t, tb.Set("a", []byte("2")), ErrClosed)
}

func TestSplitTableKey(t *testing.T) {
	tests := []struct {
		name, source, table, key string
		ok                       bool
	}{
		{name: TableKey("recv", "alerts", "k"), source: "recv", table: "alerts", key: "k", ok: true},
		{name: TableKey("a.b", "t", "x/y/z"), source: "a.b", table: "t", key: "x/y/z", ok: true},
		{name: "table/recv/alerts/", ok: false},
		{name: "table/recv/alerts", ok: false},
		{name: "table//alerts/k", ok: false},
		{name: "table/recv//k", ok: false},
		{name: Key("recv", "alerts"), ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, table, key, ok := SplitTableKey(tc.name)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.source, src)
			require.Equal(t, tc.table, table)
			require.Equal(t, tc.key, key)
		})
	}
}
