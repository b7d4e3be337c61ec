package daemon

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	_ "github.com/edgerelay/edgerelay/adapters/all"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/daemon/config"
)

// reloadBase is the configuration the diff cases change, one key at a time.
const reloadBase = `
log: { level: info }
store: { path: /tmp/edgerelay-diff/q.db }
http: { listen: "127.0.0.1:8977" }
broker: { enabled: "false" }
sources:
  - { name: plant, type: mqtt, url: "tcp://10.0.0.1:1883", topics: ["a/#"], qos: 1 }
  - { name: yard, type: mqtt, url: "tcp://10.0.0.2:1883", topics: ["y/#"] }
sinks:
  - { name: hook, type: webhook, url: "http://10.0.0.9/in", auth_value: "s3cret-token-1" }
  - { name: console, type: stdout }
routes:
  - { from: [plant], to: [hook] }
  - { name: all, to: [console] }
`

func TestDiffConfig(t *testing.T) {
	t.Setenv("HOOK_PATH", "in")
	cases := []struct {
		name string
		edit func(string) string
		want configDiff
	}{
		{"the same file", nil, configDiff{}},
		{"entries moved and comments added: lines are not configuration", func(s string) string {
			s = strings.Replace(s, "sinks:\n", "# the targets\n\nsinks:\n", 1)
			return strings.Replace(s, `  - { name: hook, type: webhook, url: "http://10.0.0.9/in", auth_value: "s3cret-token-1" }
  - { name: console, type: stdout }`, `  - { name: console, type: stdout }
  - name: hook
    type: webhook
    url: "http://10.0.0.9/${HOOK_PATH}"
    auth_value: "s3cret-token-1"`, 1)
		}, configDiff{}},
		{"a sink's URL", func(s string) string { return strings.Replace(s, "10.0.0.9/in", "10.0.0.9/other", 1) },
			configDiff{Sinks: adapterDiff{Changed: []string{"hook"}}}},
		{"a sink's secret", func(s string) string { return strings.Replace(s, "s3cret-token-1", "s3cret-token-2", 1) },
			configDiff{Sinks: adapterDiff{Changed: []string{"hook"}}}},
		{"a sink's retry", func(s string) string {
			return strings.Replace(s, "auth_value: \"s3cret-token-1\" }", "auth_value: \"s3cret-token-1\", retry: { max: 5s } }", 1)
		}, configDiff{Sinks: adapterDiff{Changed: []string{"hook"}}}},
		{"a sink's type", func(s string) string {
			return strings.Replace(s, "{ name: console, type: stdout }", `{ name: console, type: webhook, url: "http://10.0.0.8/" }`, 1)
		}, configDiff{Sinks: adapterDiff{Changed: []string{"console"}}}},
		{"a sink added and one removed", func(s string) string {
			return strings.Replace(strings.Replace(s, "{ name: console, type: stdout }", "{ name: screen, type: stdout }", 1),
				"to: [console]", "to: [screen]", 1)
		}, configDiff{Sinks: adapterDiff{Added: []string{"screen"}, Removed: []string{"console"}}, Routes: true}},
		{"a source's topics", func(s string) string { return strings.Replace(s, `["y/#"]`, `["y/#", "z/#"]`, 1) },
			configDiff{Sources: adapterDiff{Changed: []string{"yard"}}}},
		{"a source's ack", func(s string) string { return strings.Replace(s, `qos: 1 }`, `qos: 1, ack: delivered }`, 1) },
			configDiff{Sources: adapterDiff{Changed: []string{"plant"}}}},
		{"a source removed", func(s string) string {
			return strings.Replace(s, `  - { name: yard, type: mqtt, url: "tcp://10.0.0.2:1883", topics: ["y/#"] }`+"\n", "", 1)
		}, configDiff{Sources: adapterDiff{Removed: []string{"yard"}}}},
		{"a route's filter", func(s string) string {
			return strings.Replace(s, "{ from: [plant], to: [hook] }", "{ from: [plant, yard], to: [hook] }", 1)
		},
			configDiff{Routes: true}},
		{"the log level", func(s string) string { return strings.Replace(s, "level: info", "level: debug", 1) },
			configDiff{LogLevel: "debug"}},
		{"the log format", func(s string) string { return strings.Replace(s, "level: info", "level: info, format: json", 1) },
			configDiff{Restart: []string{"log.format"}}},
		{"the HTTP listener and the store", func(s string) string {
			return strings.Replace(strings.Replace(s, "8977", "8978", 1), "/tmp/edgerelay-diff/q.db", "/tmp/edgerelay-diff/r.db", 1)
		}, configDiff{Restart: []string{"store.path", "http.listen"}}},
		{"the broker and the node", func(s string) string {
			return strings.Replace(s, `broker: { enabled: "false" }`, "broker: { enabled: \"false\", listen: \"127.0.0.1:1884\" }\nnode: { id: gw-7 }", 1)
		}, configDiff{Restart: []string{"node.id", "broker.listen"}}},
		{"the rejects policy", func(s string) string { return s + "rejects: { unrouted: dead_letter }\n" },
			configDiff{Restart: []string{"rejects.unrouted"}}},
	}
	old := parseDiff(t, reloadBase)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := reloadBase
			if c.edit != nil {
				y = c.edit(y)
				require.NotEqual(t, reloadBase, y, "the edit applies")
			}
			got := diffConfig(old, parseDiff(t, y))
			want := c.want
			want.Sinks.Unchanged = unchanged([]string{"hook", "console"}, want.Sinks)
			want.Sources.Unchanged = unchanged([]string{"plant", "yard"}, want.Sources)
			if c.name == "entries moved and comments added: lines are not configuration" {
				want.Sinks.Unchanged = []string{"console", "hook"} // the new file's order
			}
			require.Equal(t, want, got)
		})
	}
}

// unchanged is names less what d adds, changes or removes.
func unchanged(names []string, d adapterDiff) []string {
	var out []string
	for _, n := range names {
		if !contains(d.Added, n) && !contains(d.Changed, n) && !contains(d.Removed, n) {
			out = append(out, n)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func parseDiff(t *testing.T, y string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(y), "diff.yaml")
	require.NoError(t, err)
	return cfg
}

func TestReloadSummary(t *testing.T) {
	for _, c := range []struct {
		d    configDiff
		want string
	}{
		{configDiff{}, "sinks unchanged; sources unchanged; routes unchanged"},
		{configDiff{Sinks: adapterDiff{Changed: []string{"hook"}, Added: []string{"console"}, Unchanged: []string{"x"}}},
			"sinks hook (changed), console (added); sources unchanged; routes unchanged"},
		{configDiff{Sources: adapterDiff{Removed: []string{"plant"}}, Routes: true, LogLevel: "debug",
			Restart: []string{"store.path", "http.listen"}},
			"sinks unchanged; sources plant (removed); routes changed; log.level debug; needs a restart: store.path, http.listen"},
	} {
		require.Equal(t, c.want, c.d.summary(), fmt.Sprintf("%+v", c.d))
	}
}

// TestLiveConfigHoldsServingSources: a source held back by a reload (it serves HTTP)
// stays in the running configuration as it runs, so that the next reload compares
// the file with it.
func TestLiveConfigHoldsServingSources(t *testing.T) {
	old := parseDiff(t, reloadBase)
	cur := parseDiff(t, strings.Replace(strings.Replace(reloadBase, `["y/#"]`, `["y/#", "z/#"]`, 1),
		"8977", "8978", 1))
	df := diffConfig(old, cur)
	df.Sources.Changed = nil // held
	live := liveConfig(old, cur, df)
	require.Equal(t, old.HTTP, live.HTTP, "the listener runs as it was")
	require.Len(t, live.Sources, 2)
	require.Equal(t, []string{"y/#"}, live.Sources[1].Settings.(adapters.BrokerSubscriber).BrokerSubscription().Topics)
}

// TestDiffSamplesUnchanged loads each adapter's sample configuration twice: a
// reload of an unchanged file must swap nothing, whatever an adapter's decoded
// settings hold.
func TestDiffSamplesUnchanged(t *testing.T) {
	for _, f := range adapters.Registered() {
		if f.Sample == "" || f.Dir == adapters.DirTransform {
			continue
		}
		t.Run(string(f.Dir)+"/"+f.Type, func(t *testing.T) {
			var entry strings.Builder
			fmt.Fprintf(&entry, "  - name: sample\n    type: %s\n", f.Type)
			for line := range strings.Lines(f.Sample) {
				entry.WriteString("    " + line)
			}
			if !strings.HasSuffix(f.Sample, "\n") {
				entry.WriteString("\n")
			}
			doc := "store: { path: " + t.TempDir() + "/q.db }\nhttp: { listen: 127.0.0.1:0 }\nbroker: { enabled: \"false\" }\n"
			if f.Dir == adapters.DirSource {
				doc += "sources:\n" + entry.String() + "sinks:\n  - { name: console, type: stdout }\nroutes:\n  - to: [console]\n"
			} else {
				doc += "sinks:\n" + entry.String() + "routes:\n  - to: [sample]\n"
			}
			a, err := config.Parse([]byte(doc), "a.yaml")
			if err != nil {
				t.Skipf("the sample needs its environment (files, variables): %v", err)
			}
			b, err := config.Parse([]byte(doc), "a.yaml")
			require.NoError(t, err)
			df := diffConfig(a, b)
			require.False(t, df.Sinks.touched() || df.Sources.touched() || df.Routes || len(df.Restart) > 0,
				"an unchanged file changes: %s", df.summary())
		})
	}
}

// TestCheckServingFindsHTTPSources: the dry check tells which sources serve HTTP
// (the ilert_http API on the daemon's listener), which a reload holds back.
func TestCheckServingFindsHTTPSources(t *testing.T) {
	cfg := parseDiff(t, `
store: { path: /tmp/edgerelay-diff/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sources:
  - { name: plant, type: mqtt, url: "tcp://10.0.0.1:1883", topics: ["a/#"] }
  - { name: ingest, type: ilert_http }
sinks: [ { name: console, type: stdout } ]
routes: [ { to: [console] } ]
`)
	serving, err := checkServing(cfg, clock.Real)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"plant": false, "ingest": true}, serving)
}

// TestBuildSourceLeavesReadiness: building a source (which a reload does before it
// may still be refused) raises none of its conditions; starting it does.
func TestBuildSourceLeavesReadiness(t *testing.T) {
	base := strings.Replace(reloadBase, "/tmp/edgerelay-diff", t.TempDir(), 1)
	d, err := New(Options{Config: parseDiff(t, base)})
	require.NoError(t, err)
	cur := parseDiff(t, strings.Replace(base, "sources:\n",
		"sources:\n  - { name: newcomer, type: mqtt, url: \"tcp://10.0.0.3:1883\", topics: [\"n/#\"] }\n", 1))
	_, err = d.buildSource(cur.Sources[0])
	require.NoError(t, err)
	for _, c := range d.health.Snapshot() {
		require.NotEqual(t, "source:newcomer", c.Component, "a built source that never started reports nothing")
	}
}
