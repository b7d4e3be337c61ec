package edge

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	_ "github.com/edgerelay/edgerelay/adapters/stdout"
	"github.com/edgerelay/edgerelay/daemon/config"
)

// In HA mode the daemon makes the source ack: delivered (adapters.AckRequirer);
// without cluster_id the ack key decides (stored by default).
func TestHARequiresAckDelivered(t *testing.T) {
	doc := func(extra string) []byte {
		return []byte("store: { path: " + filepath.Join(t.TempDir(), "q.db") + " }\n" +
			"sources:\n  - name: edge\n    type: ilert_edge\n    key: k1\n" + extra +
			"sinks:\n  - name: out\n    type: stdout\nroutes:\n  - to: [out]\n")
	}
	cfg, err := config.Parse(doc(""), "a.yaml")
	require.NoError(t, err)
	require.NotEqual(t, config.AckDelivered, cfg.Sources[0].Ack)

	cfg, err = config.Parse(doc("    cluster_id: plant-7\n"), "b.yaml")
	require.NoError(t, err)
	require.Equal(t, config.AckDelivered, cfg.Sources[0].Ack)

	_, err = config.Parse(doc("    cluster_id: plant-7\n    ack: stored\n"), "c.yaml")
	require.ErrorContains(t, err, "requires ack: delivered")

	_, err = config.Parse(doc("    poll_interval: 1ms\n"), "d.yaml")
	require.ErrorContains(t, err, "poll_interval")
}
