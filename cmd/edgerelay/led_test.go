package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// ledConfig writes a configuration whose indicator is root/ACT, a tree laid out like
// /sys/class/leds (with the timer trigger when timer is set).
func ledConfig(t *testing.T, timer bool) (cfgPath, dir string) {
	t.Helper()
	root := t.TempDir()
	dir = filepath.Join(root, "ACT")
	require.NoError(t, os.Mkdir(dir, 0o755))
	files := map[string]string{"brightness": "0", "max_brightness": "1", "trigger": "none [mmc0]"}
	if timer {
		files["trigger"] = "none [mmc0] timer"
		files["delay_on"], files["delay_off"] = "500", "500"
	}
	for f, v := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644))
	}
	cfgPath = filepath.Join(t.TempDir(), "edgerelay.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
store: { path: %s/q.db }
sinks: [ { name: console, type: stdout } ]
routes: [ { to: [console] } ]
indicator: { backend: sysfs-led, led: ACT, root: %s }
`, t.TempDir(), root)), 0o600))
	return cfgPath, dir
}

func readAttr(t *testing.T, dir, f string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, f))
	require.NoError(t, err)
	return string(b)
}

// TestLEDTest cycles every pattern, 10 s each on virtual time, and leaves the LED off
// and back with its trigger.
func TestLEDTest(t *testing.T) {
	for _, timer := range []bool{true, false} {
		t.Run(fmt.Sprintf("timer=%v", timer), func(t *testing.T) {
			cfg, dir := ledConfig(t, timer)
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				code, out, errOut := cli(t, "led", "test", "-c", cfg)
				require.Equal(t, 0, code, errOut)
				require.Equal(t, 70*time.Second, time.Since(start), "7 patterns, 10 s each")
				for _, p := range []string{"off", "heartbeat", "draining", "degraded", "near-full", "config-invalid", "storage-fault"} {
					require.Contains(t, out, "\n"+p+" ")
				}
			})
			require.Equal(t, "0", readAttr(t, dir, "brightness"))
			require.Equal(t, "mmc0", readAttr(t, dir, "trigger"))
		})
	}
}

func TestLEDTestOnePattern(t *testing.T) {
	cfg, dir := ledConfig(t, true)
	synctest.Test(t, func(t *testing.T) {
		code, out, errOut := cli(t, "led", "test", "-c", cfg, "--pattern", "config-invalid", "--each", "1s")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "config-invalid")
		require.NotContains(t, out, "heartbeat")
	})
	require.Equal(t, "100", readAttr(t, dir, "delay_on"), "5 Hz by the kernel timer")
}

func TestLEDTestErrors(t *testing.T) {
	cfg, dir := ledConfig(t, true)
	code, _, errOut := cli(t, "led", "test", "-c", cfg, "--pattern", "disco")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, `unknown pattern "disco"`)

	require.NoError(t, os.RemoveAll(dir))
	code, _, errOut = cli(t, "led", "test", "-c", cfg)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, `status LED "ACT"`)

	none := filepath.Join(t.TempDir(), "none.yaml")
	require.NoError(t, os.WriteFile(none, []byte("sinks: [ { name: console, type: stdout } ]\nroutes: [ { to: [console] } ]\n"), 0o600))
	code, _, errOut = cli(t, "led", "test", "-c", none)
	require.Equal(t, exitConfig, code)
	require.True(t, strings.Contains(errOut, "indicator.backend: none"), errOut)
}

// TestRunConfigInvalidLED: run refusing an invalid file leaves the LED blinking
// config-invalid on the kernel timer, which outlives the process; an LED without the
// timer is given back to its trigger, off.
func TestRunConfigInvalidLED(t *testing.T) {
	for _, timer := range []bool{true, false} {
		t.Run(fmt.Sprintf("timer=%v", timer), func(t *testing.T) {
			cfg, dir := ledConfig(t, timer)
			b, err := os.ReadFile(cfg)
			require.NoError(t, err)
			bad := strings.Replace(string(b), "type: stdout", "type: stdout, colour: red", 1)
			require.NoError(t, os.WriteFile(cfg, []byte(bad), 0o600))
			code, _, errOut := cli(t, "run", "-c", cfg)
			require.Equal(t, exitConfig, code, errOut)
			if timer {
				require.Equal(t, "timer", readAttr(t, dir, "trigger"))
				require.Equal(t, "100", readAttr(t, dir, "delay_on"))
				require.Equal(t, "100", readAttr(t, dir, "delay_off"))
			} else {
				require.Equal(t, "mmc0", readAttr(t, dir, "trigger"))
				require.Equal(t, "0", readAttr(t, dir, "brightness"))
			}
		})
	}
}
