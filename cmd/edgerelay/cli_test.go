package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/state"
	"github.com/edgerelay/edgerelay/store"
)

func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte(`
sinks: [ { name: console, type: stdout } ]
routes: [ { to: [console] } ]
`), 0o600))
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`
sinks:
  - { name: console, type: stdout, colour: red }
  - { name: hook, type: webhook }
routes: [ { to: [consol] } ]
`), 0o600))

	old := filepath.Join(dir, "old.yaml")
	require.NoError(t, os.WriteFile(old, []byte(`
sources: [ { name: k, type: kafka, brokers: ["127.0.0.1:9092"], topics: [t], group_id: g, max_inflight: 10 } ]
sinks: [ { name: console, type: stdout } ]
routes: [ { to: [console] } ]
`), 0o600))

	tests := []struct {
		name     string
		args     []string
		code     int
		inOut    string
		inStderr []string
	}{
		{"built-in default", []string{"config", "check"}, exitOK, "configuration OK: the built-in default", nil},
		{"old key spelling warns", []string{"config", "check", "-c", old}, exitOK,
			`warning: line 2: "max_inflight" in sources[0] (kafka "k") is the old spelling of "max_in_flight"`, nil},
		{"good file", []string{"config", "check", "-c", good}, exitOK, "configuration OK: " + good, nil},
		{"bad file names every problem", []string{"config", "check", "-c", bad}, exitConfig, "",
			[]string{`line 3: unknown key "colour"`, "url", `no sink named "consol"`}},
		{"missing file", []string{"config", "check", "-c", filepath.Join(dir, "nope.yaml")}, exitConfig, "", []string{"no such file"}},
		{"unknown command", []string{"frobnicate"}, exitError, "", []string{"unknown command"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := cli(t, tc.args...)
			require.Equal(t, tc.code, code, "stdout=%s stderr=%s", out, errs)
			require.Contains(t, out, tc.inOut)
			for _, w := range tc.inStderr {
				require.Contains(t, errs, w)
			}
		})
	}
	t.Setenv("EDGERELAY_CONFIG", bad)
	code, _, _ := cli(t, "config", "check")
	require.Equal(t, exitConfig, code, "EDGERELAY_CONFIG is honoured")
}

func TestConfigSample(t *testing.T) {
	code, out, _ := cli(t, "config", "sample")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "type: mqtt")
}

func TestVersion(t *testing.T) {
	code, out, _ := cli(t, "version")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, runtime.Version())
	require.Contains(t, out, runtime.GOARCH)
	require.Contains(t, out, "webhook")
	code, out, _ = cli(t, "version", "--json")
	require.Equal(t, exitOK, code)
	var v struct{ Sources, Sinks []string }
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.Contains(t, v.Sources, "mqtt")
	require.Contains(t, v.Sinks, "stdout")
}

// seedStore writes three pending events and two dead letters for sink "hook".
func seedStore(t *testing.T, path string) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	var b store.Batch
	for i, id := range []string{"a1", "a2", "a3", "d1", "d2"} {
		ev := &adapters.Event{ID: id, Key: "k", Topic: "plant/x", Payload: []byte(`{}`)}
		data, _ := ev.MarshalBinary()
		e := &store.Entry{Sink: "hook", Key: "k", Data: data}
		if i < 3 {
			b.Put(e)
		} else {
			b.DeadLetter(e, "rejected: 400 bad request")
		}
	}
	b.SetCursor(state.Key("edge", "cursor"), []byte("42"))
	require.NoError(t, db.Commit(&b))
	require.NoError(t, db.Close())
}

// seedTable adds a source's table of two records to the store at path, one with a
// key a terminal would obey.
func seedTable(t *testing.T, path string) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	var b store.Batch
	b.SetCursor(state.TableKey("recv", "alerts", "a/1\x1b[2J"), []byte("abc"))
	b.SetCursor(state.TableKey("recv", "alerts", "a2"), []byte("de"))
	require.NoError(t, db.Commit(&b))
	require.NoError(t, db.Close())
}

func TestQueueCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	seedStore(t, path)
	seedTable(t, path)

	code, out, errs := cli(t, "queue", "stats", "--store", path)
	require.Equal(t, exitOK, code, errs)
	require.Regexp(t, `hook\s+3\s+\S+\s+2`, out)
	require.Regexp(t, `SOURCE\s+STATE\s+BYTES\nedge\s+cursor\s+2\nrecv\s+table alerts \(2 records\)\s+5\n`, out)
	require.NotContains(t, out, "\x1b", "a table's keys are not printed")

	code, out, _ = cli(t, "queue", "list", "--store", path, "--sink", "hook")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "a1")
	require.Contains(t, out, "plant/x")

	code, out, _ = cli(t, "queue", "list", "--store", path, "--dead")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "400 bad request")
	require.Contains(t, out, "d2")

	code, _, errs = cli(t, "queue", "retry", "--store", path, "--sink", "hook")
	require.Equal(t, exitUsage, code, "retry needs seqs or --all")
	require.Contains(t, errs, "--all")

	code, out, _ = cli(t, "queue", "retry", "--store", path, "--sink", "hook", "1")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "1 dead letter(s) of hook queued")

	code, out, _ = cli(t, "queue", "drop", "--store", path, "--sink", "hook", "--dead", "--all")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "1 dead letter(s) of hook dropped")

	code, out, _ = cli(t, "queue", "drop", "--store", path, "--sink", "hook", "1", "2")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "2 queued event(s) of hook dropped")

	code, out, _ = cli(t, "queue", "stats", "--store", path, "--json")
	require.Equal(t, exitOK, code)
	var st store.Stats
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, 2, st.Sinks["hook"].Pending, "a3 and the retried d1")
	require.Equal(t, 0, st.Sinks["hook"].Dead)
	require.Equal(t, map[string]int{"source/edge/cursor": 2, "table/recv/alerts/a/1\x1b[2J": 3, "table/recv/alerts/a2": 2}, st.Cursors)

	code, out, _ = cli(t, "queue", "check", "--store", path)
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "OK")
}

func TestQueueWhileDaemonHoldsStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	code, _, errs := cli(t, "queue", "stats", "--store", path)
	require.Equal(t, exitError, code)
	require.Contains(t, errs, "stop the daemon first")
}

func TestJournalPriorities(t *testing.T) {
	var buf bytes.Buffer
	t.Setenv("JOURNAL_STREAM", "8:12345")
	for _, format := range []string{"text", "json"} {
		buf.Reset()
		cfg, _, err := loadConfig("")
		require.NoError(t, err)
		cfg.Log.Format = format
		log := newLogger(cfg, &buf, nil)
		log.Error("boom")
		log.Warn("careful")
		log.Info("fine")
		lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
		require.Len(t, lines, 3)
		require.True(t, bytes.HasPrefix(lines[0], []byte("<3>")), string(lines[0]))
		require.True(t, bytes.HasPrefix(lines[1], []byte("<4>")), string(lines[1]))
		require.True(t, bytes.HasPrefix(lines[2], []byte("<6>")), string(lines[2]))
	}
}

func TestIlagentGlobalFlagsFirst(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"-v", "event", "-k", "x"}, []string{"event", "-v", "-k", "x"}},
		{[]string{"-vv", "-f", "q.db3", "heartbeat", "-k", "x"}, []string{"heartbeat", "-vv", "-f", "q.db3", "-k", "x"}},
		{[]string{"event", "-v"}, []string{"event", "-v"}},
		{[]string{"run", "-c", "x"}, []string{"run", "-c", "x"}},
		{[]string{"-c", "x", "run"}, []string{"-c", "x", "run"}},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, ilagentOrder(tc.in), "%v", tc.in)
	}
}

// TestConfigResolution is what every command does without -c: $EDGERELAY_CONFIG,
// else the installed configuration when it exists ($EDGERELAY_SYSTEM_CONFIG stands
// in for /etc/edgerelay/edgerelay.yaml here), else the built-in default, and it says
// which: `config check` in its answer, `queue` on standard error with the store the
// configuration gives (instead of ./edgerelay-state of the built-in default).
func TestConfigResolution(t *testing.T) {
	dir := t.TempDir()
	write := func(name, store string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("store: { path: "+store+" }\nsinks: [{ name: console, type: stdout }]\nroutes: [{ to: [console] }]\n"), 0o600))
		return p
	}
	installed := write("installed.yaml", filepath.Join(dir, "installed-state", "queue.db"))
	fromEnv := write("env.yaml", filepath.Join(dir, "env-state", "queue.db"))
	flag := write("flag.yaml", filepath.Join(dir, "flag-state", "queue.db"))

	t.Setenv("EDGERELAY_SYSTEM_CONFIG", installed)
	t.Setenv("EDGERELAY_CONFIG", "")
	code, out, _ := cli(t, "config", "check")
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, installed+" (the installed configuration)")
	_, _, errs := cli(t, "queue", "stats")
	require.Contains(t, errs, "store "+filepath.Join(dir, "installed-state", "queue.db")+", from the configuration "+installed+" (the installed configuration)")
	require.NoDirExists(t, filepath.Join(dir, "installed-state"), "queue stats creates nothing")

	t.Setenv("EDGERELAY_CONFIG", fromEnv)
	_, out, _ = cli(t, "config", "check")
	require.Contains(t, out, fromEnv+" ($EDGERELAY_CONFIG)")
	_, out, _ = cli(t, "config", "check", "-c", flag)
	require.Contains(t, out, flag+" (-c)")

	t.Setenv("EDGERELAY_CONFIG", "")
	t.Setenv("EDGERELAY_SYSTEM_CONFIG", filepath.Join(dir, "absent.yaml"))
	_, out, _ = cli(t, "config", "check")
	require.Contains(t, out, "the built-in default (no -c, no $EDGERELAY_CONFIG, no "+filepath.Join(dir, "absent.yaml")+")")
}

// TestConfigPrint: `config print` says whose configuration it prints and masks
// secret fields; --redact also masks secrets inside other values (URL user info).
func TestConfigPrint(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`
broker: { enabled: "false" }
sinks: [{ name: hook, type: webhook, url: "http://u:UrlPw-5r4e3w2q@127.0.0.1:9/x", auth_value: "Bearer Field-Pw-1q2w3e4r" }]
routes: [{ to: [hook] }]
`), 0o600))
	code, out, _ := cli(t, "config", "print", "-c", p)
	require.Equal(t, exitOK, code, out)
	require.True(t, strings.HasPrefix(out, "# the effective configuration of "+p+" (-c)\n"), out)
	require.NotContains(t, out, "Field-Pw-1q2w3e4r")
	require.Contains(t, out, "commit_window: 5ms", "the defaults")
	code, out, _ = cli(t, "config", "print", "-c", p, "--redact")
	require.Equal(t, exitOK, code)
	require.NotContains(t, out, "UrlPw-5r4e3w2q")
	require.NotContains(t, out, "Field-Pw-1q2w3e4r")
}

// TestConfigCheckSample: --sample dry-runs a payload through the routes: which
// take it, what the ilert transform makes of it, and the exact requests the ilert
// and webhook sinks would send, with their credentials as ***; nothing is sent.
func TestConfigCheckSample(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
broker: { enabled: "false" }
sources: [{ name: plc, type: mqtt, url: "tcp://127.0.0.1:1883", topics: ["plant/#"] }]
sinks:
  - { name: ilert-main, type: ilert, integration_key: il1int-Sample-9i8u7y }
  - { name: hook, type: webhook, url: "http://127.0.0.1:9/x", auth_value: "Bearer Sample-Hook-6t5r4e" }
routes:
  - name: to-ilert
    topics: ["plant/alarms/#"]
    to: [ilert-main]
    transform: { type: ilert, event_topic: "plant/alarms/#" }
  - name: to-hook
    require_json: true
    to: [hook]
`), 0o600))
	sample := filepath.Join(dir, "s.json")
	require.NoError(t, os.WriteFile(sample, []byte(`{"alertKey":"pump-7","summary":"Pressure high","eventType":"ALERT"}`), 0o600))
	code, out, errs := cli(t, "config", "check", "-c", cfg, "--sample", sample, "--topic", "plant/alarms/pump7")
	require.Equal(t, exitOK, code, errs)
	for _, want := range []string{`route "to-ilert": takes the event; its transform (ilert) makes it kind alert, key "pump-7"`,
		`"integrationKey":"***"`, `"summary":"Pressure high"`, "Host: api.ilert.com", `route "to-hook": takes the event`,
		"POST /x HTTP/1.1", "Authorization: ***", "X-Edgerelay-Topic: plant/alarms/pump7"} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "Sample-9i8u7y")
	require.NotContains(t, out, "Sample-Hook-6t5r4e")

	code, out, _ = cli(t, "config", "check", "-c", cfg, "--sample", sample, "--topic", "plant/other", "--route", "to-ilert")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, `route "to-ilert": does not take the event`)
	require.NotContains(t, out, "to-hook")

	require.NoError(t, os.WriteFile(sample, []byte("not json"), 0o600))
	_, out, _ = cli(t, "config", "check", "-c", cfg, "--sample", sample, "--route", "to-hook")
	require.Contains(t, out, "refuses the payload: not JSON")

	code, _, errs = cli(t, "config", "check", "-c", cfg, "--sample", sample, "--route", "nope")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errs, `no route named "nope"`)
}
