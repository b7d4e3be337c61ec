package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta/forward"
)

// loopSourceConfig is a source config naming this node, as the alerta receiver's
// base_url does.
type loopSourceConfig struct {
	BaseURL string `yaml:"base_url"`
}

func (c *loopSourceConfig) LoopIdentity() string { return c.BaseURL }

var _ adapters.LoopIdentifier = (*loopSourceConfig)(nil)

// TestLoopIdentity: an alerta sink on a node with no loop identity is refused at
// the sink's line; origin on the sink makes it valid, and so does an alerta source,
// whose base_url the sink then takes.
func TestLoopIdentity(t *testing.T) {
	const head = `
store: { path: /tmp/x/queue.db }
broker: { enabled: "false" }
`
	const mqttSource = `
  - name: plant
    type: mqtt
    url: tcp://10.0.0.1:1883
    topics: ["plant/#"]
`
	sinks := func(origin string) string {
		return `
sinks:
  - name: console
    type: stdout
  - name: hq
    type: alerta
    url: https://hq.example.com/api
    forward: ["alerts", "actions"]
    api_key: demo-key` + origin + `
routes:
  - to: [hq, console]
`
	}
	tests := []struct {
		name    string
		sources string
		origin  string
		problem string // "" for valid
		want    string // the sink's origin when valid
	}{
		{"no identity", mqttSource, "", `line 13: sink "hq" (alerta): origin: this node forwards to Alerta but has no loop identity: set origin or add an alerta source with base_url`, ""},
		{"origin on the sink", mqttSource, "\n    origin: http://gw-7:8977", "", "http://gw-7:8977"},
		{"an alerta source gives its base_url", mqttSource + `
  - name: federation
    type: alerta
    base_url: http://gw-hall3:8977/alerta
`, "", "", "http://gw-hall3:8977/alerta"},
		{"origin wins over the alerta source", `
  - name: federation
    type: alerta
    base_url: http://gw-hall3:8977/alerta
`, "\n    origin: http://gw-7:8977", "", "http://gw-7:8977"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(head+"sources:"+tc.sources+sinks(tc.origin)), "test.yaml")
			if tc.problem != "" {
				require.Error(t, err)
				var cerr *Error
				require.ErrorAs(t, err, &cerr)
				require.Len(t, cerr.Problems, 1, strings.Join(cerr.Problems, "\n"))
				require.Equal(t, tc.problem, cerr.Problems[0])
				return
			}
			require.NoError(t, err)
			var hq *forward.Config
			for _, s := range cfg.Sinks {
				if s.Name == "hq" {
					hq = s.Settings.(*forward.Config)
				}
			}
			require.NotNil(t, hq)
			require.Equal(t, tc.want, hq.Origin)
		})
	}
}

// TestLoopIdentityFromSources: the sink takes the first identity of the sources that
// name one, in config order; its own origin wins. (A source type registered here
// would have to pass TestAdapterDocs, so the sources are built in code.)
func TestLoopIdentityFromSources(t *testing.T) {
	sources := []Adapter{
		{Name: "plant", Type: "mqtt", Settings: &struct{}{}},
		{Name: "empty", Type: "test", Settings: &loopSourceConfig{}},
		{Name: "fed", Type: "test", Settings: &loopSourceConfig{BaseURL: "http://gw-hall3:8977/alerta"}},
		{Name: "fed2", Type: "test", Settings: &loopSourceConfig{BaseURL: "http://gw-other:8977"}},
	}
	hq := &forward.Config{}
	own := &forward.Config{Origin: "http://gw-7:8977"}
	c := &Config{Sources: sources, Sinks: []Adapter{{Name: "hq", Type: "alerta", Settings: hq, Line: 9}, {Name: "own", Type: "alerta", Settings: own}}}
	require.Empty(t, c.useLoopIdentities())
	require.Equal(t, "http://gw-hall3:8977/alerta", hq.Origin)
	require.Equal(t, "http://gw-7:8977", own.Origin)

	c = &Config{Sources: sources[:2], Sinks: []Adapter{{Name: "hq", Type: "alerta", Settings: &forward.Config{}, Line: 9}}}
	require.Equal(t, []string{`line 9: sink "hq" (alerta): ` + forward.ErrNoOrigin.Error()}, c.useLoopIdentities())
}
