//go:build linux

package main

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	_ "github.com/edgerelay/edgerelay/adapters/all"
	"github.com/edgerelay/edgerelay/daemon/config"
)

// TestConfigsLoad checks every generated configuration against the daemon's own
// strict loader, so a change there fails here rather than in the middle of a run.
func TestConfigsLoad(t *testing.T) {
	for _, o := range []cfgOpts{{}, {noSync: true}, {brokerOff: true}, {fastRetry: true}} {
		d := &daemon{dir: t.TempDir(), httpAddr: "127.0.0.1:18977", brokerAddr: "127.0.0.1:18883"}
		cfg, err := config.Parse([]byte(configYAML(d, "http://127.0.0.1:9/ingest", o)), "bench.yaml")
		require.NoError(t, err, "%+v", o)
		require.Equal(t, o.noSync, cfg.Store.UnsafeNoSync)
		require.Len(t, cfg.Sources, map[bool]int{false: 1, true: 0}[o.brokerOff])
	}
}

func TestPercentiles(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct{ p, want float64 }{{0.5, 5}, {0.99, 10}, {1, 10}, {0, 1}, {0.1, 1}, {0.11, 2}} {
		require.Equal(t, tc.want, pct(xs, tc.p), "p=%v", tc.p)
	}
	require.True(t, math.IsNaN(pct(nil, 0.5)))
	require.Equal(t, 2.0, median([]float64{3, 1, 2}))
	require.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	require.True(t, math.IsNaN(median(nil)))
}

func TestPayload(t *testing.T) {
	p := payload(0xabcdef01, 65)
	require.Contains(t, string(p), `"id":"abcdef01-0000-4000-8000-000000000065","key":"k1"`)
	require.InDelta(t, 215, len(p), 10)
}
