//go:build edgerelay_omit_gpio

package gpio

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOmitted: built with the omit tag, Open refuses every line with the error that
// names the tag (run with go test -tags edgerelay_omit_gpio).
func TestOmitted(t *testing.T) {
	require.False(t, Built)
	_, err := Open(Options{Chip: "gpiochip0", Line: "GPIO17"})
	require.ErrorIs(t, err, ErrOmitted)
	require.EqualError(t, err, "this edgerelay was built without the GPIO backend (build tag edgerelay_omit_gpio)")
}
