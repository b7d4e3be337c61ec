package receiver_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters/alerta/receiver"
)

// TestSampleDecodesAndValidates: sample.yaml decodes strictly into Config and
// passes Validate, so the documented example works.
func TestSampleDecodesAndValidates(t *testing.T) {
	b, err := os.ReadFile("sample.yaml")
	require.NoError(t, err)
	c := receiver.DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c))
	require.NoError(t, c.Validate())
	require.Equal(t, "http://gw-hall3:8977/alerta", c.LoopIdentity())
	require.Len(t, c.Auth.Hawk, 1)
	require.Len(t, c.Auth.Basic, 1)
}
