package memtable

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTableCopiesDeletesAndRangesInKeyOrder(t *testing.T) {
	tb := New()
	v := []byte("1")
	for _, k := range []string{"b", "c", "a"} {
		require.NoError(t, tb.Set(k, v))
	}
	v[0] = 'X'
	got := tb.Get("a")
	require.Equal(t, "1", string(got))
	got[0] = 'Y'
	require.Equal(t, "1", string(tb.Get("a")), "Get returns a copy")
	require.NoError(t, tb.Set("c", nil))
	require.Nil(t, tb.Get("c"))
	var keys []string
	tb.Range(func(k string, _ []byte) bool { keys = append(keys, k); return true })
	require.Equal(t, []string{"a", "b"}, keys)
	require.Equal(t, 2, tb.Len())
	require.NoError(t, tb.Flush(t.Context()))
}
