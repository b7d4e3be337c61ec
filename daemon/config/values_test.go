package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestValueChecks: every value is checked against its key's type, numbers and
// durations are refused below zero except where a negative value means something,
// and a *_file key must name a readable file; each problem names line and key.
func TestValueChecks(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(token, []byte("t0ken"), 0o600))
	tests := []struct {
		name, from, to string
		want           []string // nil: valid
	}{
		{"deliver_window may be negative (off)", "commit_window: 3ms", "commit_window: 3ms, deliver_window: -1s", nil},
		{"max_event_bytes -1 is no limit", "commit_window: 3ms", "commit_window: 3ms, max_event_bytes: -1", nil},
		{"a readable token file", "url: http://127.0.0.1:9/x", "url: http://127.0.0.1:9/x\n    auth_header: X-Key\n    auth_value_file: " + token, nil},
		{"negative shift_offset of the ilert transform", "to: [hook, console]", "to: [hook, console]\n    transform: { type: ilert, event_topic: plant/#, policy_topic: p/#, policy_routing_keys: [team], shift_offset: -1 }", nil},
		{"negative memory_items", "commit_window: 3ms", "commit_window: 3ms, memory_items: -5",
			[]string{"line 2: store.memory_items: -5 must not be negative (0 means the default)"}},
		{"negative retry.max_attempts", "max_attempts: 10", "max_attempts: -1",
			[]string{`line 15: sinks[0] (webhook "hook").retry.max_attempts: -1 must not be negative (0 means the default)`}},
		{"negative keepalive", "qos: 1", "qos: 1\n    keepalive: -30s",
			[]string{`line 11: sources[0] (mqtt "plant").keepalive: -30s must not be negative (0 means the default)`}},
		{"retry jitter over 1", "max_attempts: 10", "max_attempts: 10, jitter: 1.5",
			[]string{`line 15: sinks[0] (webhook "hook").retry.jitter: 1.5 is over 1 (it is the fraction of each delay taken off at random)`}},
		{"retry max below initial", "max: 30s", "max: 1s",
			[]string{`line 15: sinks[0] (webhook "hook").retry.max: 1s is below initial (2s)`}},
		{"a bool that is not", "commit_window: 3ms", "commit_window: 3ms, verify_on_open: maybe",
			[]string{`line 2: store.verify_on_open: "maybe" is not true or false`}},
		{"a list where a mapping belongs", "store: { path: /tmp/x/queue.db, commit_window: 3ms }", "store: [a]",
			[]string{"line 2: store: must be a mapping of keys, not a list"}},
		{"a scalar where a list belongs", `topics: ["plant/+/alarms"]`, "topics: plant/#",
			[]string{`line 9: sources[0] (mqtt "plant").topics: must be a list, not the value "plant/#"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(good, tc.from, tc.to, 1)
			require.NotEqual(t, good, y, "the case changes the configuration")
			_, err := Parse([]byte(y), "x.yaml")
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			var ce *Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.want, ce.Problems)
		})
	}
}

// TestEveryProblemHasALine: the problems a section's own check reports without a
// line get the line of their key.
func TestEveryProblemHasALine(t *testing.T) {
	y := good + "log: { level: loud, format: xml }\nrejects:\n  unrouted: keep\n"
	_, err := Parse([]byte(y), "x.yaml")
	var ce *Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, []string{
		`line 22: log.level: "loud" is not one of debug, info, warn, error`,
		`line 22: log.format: "xml" is not one of text, json`,
		`line 24: rejects.unrouted: "keep" is not one of drop, dead_letter`,
	}, ce.Problems)
	for _, p := range ce.Problems {
		require.Regexp(t, `^line [1-9][0-9]*: `, p)
	}
}

// TestSyntaxErrorsHaveALine: yaml's errors that name no line (a control character,
// invalid UTF-8) get the line of the byte at fault.
func TestSyntaxErrorsHaveALine(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"control character", "store:\n  path: /tmp/q.db\n  x: \"a\x01\"\n", "line 3: control characters are not allowed (byte 32)"},
		{"invalid UTF-8", "store:\n  path: \xff\n", "line 2: invalid leading UTF-8 octet (byte 15)"},
		{"bad indentation", "store:\n path: a\n  x: b\n", "line 3: mapping values are not allowed in this context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "x.yaml")
			var ce *Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, []string{tc.want}, ce.Problems)
		})
	}
}
