package httpc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHeaderValue(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"https://a.example/,b\tc", "https://a.example/,b\tc"},
		{"a\r\nX-Evil: 1", "a  X-Evil: 1"},
		{"nul\x00del\x7f", "nul del "},
		{"é\x01", "é "},
	} {
		require.Equal(t, c.want, HeaderValue(c.in), "%q", c.in)
		require.Equal(t, c.in == c.want, ValidHeaderValue(c.in), "%q", c.in)
	}
}
