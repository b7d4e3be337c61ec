package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// TestPrint: the effective configuration loads again to the same configuration
// (defaults, adapters' settings, a route transform and the events block), shows the
// defaults, and never shows a secret field's value.
func TestPrint(t *testing.T) {
	t.Cleanup(secret.Default.Reset)
	withEventsEnv(t, map[string]string{"EVENT_BROKER_ENABLED": "true", "EVENT_BROKER_ADAPTER": "redis",
		"EVENT_BROKER_REDIS_URL": "redis://127.0.0.1:6379/0"})
	y := strings.Replace(good, "url: http://127.0.0.1:9/x", "url: http://127.0.0.1:9/x\n    auth_value: Bearer Print-Secret-8u7y6t", 1) + `
  - from: [plant]
    to: [hook]
    transform: { type: ilert, event_topic: plant/events }
`
	cfg, err := Parse([]byte(y), "x.yaml")
	require.NoError(t, err)
	out, err := Print(cfg)
	require.NoError(t, err)
	text := string(out)
	require.NotContains(t, text, "Print-Secret-8u7y6t")
	for _, want := range []string{"commit_window: 3ms", "deliver_window: 500ms", "max_attempts: 10", "name: hook", "type: webhook",
		"auth_value: '***'", "transform:", "type: ilert", "redis:", "adapter: redis"} {
		require.Contains(t, text, want)
	}
	again, err := Parse(out, "printed.yaml")
	require.NoError(t, err, "%s", out)
	require.Equal(t, cfg.Store, again.Store)
	require.Equal(t, cfg.HTTP, again.HTTP)
	require.Equal(t, len(cfg.Sinks), len(again.Sinks))
	require.Equal(t, cfg.Sinks[0].Retry, again.Sinks[0].Retry)
	require.Equal(t, cfg.Events.Spec.Name, again.Events.Spec.Name)
	require.Equal(t, cfg.Routes[1].Transform.Type, again.Routes[1].Transform.Type)
}
