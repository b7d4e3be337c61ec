package httpc

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHeader(t *testing.T) {
	b := NewHeader(2)
	b.Set("User-Agent", "a")
	b.Set("X-One", "1")
	b.Set("User-Agent", "b") // replaces
	b.Set("X-Two", "2")      // past the size given
	h := b.Header()
	require.Equal(t, http.Header{"User-Agent": {"b"}, "X-One": {"1"}, "X-Two": {"2"}}, h)
	h.Add("X-One", "more") // must not overwrite the neighbouring value
	require.Equal(t, []string{"1", "more"}, h["X-One"])
	require.Equal(t, []string{"2"}, h["X-Two"])
	require.Equal(t, "b", h.Get("User-Agent"))
}
