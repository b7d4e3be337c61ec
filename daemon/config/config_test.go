package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	_ "github.com/edgerelay/edgerelay/adapters/all"
	"github.com/edgerelay/edgerelay/adapters/mqtt"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
)

const good = `
store: { path: /tmp/x/queue.db, commit_window: 3ms }
http: { listen: 127.0.0.1:0 }
broker: { enabled: "false" }
sources:
  - name: plant
    type: mqtt
    url: tcp://10.0.0.1:1883
    topics: ["plant/+/alarms"]
    qos: 1
sinks:
  - name: hook
    type: webhook
    url: http://127.0.0.1:9/x
    retry: { initial: 2s, max: 30s, max_attempts: 10 }
  - name: console
    type: stdout
routes:
  - from: [plant]
    topics: ["plant/#"]
    to: [hook, console]
`

func TestParseGood(t *testing.T) {
	cfg, err := Parse([]byte(good), "good.yaml")
	require.NoError(t, err)
	require.Equal(t, 3*time.Millisecond, cfg.Store.CommitWindow)
	require.Equal(t, 1024, cfg.Store.MaxBatch, "defaults fill what the file leaves out")
	require.Len(t, cfg.Sources, 1)
	mc, ok := cfg.Sources[0].Settings.(*mqtt.Config)
	require.True(t, ok)
	require.Equal(t, []string{"plant/+/alarms"}, mc.Topics)
	require.Equal(t, pipeline.Retry{Initial: 2 * time.Second, Max: 30 * time.Second, MaxAttempts: 10}, cfg.Sinks[0].Retry)
	require.Equal(t, "route-0", cfg.Routes[0].Name)
}

func TestParseTransformAndAck(t *testing.T) {
	y := strings.Replace(good, "qos: 1", "qos: 1\n    ack: delivered", 1) +
		"    transform:\n      type: ilert\n      event_topic: plant/+/alarms\n"
	cfg, err := Parse([]byte(y), "x.yaml")
	require.NoError(t, err)
	require.Equal(t, AckDelivered, cfg.Sources[0].Ack)
	tr := cfg.Routes[0].Transform
	require.NotNil(t, tr)
	require.Equal(t, "ilert", tr.Type)
	require.Equal(t, pipeline.DeadLetter, cfg.Rejects.Invalid)
}

// TestOldMaxInflightSpelling: the mqtt and kafka sources once spelled max_in_flight
// max_inflight. The old key still works, with a warning; both at once is a problem.
func TestOldMaxInflightSpelling(t *testing.T) {
	cfg, err := Parse([]byte(strings.Replace(good, "qos: 1", "qos: 1\n    max_inflight: 7", 1)), "old.yaml")
	require.NoError(t, err)
	require.Equal(t, 7, cfg.Sources[0].Settings.(*mqtt.Config).MaxInflight)
	require.Equal(t, []string{`line 11: "max_inflight" in sources[0] (mqtt "plant") is the old spelling of "max_in_flight"; it still works, but write "max_in_flight"`},
		cfg.Warnings)

	cfg, err = Parse([]byte(strings.Replace(good, "qos: 1", "qos: 1\n    max_in_flight: 7", 1)), "new.yaml")
	require.NoError(t, err)
	require.Equal(t, 7, cfg.Sources[0].Settings.(*mqtt.Config).MaxInflight)
	require.Empty(t, cfg.Warnings)

	_, err = Parse([]byte(strings.Replace(good, "qos: 1", "qos: 1\n    max_inflight: 7\n    max_in_flight: 8", 1)), "both.yaml")
	require.ErrorContains(t, err, `line 11: sources[0] (mqtt "plant") gives both "max_inflight" and "max_in_flight"`)
}

// TestRequireAck: a source type that declares it requires delivered is unbuffered
// without an ack key, and `ack: stored` for it is refused with the key's line.
func TestRequireAck(t *testing.T) {
	f := &adapters.Factory{Type: "poller", Dir: adapters.DirSource, Ack: adapters.AckDelivered}
	a := Adapter{}
	require.Empty(t, requireAck(&a, f, "line 3: sources[0].ack"))
	require.Equal(t, AckDelivered, a.Ack)
	a = Adapter{Ack: AckDelivered}
	require.Empty(t, requireAck(&a, f, "line 3: sources[0].ack"))
	a = Adapter{Ack: AckStored}
	require.Equal(t, "line 3: sources[0].ack: source type poller requires ack: delivered (it acknowledges upstream only what was delivered)",
		requireAck(&a, f, "line 3: sources[0].ack"))
	free := &adapters.Factory{Type: "mqtt", Dir: adapters.DirSource}
	a = Adapter{}
	require.Empty(t, requireAck(&a, free, "x"))
	require.Empty(t, a.Ack, "a source without a requirement keeps its ack key")
}

func TestDefaultConfigIsValid(t *testing.T) {
	cfg, err := LoadDefault()
	require.NoError(t, err)
	require.Equal(t, "edgerelay-state/queue.db", cfg.Store.Path)
	require.Equal(t, "127.0.0.1:8977", cfg.HTTP.Listen)
}

func TestShippedConfigIsValid(t *testing.T) {
	p := filepath.Join("..", "..", "rootfs", "etc", "edgerelay", "edgerelay.yaml")
	if _, err := os.Stat(p); err != nil {
		// Only a copy of the package without the repository around it (a module
		// download, a vendored tree) lacks the file.
		adaptertest.Missing(t, "the shipped configuration %s is not here: %v", p, err)
	}
	_, err := Load(p)
	require.NoError(t, err)
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, each must appear
	}{
		{"unknown top-level key with line", "stor: {}\n" + good, []string{`line 1: unknown key "stor"`, `did you mean "store"`}},
		{"unknown adapter key", strings.Replace(good, "qos: 1", "qos: 1\n    tpoics: [a]", 1),
			[]string{`line 11: unknown key "tpoics" in sources[0] (mqtt "plant")`, `did you mean "topics"`}},
		{"bad value type", strings.Replace(good, "commit_window: 3ms", "commit_window: soon", 1), []string{"line 2", "soon"}},
		{"unknown sink type", strings.Replace(good, "type: stdout", "type: stdot", 1), []string{`type "stdot" is not a known sink`, `did you mean "stdout"`}},
		{"route to missing sink", strings.Replace(good, "to: [hook, console]", "to: [hook, consol]", 1), []string{`no sink named "consol"`, `did you mean "console"`}},
		{"route from missing source", strings.Replace(good, "from: [plant]", "from: [plnt]", 1), []string{`no source named "plnt"`}},
		{"bad filter", strings.Replace(good, `topics: ["plant/#"]`, `topics: ["plant/#/x"]`, 1), []string{"not a valid MQTT topic filter"}},
		{"adapter validation", strings.Replace(good, "url: http://127.0.0.1:9/x", "url: ''", 1), []string{"sinks[0] (webhook \"hook\")"}},
		{"duplicate names", strings.Replace(good, "name: console", "name: hook", 1), []string{`sink name "hook" is used twice`}},
		{"bad policy", good + "rejects: { unrouted: keep }\n", []string{`rejects.unrouted: "keep"`}},
		{"bad log level", good + "log: { level: loud }\n", []string{`log.level: "loud"`}},
		{"unset env var", strings.Replace(good, "url: http://127.0.0.1:9/x", "url: ${EDGERELAY_TEST_UNSET_VAR}", 1),
			[]string{"EDGERELAY_TEST_UNSET_VAR is not set"}},
		{"not yaml", "sources: [\n", []string{"line"}},
		{"unknown transform", good + "    transform: { type: ilrt }\n", []string{`type "ilrt" is not a known transform`, `did you mean "ilert"`}},
		{"unknown transform key", good + "    transform: { type: ilert, event_topic: a, evnt_key: x }\n",
			[]string{`unknown key "evnt_key" in routes[0].transform (ilert)`, `did you mean "event_key"`}},
		{"transform validation", good + "    transform: { type: ilert, consumer: amqp }\n",
			[]string{`routes[0].transform (ilert): consumer: must be mqtt or kafka`, "at least one of event_topic"}},
		{"bad ack", strings.Replace(good, "qos: 1", "qos: 1\n    ack: never", 1), []string{`sources[0].ack: "never" is not one of stored, delivered`}},
		{"bad invalid policy", good + "rejects: { invalid: keep }\n", []string{`rejects.invalid: "keep"`}},
		{"empty", "", []string{"empty"}},
		{"omitted sink type", strings.Replace(good, "type: stdout", "type: omitted_sink", 1),
			[]string{`sinks[1] (omitted_sink "console"): type "omitted_sink": this edgerelay was built without the omitted_sink sink (build tag edgerelay_omit_test)`}},
		{"omitted transform type", good + "    transform: { type: omitted_transform }\n",
			[]string{`transform: type "omitted_transform": this edgerelay was built without the omitted_transform transform (build tag edgerelay_omit_test)`}},
	}
	// As adapters/all does for an omit build tag.
	adapters.RegisterOmitted(adapters.DirSink, "omitted_sink", "edgerelay_omit_test")
	adapters.RegisterOmitted(adapters.DirTransform, "omitted_transform", "edgerelay_omit_test")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "x.yaml")
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	y := strings.Replace(good, "stdout", "nope", 1) + "log: { level: loud }\nbogus: 1\n"
	_, err := Parse([]byte(y), "x.yaml")
	require.Error(t, err)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	require.GreaterOrEqual(t, len(ce.Problems), 3)
}

func TestInterpolation(t *testing.T) {
	old := envLookup
	t.Cleanup(func() { envLookup = old })
	envLookup = func(k string) (string, bool) {
		switch k {
		case "HOOK_URL":
			return "http://127.0.0.1:7/hook", true
		case "MAXB":
			return "77", true
		}
		return "", false
	}
	y := strings.Replace(good, "url: http://127.0.0.1:9/x", "url: ${HOOK_URL}", 1)
	y = strings.Replace(y, "store: { path: /tmp/x/queue.db, commit_window: 3ms }",
		"store:\n  max_batch: ${MAXB}\n  path: \"${DIR:-/var/tmp}/q.db\"", 1)
	cfg, err := Parse([]byte(y), "x.yaml")
	require.NoError(t, err)
	require.Equal(t, 77, cfg.Store.MaxBatch, "a plain scalar is re-typed after expansion")
	require.Equal(t, "/var/tmp/q.db", cfg.Store.Path)
}

func TestEditDistance(t *testing.T) {
	require.Equal(t, 0, editDistance("abc", "abc"))
	require.Equal(t, 1, editDistance("topic", "topics"))
	require.Equal(t, 2, editDistance("tpoics", "topics"))
	require.Equal(t, "", closest("zzzzzz", []string{"topics"}))
}

// TestSecretFromSystemdCredential: a secret handed over by systemd's
// LoadCredential= is named with ${CREDENTIALS_DIRECTORY} in a *_file key; the file
// is checked at load, and a credential that is not there is reported with its path.
func TestSecretFromSystemdCredential(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hook-token"), []byte("Bearer cred-7h6g5f4d\n"), 0o600))
	old := envLookup
	t.Cleanup(func() { envLookup = old })
	envLookup = func(k string) (string, bool) {
		if k == "CREDENTIALS_DIRECTORY" {
			return dir, true
		}
		return "", false
	}
	y := strings.Replace(good, "url: http://127.0.0.1:9/x", "url: http://127.0.0.1:9/x\n    auth_value_file: ${CREDENTIALS_DIRECTORY}/hook-token", 1)
	_, err := Parse([]byte(y), "x.yaml")
	require.NoError(t, err)
	_, err = Parse([]byte(strings.Replace(y, "hook-token", "missing-token", 1)), "x.yaml")
	require.ErrorContains(t, err, filepath.Join(dir, "missing-token"))
}
