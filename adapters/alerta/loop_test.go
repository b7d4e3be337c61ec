package alerta

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoopAppend(t *testing.T) {
	for _, tc := range []struct{ header, id, want string }{
		{"", "http://127.0.0.1:18080", "http://127.0.0.1:18080"},
		{"http://upstream:9999", "http://127.0.0.1:18080", "http://upstream:9999,http://127.0.0.1:18080"},
		{"http://127.0.0.1:18081", "http://127.0.0.1:18080", "http://127.0.0.1:18081,http://127.0.0.1:18080"},
		{"http://a", "", "http://a"},
	} {
		require.Equal(t, tc.want, LoopAppend(tc.header, tc.id))
	}
}

func TestLoopReceive(t *testing.T) {
	const id = "http://127.0.0.1:18080"
	for _, tc := range []struct {
		name, header, id string
		strict, compat   bool
	}{
		{"absent", "", id, false, false},
		{"empty identity", "http://127.0.0.1:18080", "", false, false},
		{"self", "http://127.0.0.1:18080", id, true, true},
		{"self last", "http://upstream:9999,http://127.0.0.1:18080", id, true, true},
		{"self first", "http://127.0.0.1:18080,http://upstream:9999", id, true, true},
		{"other", "http://127.0.0.1:18081", id, false, false},
		// §3.3: Alerta's substring test matches these; the element test does not.
		{"longer port", "http://127.0.0.1:180801", id, false, true},
		{"scheme prefix and path", "xhttp://127.0.0.1:18080/api", id, false, true},
		// A proper superstring of a header entry matches neither way.
		{"superstring identity", "http://127.0.0.1:1808", id, false, false},
		{"superstring identity path", "http://127.0.0.1:18080", id + "/api", false, false},
		{"trailing slash in header", "http://127.0.0.1:18080/", id, true, true},
		{"trailing slash in identity", "http://127.0.0.1:18080", id + "/", true, false},
		{"flask url_root form", "http://127.0.0.1:18082/,http://localhost:18082/", "http://localhost:18082", true, true},
		{"spaces after commas", "http://upstream:9999, http://127.0.0.1:18080", id, true, true},
		{"spaces around", " http://127.0.0.1:18080 ,x", id, true, true},
		{"case of scheme and host", "HTTP://GW-Hall3:8977/alerta", "http://gw-hall3:8977/alerta", true, false},
		{"case of path matters", "http://gw:8977/Alerta", "http://gw:8977/alerta", false, false},
		{"prefix path", "http://gw:8977/alerta", "http://gw:8977", false, true},
		{"not a URL", "gw1,gw2", "gw2", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.strict, LoopHas(tc.header, tc.id), "LoopHas")
			require.Equal(t, tc.compat, LoopHasCompat(tc.header, tc.id), "LoopHasCompat")
			require.Equal(t, tc.strict || tc.compat, LoopSkip(tc.header, tc.id), "LoopSkip")
		})
	}
}

// TestLoopConformance is §7.1's T1, T4 and T5 (BASE_URL http://localhost:8080,
// destinations :9000 to :9003) through these functions.
func TestLoopConformance(t *testing.T) {
	const self = "http://localhost:8080"
	dests := []string{"http://localhost:9000", "http://localhost:9001", "http://localhost:9002", "http://localhost:9003"}

	// T1: an alert looped through :5000 only is stored and forwarded everywhere.
	in := "http://localhost:5000"
	require.False(t, LoopHas(in, self))
	for _, d := range dests {
		require.False(t, LoopSkip(in, d), d)
	}
	require.Equal(t, "http://localhost:5000,http://localhost:8080", LoopAppend(in, self))

	// T4: this node is already in the header: a loop (202), nothing forwarded.
	in = "http://localhost:8080,http://localhost:5000"
	require.True(t, LoopHas(in, self))
	require.True(t, LoopHasCompat(in, self))

	// T5: every destination is in the header: stored (no loop here), none sent.
	in = "http://localhost:9000,http://localhost:9001,http://localhost:9002,http://localhost:9003"
	require.False(t, LoopHas(in, self))
	require.False(t, LoopHasCompat(in, self))
	for _, d := range dests {
		require.True(t, LoopSkip(in, d), d)
	}
}
