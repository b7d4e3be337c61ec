package alerta

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// checkBook verifies that every index of b agrees with its nodes: the dedup key,
// correlation sets, prefix pairs and the age heaps hold exactly the stored alerts.
func checkBook(t *testing.T, b *Book) {
	t.Helper()
	require.LessOrEqual(t, len(b.nodes), b.max)
	require.Equal(t, len(b.nodes), len(b.byKey), "one dedup key per alert")
	require.Equal(t, len(b.nodes), len(b.closedAge)+len(b.openAge))
	pairs := 0
	b.prefix.ascendPrefix("", func(key, id string) bool {
		n := b.nodes[id]
		require.NotNil(t, n, "prefix pair of a gone alert %s", id)
		require.True(t, key == strings.ToLower(n.st.ID) || key == strings.ToLower(n.st.LastReceiveID))
		pairs++
		return true
	})
	want := 0
	for id, n := range b.nodes {
		st := n.st
		require.Equal(t, id, st.ID)
		require.Same(t, n, b.byKey[dedupIndexKey{st.Environment, st.Resource, st.Event, customerKey(st.Customer)}])
		for i, ev := range n.corr {
			require.Same(t, n, b.byCorr[corrIndexKey{st.Environment, st.Resource, customerKey(st.Customer), ev}][n.corrAt[i]])
		}
		for _, ev := range st.Correlate {
			require.Contains(t, n.corr, ev)
		}
		h := b.openAge
		if n.closed {
			h = b.closedAge
		}
		require.Equal(t, evictable(st.Status), n.closed)
		require.Same(t, n, h[n.hi])
		want++
		if strings.ToLower(st.ID) != strings.ToLower(st.LastReceiveID) {
			want++
		}
		_, ok := SeverityCode(st.Severity)
		require.True(t, ok)
		enc, err := st.MarshalBinary()
		require.NoError(t, err)
		var back Stored
		require.NoError(t, back.UnmarshalBinary(enc))
		require.Equal(t, *st, back)
	}
	require.Equal(t, want, pairs)
	for _, list := range b.byCorr {
		require.NotEmpty(t, list)
		for _, n := range list {
			require.Same(t, n, b.nodes[n.st.ID])
		}
	}
	for _, h := range []ageHeap{b.closedAge, b.openAge} {
		for i := 1; i < len(h); i++ {
			require.False(t, h.Less(i, (i-1)/2), "heap order")
		}
	}
}

// TestRandomOperations runs long random sequences of receives, actions, deletes,
// loads and evictions over a small key space (so that duplicates, correlations
// and id clashes are frequent) and checks the indexes after every step.
func TestRandomOperations(t *testing.T) {
	sevs := Severities()
	actions := []string{"open", "ack", "unack", "shelve", "unshelve", "close", "expired", "timeout", "assign", "createIssue"}
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			b := NewBook(8)
			now := t0
			for step := 0; step < 300; step++ {
				now = now.Add(time.Duration(r.IntN(3)) * time.Second)
				switch op := r.IntN(10); {
				case op < 6:
					a := testAlert(fmt.Sprintf("ID-%d", r.IntN(40)), fmt.Sprintf("r%d", r.IntN(4)), fmt.Sprintf("e%d", r.IntN(3)), sevs[r.IntN(len(sevs))])
					if r.IntN(3) == 0 {
						a.Correlate = []string{"e0", "e1", "e2"}[:1+r.IntN(3)]
					}
					if r.IntN(4) == 0 {
						a.Customer = strp("c")
					}
					a.Tags = []string{fmt.Sprintf("t%d", r.IntN(5))}
					a.Attributes = []byte(fmt.Sprintf(`{"k%d":%d}`, r.IntN(5), step))
					prev, kind := b.Match(a)
					st, got, ev, err := b.Receive(a, now)
					if err != nil {
						require.Equal(t, 500, err.Code, err.Message)
						require.Equal(t, KindNew, kind)
						break
					}
					require.Equal(t, kind, got)
					if prev != nil {
						require.Equal(t, prev.ID, st.ID)
						require.Empty(t, ev)
					}
					require.Equal(t, a.ID, st.LastReceiveID)
					for _, id := range ev {
						_, ok := b.Get(id)
						require.False(t, ok)
					}
				case op < 8:
					all := b.All()
					if len(all) == 0 {
						break
					}
					cur := all[r.IntN(len(all))]
					ref := cur.ID
					if r.IntN(2) == 0 {
						ref = strings.ToLower(cur.LastReceiveID)
					}
					st, _, err := b.Act(ref, &Action{Action: actions[r.IntN(len(actions))]}, now)
					if err != nil {
						require.Contains(t, []int{404, 409}, err.Code)
						break
					}
					_, ok := b.Get(st.ID)
					require.True(t, ok)
				case op < 9:
					all := b.All()
					if len(all) == 0 {
						break
					}
					del, ok := b.Delete(all[r.IntN(len(all))].ID)
					require.True(t, ok)
					if r.IntN(2) == 0 {
						b.Load(del) // undo
					}
				default:
					// Restore the whole book from its encodings, as after a restart.
					nb := NewBook(8)
					for _, st := range b.All() {
						enc, err := st.MarshalBinary()
						require.NoError(t, err)
						var back Stored
						require.NoError(t, back.UnmarshalBinary(enc))
						require.Empty(t, nb.Load(&back))
					}
					require.Equal(t, b.All(), nb.All())
					b = nb
				}
				checkBook(t, b)
			}
		})
	}
}
