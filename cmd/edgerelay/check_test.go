package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckParity runs `config check` and `run` on a table of bad configurations:
// both refuse each with exit code 78 and the same message, every problem naming its
// line and key, and `run` opens no store and binds nothing before it refuses.
func TestCheckParity(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.txt")
	secret := filepath.Join(dir, "secret.txt")
	require.NoError(t, os.WriteFile(secret, []byte("s3cret\n"), 0o600))
	notExec := filepath.Join(dir, "hook.sh")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))
	httpAddr, own := freePort(t), freePort(t)
	_, ownPort, _ := strings.Cut(own, ":")
	// head is the first three lines; a case's yaml starting with ", " adds to store.
	head := fmt.Sprintf("store: { path: %s/q.db\x00 }\nhttp: { listen: %s }\nbroker: { enabled: \"false\" }\n", dir, httpAddr)
	tail := "sinks:\n  - { name: console, type: stdout }\nroutes:\n  - { name: r, to: [console] }\n"
	tests := []struct {
		name string
		yaml string   // after head
		want []string // every problem, in order
	}{
		{"two ilert_http sources on the daemon's server",
			"sources:\n  - { name: a, type: ilert_http }\n  - { name: b, type: ilert_http }\n" + tail,
			[]string{`line 6: sources[1] (ilert_http "b"): ilert_http: http route "/api/events" is already served on this listener (only one ilert_http source can be served on the daemon's HTTP server (http.listen); give the others a listen address)`}},
		{"two listeners on one port",
			fmt.Sprintf("sources:\n  - { name: a, type: ilert_http, listen: \"0.0.0.0:%s\" }\n  - { name: b, type: ilert_http, listen: %q }\n", ownPort, own) + tail,
			[]string{fmt.Sprintf(`line 6: sources[1] (ilert_http "b"): ilert_http: listen: %s is also the address of sources[0] (ilert_http "a"); give each listener its own port`, own)}},
		{"a source listener on http.listen",
			fmt.Sprintf("sources:\n  - { name: a, type: ilert_http, listen: %q }\n", httpAddr) + tail,
			[]string{fmt.Sprintf(`line 5: sources[0] (ilert_http "a"): ilert_http: listen: %s is also the address of http.listen; give each listener its own port`, httpAddr)}},
		{"a route's event_key to a sink that cannot send it",
			"sources:\n  - { name: m, type: mqtt, url: \"tcp://127.0.0.1:1883\", topics: [x] }\nsinks:\n  - { name: pager, type: ilert, integration_key: il1api-abc }\n  - { name: hook, type: webhook, url: \"http://127.0.0.1:9/\" }\nroutes:\n  - { name: r, from: [m], to: [pager, hook], transform: { type: ilert, event_topic: x, event_key: il1api-route } }\n",
			[]string{`line 10: routes[0] (r): to: sink "hook" is of type webhook, which cannot send what transform ilert makes (event_key is kept out of the store as a reference only the ilert sink resolves; route the other sinks without this transform)`}},
		{"missing token file",
			"sinks:\n  - { name: hook, type: webhook, url: \"http://127.0.0.1:9/\", auth_header: X-Key, auth_value_file: " + missing + " }\nroutes:\n  - { to: [hook] }\n",
			[]string{fmt.Sprintf(`line 5: sinks[0] (webhook "hook").auth_value_file: open %s: no such file or directory`, missing)}},
		{"password file is a directory",
			"sources:\n  - { name: m, type: mqtt, url: \"tcp://127.0.0.1:1883\", topics: [x], username: u, password_file: " + dir + " }\n" + tail,
			[]string{fmt.Sprintf(`line 5: sources[0] (mqtt "m").password_file: %s is a directory, not a file`, dir)}},
		{"missing script",
			"sinks:\n  - name: hook\n    type: script\n    command: " + missing + "\nroutes:\n  - { to: [hook] }\n",
			[]string{fmt.Sprintf(`line 7: sinks[0] (script "hook").command: stat %s: no such file or directory`, missing)}},
		{"script not executable",
			"sinks:\n  - { name: hook, type: script, command: " + notExec + " }\nroutes:\n  - { to: [hook] }\n",
			[]string{fmt.Sprintf(`line 5: sinks[0] (script "hook").command: %s is not executable (mode -rw-r--r--; chmod +x it)`, notExec)}},
		{"unknown kind",
			"sinks:\n  - { name: console, type: stdout }\nroutes:\n  - { name: r, to: [console], kinds: [alrt] }\n",
			[]string{`line 7: routes[0] (r): kinds: "alrt" is not a kind any source or transform gives (known: alert, heartbeat, policy, raw) (did you mean "alert"?)`}},
		{"negative durations and sizes",
			", drain_timeout: -5s, max_batch: -1, max_event_bytes: -2\x00sources:\n  - { name: a, type: ilert_http, max_body_bytes: -1, publish_timeout: -1s }\nsinks:\n  - { name: hook, type: webhook, url: \"http://127.0.0.1:9/\", timeout: -2s, retry: { initial: -1s } }\nroutes:\n  - { to: [hook] }\n",
			[]string{
				`line 1: store.drain_timeout: -5s must not be negative (0 means the default)`,
				`line 1: store.max_batch: -1 must not be negative (0 means the default)`,
				`line 1: store.max_event_bytes: -2 is negative; -1 means no limit`,
				`line 5: sources[0] (ilert_http "a").max_body_bytes: -1 must not be negative (0 means the default)`,
				`line 5: sources[0] (ilert_http "a").publish_timeout: -1s must not be negative (0 means the default)`,
				`line 7: sinks[0] (webhook "hook").retry.initial: -1s must not be negative (0 means the default)`,
				`line 7: sinks[0] (webhook "hook").timeout: -2s must not be negative (0 means the default)`,
			}},
		{"routes: duplicate name, duplicate from, unknown source and sink",
			"sources:\n  - { name: a, type: ilert_http }\nsinks:\n  - { name: console, type: stdout }\nroutes:\n  - { name: r, from: [a, a], to: [console] }\n  - { name: r, from: [pump], to: [consol] }\n",
			[]string{
				`line 9: routes[0] (r): from: "a" is listed twice`,
				`line 10: routes[1] (r): name "r" is used twice (also routes[0])`,
				`line 10: routes[1] (r): from: no source named "pump"`,
				`line 10: routes[1] (r): to: no sink named "consol" (did you mean "console"?)`,
			}},
		{"type errors name the key",
			"sources:\n  - name: m\n    type: mqtt\n    url: \"tcp://127.0.0.1:1883\"\n    topics: [x]\n    qos: high\n" + tail + "log:\n  level: [debug]\n",
			[]string{
				`line 15: log.level: must be a single value, not a list`,
				`line 9: sources[0] (mqtt "m").qos: "high" is not a whole number from 0 up`,
			}},
		{"a key given twice",
			"sinks:\n  - { name: console, type: stdout }\nroutes:\n  - { to: [console] }\nhttp: { listen: 127.0.0.1:0 }\n",
			[]string{`line 8: mapping key "http" already defined at line 2`}},
		{"problems without a key of their own get a line",
			"sinks: []\nlog: { level: loud }\n",
			[]string{
				`line 5: log.level: "loud" is not one of debug, info, warn, error`,
				`line 4: sinks: at least one sink is required`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store, body, ok := strings.Cut(tc.yaml, "\x00")
			if !ok {
				store, body = "", tc.yaml
			}
			cfg := writeConfig(t, t.TempDir(), strings.Replace(head, "\x00", store, 1)+body)
			want := "edgerelay: invalid configuration " + cfg + ":\n  - " + strings.Join(tc.want, "\n  - ") + "\n"
			code, out, errs := cli(t, "config", "check", "-c", cfg)
			require.Equal(t, exitConfig, code, "config check: stdout=%s", out)
			require.Equal(t, want, errs, "config check")
			code, _, errs = cli(t, "run", "-c", cfg)
			require.Equal(t, exitConfig, code, "run: %s", errs)
			_, refusal, ok := strings.Cut(errs, "edgerelay: invalid configuration")
			require.True(t, ok, errs)
			require.Equal(t, want, "edgerelay: invalid configuration"+refusal, "run refuses as config check does")
			require.NoFileExists(t, filepath.Join(dir, "q.db"), "run refused before opening the store")
		})
	}
	// The secret's file is read, never printed.
	code, _, errs := cli(t, "config", "check", "-c", writeConfig(t, t.TempDir(), strings.Replace(head, "\x00", "", 1)+
		"sinks:\n  - { name: hook, type: webhook, url: \"http://127.0.0.1:9/\", auth_header: X-Key, auth_value_file: "+secret+", timeout: soon }\nroutes:\n  - { to: [hook] }\n"))
	require.Equal(t, exitConfig, code)
	require.NotContains(t, errs, "s3cret")
}
