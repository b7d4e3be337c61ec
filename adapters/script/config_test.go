//go:build linux

package script

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/config"
)

func TestDefaults(t *testing.T) {
	d := DefaultConfig()
	require.Equal(t, 30*time.Second, d.Timeout)
	require.Equal(t, 2*time.Second, d.KillGrace)
	require.Equal(t, 4096, d.MaxOutputBytes)
	require.Equal(t, []int{65}, d.PermanentExitCodes)
	require.Equal(t, 1, d.MaxInFlight)
	require.Empty(t, d.Args)
	require.Empty(t, d.Env)
	require.Equal(t, d, Config{}.withDefaults(), "a zero Config behaves like the defaults")
}

func TestValidate(t *testing.T) {
	ok := func(c *Config) {}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"defaults with a command", ok, nil},
		{"no command", func(c *Config) { c.Command = "" }, []string{"command: required"}},
		{"bad env names", func(c *Config) {
			c.Env = map[string]string{"1X": "a", "A-B": "b", "": "c", "OK_1": "d"}
		}, []string{`env: "" is not a valid`, `env: "1X" is not a valid`, `env: "A-B" is not a valid`}},
		{"reserved env prefix", func(c *Config) { c.Env = map[string]string{"EDGERELAY_EVENT_ID": "x"} },
			[]string{"env: EDGERELAY_EVENT_ID: names starting with EDGERELAY_ are set by the sink"}},
		{"NUL in env", func(c *Config) { c.Env = map[string]string{"A": "x\x00y"} }, []string{"env: value of A must not contain a NUL"}},
		{"NUL in args", func(c *Config) { c.Args = []string{"ok", "a\x00"} }, []string{"args[1]: must not contain a NUL"}},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, []string{"timeout: must be positive"}},
		{"kill_grace too long", func(c *Config) { c.KillGrace = 2 * time.Minute }, []string{"kill_grace: must be between"}},
		{"max_output_bytes too big", func(c *Config) { c.MaxOutputBytes = 2 << 20 }, []string{"max_output_bytes: must be between 1 and 1048576"}},
		{"exit status out of range", func(c *Config) { c.PermanentExitCodes = []int{0, 65, 256} },
			[]string{"permanent_exit_codes[0]: an exit status is 1 to 255, got 0", "permanent_exit_codes[2]"}},
		{"max_in_flight too big", func(c *Config) { c.MaxInFlight = 65 }, []string{"max_in_flight: must be between 1 and 64"}},
		{"every problem at once", func(c *Config) { c.Command = ""; c.Timeout = -1; c.MaxInFlight = -1 },
			[]string{"command:", "timeout:", "max_in_flight:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Command = "/bin/true"
			tc.edit(&c)
			err := c.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestNewChecksTheCommand: New (and so the daemon's start and its dry run in
// `config check`) refuses a command that cannot run, naming it.
func TestNewChecksTheCommand(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.sh")
	require.NoError(t, os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644))
	for _, tc := range []struct{ command, want string }{
		{filepath.Join(dir, "missing.sh"), "command: stat " + filepath.Join(dir, "missing.sh") + ": no such file or directory"},
		{dir, "command: " + dir + " is a directory, not an executable file"},
		{plain, "command: " + plain + " is not executable (mode -rw-r--r--; chmod +x it)"},
		{"notify", "command: notify: no such file (the path is used as given, without a PATH lookup: give the full path)"},
	} {
		_, err := New(Config{Command: tc.command}, testDeps(nil))
		require.EqualError(t, err, tc.want)
	}
}

// TestRelativeCommand: a relative command is made absolute at New, so a later
// change of the working directory does not matter.
func TestRelativeCommand(t *testing.T) {
	cmd := writeScript(t, "exit 0")
	t.Chdir(filepath.Dir(cmd))
	s, err := New(Config{Command: "./" + filepath.Base(cmd)}, testDeps(nil))
	require.NoError(t, err)
	require.Equal(t, cmd, s.cfg.Command)
}

// TestConfigCheckNamesTheLine: the configuration loader reports a missing or
// non-executable command with the line of its key, like an unreadable *_file.
func TestConfigCheckNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.sh")
	require.NoError(t, os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644))
	good := writeScript(t, "exit 0")
	for _, tc := range []struct{ command, want string }{
		{filepath.Join(dir, "gone.sh"), `line 8: sinks[0] (script "hook").command: stat ` + filepath.Join(dir, "gone.sh") + ": no such file or directory"},
		{plain, `line 8: sinks[0] (script "hook").command: ` + plain + " is not executable (mode -rw-r--r--; chmod +x it)"},
		{good, ""},
	} {
		doc := "store: { path: " + filepath.Join(dir, "q.db") + " }\n" +
			"http: { listen: 127.0.0.1:0 }\n" +
			"broker: { enabled: \"false\" }\n" +
			"sinks:\n" +
			"  - name: hook\n" +
			"    type: script\n" +
			"    timeout: 5s\n" +
			"    command: " + tc.command + "\n" +
			"routes:\n  - to: [hook]\n"
		_, err := config.Parse([]byte(doc), "edgerelay.yaml")
		if tc.want == "" {
			require.NoError(t, err)
			continue
		}
		require.Error(t, err)
		require.Contains(t, err.Error(), tc.want)
	}
}

// TestSampleThroughRegistry: the registered sample decodes strictly into Config
// over the defaults and validates (but for its command, which only the target
// machine has).
func TestSampleThroughRegistry(t *testing.T) {
	f, ok := adapters.Lookup(adapters.DirSink, "script")
	require.True(t, ok)
	require.Equal(t, sample, f.Sample)
	cfg := f.NewConfig().(*Config)
	dec := yaml.NewDecoder(bytes.NewReader([]byte(f.Sample)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(cfg))
	require.NoError(t, cfg.Validate())
	require.True(t, strings.HasPrefix(cfg.Command, "/etc/edgerelay/"))
	require.Equal(t, DefaultConfig().Timeout, cfg.Timeout)
}
