//go:build linux

package script

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name      string
		body      string
		permanent []int // nil: the default [65]
		want      string
		perm      bool
	}{
		{name: "zero delivers", body: "cat >/dev/null; exit 0"},
		{name: "one retries", body: "exit 1", want: "exit status 1"},
		{name: "tempfail retries", body: "exit 75", want: "exit status 75"},
		{name: "dataerr is permanent", body: "exit 65", want: "exit status 65 (permanent_exit_codes", perm: true},
		{name: "a listed status is permanent", body: "exit 3", permanent: []int{3, 4}, want: "exit status 3", perm: true},
		{name: "unlisted dataerr retries", body: "exit 65", permanent: []int{3}, want: "exit status 65"},
		{name: "an empty list retries all", body: "exit 65", permanent: []int{}, want: "exit status 65"},
		{name: "a signal retries", body: "kill -9 $$", want: "signal: killed"},
		{name: "stderr in the reason", body: "echo 'disk full' >&2; exit 2", want: "exit status 2; stderr: disk full"},
		{name: "unread stdin with zero delivers", body: "exit 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Command: writeScript(t, tc.body), PermanentExitCodes: tc.permanent}
			s := connected(t, cfg, nil)
			err := s.Send(context.Background(), event(`{"id":"1"}`, nil))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.Equal(t, tc.perm, adapters.IsPermanent(err), "%v", err)
			require.NotErrorIs(t, err, adapters.ErrNotConnected)
		})
	}
}

// TestStdinUnread: a script that exits without reading a payload bigger than a pipe
// holds is judged by its exit status alone; the blocked write does not hang Send.
func TestStdinUnread(t *testing.T) {
	big := `{"id":"1","pad":"` + strings.Repeat("x", 1<<20) + `"}`
	ok := connected(t, Config{Command: writeScript(t, "exit 0")}, nil)
	require.NoError(t, ok.Send(context.Background(), event(big, nil)))
	bad := connected(t, Config{Command: writeScript(t, "exit 1")}, nil)
	err := bad.Send(context.Background(), event(big, nil))
	require.ErrorContains(t, err, "exit status 1")
	require.False(t, adapters.IsPermanent(err))
}

// TestStdinAndEnvironment checks what a run sees: the payload byte for byte on stdin
// (then EOF), the arguments, and its environment.
func TestStdinAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DAEMON_VAR", "from-the-daemon")
	t.Setenv(EnvEventID, "stale")                                // the sink's own variables replace the daemon's
	t.Setenv("ILERT_ALERT_ID", "stale-from-an-environment-file") // the item's replaces it
	// A daemon credential (an edge connector key, ILERT_API_KEY, any *_env) is a
	// registered secret by the time the sink connects: no script inherits it.
	t.Setenv("DAEMON_CREDENTIAL", "Daemon-Cred-7k5j3h1g9f")
	secret.Register("Daemon-Cred-7k5j3h1g9f")
	cmd := writeScript(t, `cat > "$DIR/stdin"; printf '%s\n' "$@" > "$DIR/args"; env > "$DIR/env"`)
	cfg := Config{
		Command: cmd,
		Args:    []string{"--site", "plant 7", ""},
		Env:     map[string]string{"DIR": dir, "SITE": "from-config", "DAEMON_VAR": "config-wins"},
	}
	s := connected(t, cfg, nil)
	payload := "{\"id\":\"100\",\n\"eventType\":\"alert-created\",\"nul\":\"a\x00b\"}"
	e := event(payload, map[string]string{
		"env.ILERT_EVENT_TYPE":   "alert-created",
		"env.ILERT_ALERT_ID":     "100",
		"env.ILERT_EDGE_ITEM_ID": "7f3a",
		"env.ILERT_TIMESTAMP":    "2026-05-04T10:00:00.000Z",
		"env.WITH_NUL":           "a\x00b",
		"env.SITE":               "from-the-event", // config env wins
		"env.DAEMON_VAR":         "from-the-event", // set by the config: the config wins
		"env.PATH":               "/tmp/evil",      // taken, and denied anyway
		"env.LD_PRELOAD":         "/tmp/evil.so",   // denied though free
		"env.BASH_ENV":           "/tmp/evil.sh",
		"env.EDGERELAY_EVENT_ID": "forged",
		"env.EDGERELAY_FUTURE":   "reserved",
		"env.2BAD":               "x",
		"env.OVERSIZE":           strings.Repeat("x", 200<<10), // would make exec fail with E2BIG
		"env.with-dash":          "x",
		"header.X-Other":         "not an env attribute",
	})
	e.Topic = ""
	require.NoError(t, s.Send(context.Background(), e))

	stdin, err := os.ReadFile(filepath.Join(dir, "stdin"))
	require.NoError(t, err)
	require.Equal(t, payload, string(stdin), "the payload arrives unchanged")
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	require.NoError(t, err)
	require.Equal(t, "--site\nplant 7\n\n", string(args))

	b, err := os.ReadFile(filepath.Join(dir, "env"))
	require.NoError(t, err)
	env := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = append(env[k], v)
	}
	want := map[string]string{
		"ILERT_EVENT_TYPE": "alert-created", "ILERT_ALERT_ID": "100", "ILERT_EDGE_ITEM_ID": "7f3a",
		"ILERT_TIMESTAMP": "2026-05-04T10:00:00.000Z", "WITH_NUL": "ab",
		"SITE": "from-config", "DAEMON_VAR": "config-wins", "PATH": os.Getenv("PATH"),
		EnvEventID: e.ID, EnvKey: "42", EnvKind: "alert", EnvSource: "edge", EnvTopic: "", EnvSink: "hook",
	}
	for k, v := range want {
		require.Equal(t, []string{v}, env[k], "variable %s (each set once)", k)
	}
	for _, k := range []string{"LD_PRELOAD", "BASH_ENV", "EDGERELAY_FUTURE", "2BAD", "with-dash", "X-Other", "header.X-Other", "DAEMON_CREDENTIAL", "OVERSIZE"} {
		require.NotContains(t, env, k)
	}
}

// TestTimeoutKillsTheGroup: at the timeout the whole process group goes, children
// that ignore SIGTERM included (SIGKILL after kill_grace); the script is reaped and
// the delivery is retryable.
func TestTimeoutKillsTheGroup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel bool
	}{{"timeout", false}, {"cancel", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := writeScript(t, `
sleep 1000 &
echo $! >> "$DIR/pids"
( trap '' TERM; sleep 1000 ) &
echo $! >> "$DIR/pids"
echo $$ >> "$DIR/pids"
sleep 1000
`)
			cfg := Config{Command: cmd, Env: map[string]string{"DIR": dir}, KillGrace: 100 * time.Millisecond}
			if tc.cancel {
				cfg.Timeout = time.Hour
			} else {
				cfg.Timeout = 2 * time.Second // long enough for the script to write its pids first
			}
			s := connected(t, cfg, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- s.Send(ctx, event(`{"id":"1"}`, nil)) }()
			pids := readPIDs(t, filepath.Join(dir, "pids"), 3)
			killAll(t, pids) // only if the sink failed
			if tc.cancel {
				cancel()
			}
			var err error
			select {
			case err = <-errc:
			case <-time.After(20 * time.Second):
				t.Fatal("Send did not return after the timeout")
			}
			require.Error(t, err)
			require.False(t, adapters.IsPermanent(err), "%v", err)
			if tc.cancel {
				require.ErrorIs(t, err, context.Canceled)
			} else {
				require.ErrorContains(t, err, "timed out after 2s; its process group was killed")
			}
			leader := pids[len(pids)-1]
			require.False(t, exists(leader), "the script (pid %d) is reaped, not a zombie", leader)
			for _, p := range pids[:len(pids)-1] {
				waitFor(t, "child "+strconv.Itoa(p)+" to die", func() bool { return !running(p) })
			}
		})
	}
}

// TestBackgroundHolderDoesNotHang: a process the script leaves behind holding its
// stdout does not keep Send waiting: after the script exits its output is read for
// a moment only. One in the script's group is killed at a timeout; one that left the
// group (setsid) cannot be, and still Send returns.
func TestBackgroundHolderDoesNotHang(t *testing.T) {
	if _, err := os.Stat("/usr/bin/setsid"); err != nil {
		adaptertest.Missing(t, "needs setsid(1): %v", err)
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"exit 0 with a child holding stdout", `sleep 1000 & echo $! > "$DIR/pids"; echo done; exit 0`, ""},
		{"exit 0 with a daemonized grandchild", `setsid sleep 1000 & echo $! > "$DIR/pids"; exit 0`, ""},
		{"timeout with a daemonized grandchild", `setsid sleep 1000 & echo $! > "$DIR/pids"; sleep 1000`, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{Command: writeScript(t, tc.body), Env: map[string]string{"DIR": dir},
				Timeout: 2 * time.Second, KillGrace: 50 * time.Millisecond}
			if tc.want == "" {
				cfg.Timeout = time.Hour // Send must return long before
			}
			s := connected(t, cfg, nil)
			errc := make(chan error, 1)
			go func() { errc <- s.Send(context.Background(), event(`{"id":"1"}`, nil)) }()
			pids := readPIDs(t, filepath.Join(dir, "pids"), 1)
			killAll(t, pids)
			var err error
			select {
			case err = <-errc:
			case <-time.After(20 * time.Second):
				t.Fatal("Send hangs on a background process holding the script's output")
			}
			if tc.want == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tc.want)
			}
		})
	}
}

// TestHugeOutput: a script writing far more than max_output_bytes costs bounded
// memory; the log keeps max_output_bytes of each stream and the whole size.
func TestHugeOutput(t *testing.T) {
	const n = 64 << 20
	cmd := writeScript(t, `head -c `+strconv.Itoa(n)+` /dev/zero | tr '\0' o; head -c `+strconv.Itoa(n)+` /dev/zero | tr '\0' e >&2; exit 1`)
	logs := &adaptertest.LogLines{}
	s := connected(t, Config{Command: cmd, MaxOutputBytes: 100}, slogOf(logs))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := s.Send(context.Background(), event(`{"id":"1"}`, nil))
	runtime.ReadMemStats(&after)
	require.ErrorContains(t, err, "exit status 1; stderr: "+strings.Repeat("e", 100))
	require.Less(t, len(err.Error()), 400, "the reason carries an excerpt of stderr only")
	// Reading 128 MiB through a pipe allocates nothing per chunk.
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20), "bytes allocated while 2×64 MiB were read")
	lines := logs.Lines()
	require.Len(t, lines, 1)
	require.Contains(t, lines[0], "WARN script failed")
	require.Contains(t, lines[0], " stdout="+strings.Repeat("o", 100)+" stdout_bytes="+strconv.Itoa(n))
	require.Contains(t, lines[0], " stderr="+strings.Repeat("e", 100)+" stderr_bytes="+strconv.Itoa(n))
}

// TestOutputIsRedacted: a script that prints its environment (where `env` put a
// token) does not put the token in the log or in the error; the output of a run
// that delivered is logged at INFO, rate-limited.
func TestOutputIsRedacted(t *testing.T) {
	const token = "tok-9f8e7d6c5b4a"
	t.Cleanup(secret.Default.Reset)
	for _, exit := range []int{0, 1} {
		logs := &adaptertest.LogLines{Min: slog.LevelDebug}
		cmd := writeScript(t, "env; env >&2; echo \"Authorization: Bearer $API_TOKEN\" >&2; exit "+strconv.Itoa(exit))
		s := connected(t, Config{Command: cmd, Env: map[string]string{"API_TOKEN": token}}, slogOf(logs))
		err := s.Send(context.Background(), event(`{"id":"1"}`, nil))
		lines := logs.Lines()
		require.Len(t, lines, 1)
		require.Contains(t, lines[0], "stdout=")
		require.Contains(t, lines[0], "API_TOKEN=***")
		require.NotContains(t, lines[0], token)
		if exit != 0 {
			require.Error(t, err)
			require.NotContains(t, err.Error(), token)
			require.Contains(t, lines[0], "WARN script failed")
		} else {
			require.NoError(t, err)
			require.Contains(t, lines[0], "INFO script delivered the event")
		}
	}
}

// TestWarningsAreRateLimited: a script failing for every event writes a few
// warnings, then counts the rest (adapters/logx).
func TestWarningsAreRateLimited(t *testing.T) {
	logs := &adaptertest.LogLines{}
	d := testDeps(slogOf(logs))
	d.Limiter = logxLimiter()
	s, err := New(Config{Command: writeScript(t, "exit 1")}, d)
	require.NoError(t, err)
	require.NoError(t, s.Connect(context.Background()))
	for range 30 {
		require.Error(t, s.Send(context.Background(), event(`{"id":"1"}`, nil)))
	}
	require.Less(t, len(logs.Lines()), 30)
	require.NotEmpty(t, logs.Lines())
}

// TestStartFailure: a command that went away after Connect fails the delivery as
// retryable with ErrNotConnected, so the daemon's Connect reports the missing file.
func TestStartFailure(t *testing.T) {
	cmd := writeScript(t, "exit 0")
	s := connected(t, Config{Command: cmd}, nil)
	require.NoError(t, os.Remove(cmd))
	err := s.Send(context.Background(), event(`{"id":"1"}`, nil))
	require.ErrorIs(t, err, adapters.ErrNotConnected)
	require.False(t, adapters.IsPermanent(err))
	err = s.Connect(context.Background())
	require.ErrorContains(t, err, "command: ")
	require.ErrorContains(t, err, cmd)
	require.ErrorIs(t, s.Send(context.Background(), event(`{"id":"1"}`, nil)), adapters.ErrNotConnected)
}

func TestSendBeforeConnect(t *testing.T) {
	s, err := New(Config{Command: writeScript(t, "exit 0")}, testDeps(nil))
	require.NoError(t, err)
	require.ErrorIs(t, s.Send(context.Background(), event(`{}`, nil)), adapters.ErrNotConnected)
}

func TestMaxInFlight(t *testing.T) {
	cmd := writeScript(t, "exit 0")
	s := connected(t, Config{Command: cmd}, nil)
	require.Equal(t, 1, s.MaxInFlight())
	s = connected(t, Config{Command: cmd, MaxInFlight: 4}, nil)
	require.Equal(t, 4, s.MaxInFlight())
}

func TestCancelledBeforeStart(t *testing.T) {
	dir := t.TempDir()
	s := connected(t, Config{Command: writeScript(t, `touch "$DIR/ran"`), Env: map[string]string{"DIR": dir}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, event(`{}`, nil))
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, errors.Is(err, adapters.ErrNotConnected))
	_, statErr := os.Stat(filepath.Join(dir, "ran"))
	require.ErrorIs(t, statErr, os.ErrNotExist, "nothing runs for a cancelled context")
}
