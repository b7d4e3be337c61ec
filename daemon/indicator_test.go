package daemon_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/hw"
)

// showRecorder is an hw.Indicator that records what it is told.
type showRecorder struct {
	mu     sync.Mutex
	shown  []hw.Pattern
	closed bool
	seen   chan hw.Pattern
}

func (r *showRecorder) Show(p hw.Pattern) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shown = append(r.shown, p)
	select {
	case r.seen <- p:
	default:
	}
	return nil
}

func (r *showRecorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func indicatorConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(hook.Close)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sinks: [ { name: hook, type: webhook, url: %q } ]
routes: [ { to: [hook] } ]
%s`, t.TempDir(), hook.URL, extra)), "test.yaml")
	require.NoError(t, err)
	return cfg
}

// waitPattern waits for the indicator to be shown p; the bound only keeps a broken
// build from hanging.
func waitPattern(t *testing.T, r *showRecorder, p hw.Pattern) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case got := <-r.seen:
			if got == p {
				return
			}
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("pattern %s never shown; shown: %v", p, r.shown)
		}
	}
}

// TestIndicatorDriven: a running, healthy daemon shows the heartbeat; Stop closes
// the indicator.
func TestIndicatorDriven(t *testing.T) {
	rec := &showRecorder{seen: make(chan hw.Pattern, 16)}
	d, err := daemon.New(daemon.Options{Config: indicatorConfig(t, ""), Log: slog.New(slog.DiscardHandler), Version: "test", Indicator: rec})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	waitPattern(t, rec, hw.Heartbeat)
	stop()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.True(t, rec.closed)
}

// TestIndicatorMissingLED: a configured LED that is not there is one warning, and
// the daemon starts without it.
func TestIndicatorMissingLED(t *testing.T) {
	var log bytes.Buffer
	cfg := indicatorConfig(t, fmt.Sprintf("indicator: { backend: sysfs-led, led: ACT, root: %s }\n", t.TempDir()))
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.NewTextHandler(&log, nil)), Version: "test"})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	stop()
	require.Equal(t, 1, strings.Count(log.String(), "status LED not available"), log.String())
}

// TestIndicatorNone: no indicator section is one warning that says how to configure
// one, and the daemon starts.
func TestIndicatorNone(t *testing.T) {
	var log bytes.Buffer
	d, err := daemon.New(daemon.Options{Config: indicatorConfig(t, ""), Log: slog.New(slog.NewTextHandler(&log, nil)), Version: "test"})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	stop()
	require.Equal(t, 1, strings.Count(log.String(), "no status LED configured"), log.String())
	require.Contains(t, log.String(), "set indicator.backend (sysfs-led or gpio)")
}

// TestIndicatorNoneChosen: backend none given in the file is no warning, only one
// line at Info.
func TestIndicatorNoneChosen(t *testing.T) {
	var log bytes.Buffer
	cfg := indicatorConfig(t, "indicator: { backend: none }\n")
	require.True(t, cfg.Indicator.Chosen)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.NewTextHandler(&log, nil)), Version: "test"})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	stop()
	require.NotContains(t, log.String(), "no status LED configured")
	require.Equal(t, 1, strings.Count(log.String(), `level=INFO msg="no status LED (indicator.backend: none)"`), log.String())
}

// TestIndicatorMissingGPIO: a GPIO line that is not there (on this machine no chip
// at all, or no such line) is one warning naming it, and the daemon starts.
func TestIndicatorMissingGPIO(t *testing.T) {
	var log bytes.Buffer
	cfg := indicatorConfig(t, "indicator: { backend: gpio, line: edgerelay-no-such-line }\n")
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.NewTextHandler(&log, nil)), Version: "test"})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	stop()
	require.Equal(t, 1, strings.Count(log.String(), "status LED not available"), log.String())
	require.Contains(t, log.String(), "backend=gpio led=edgerelay-no-such-line")
	require.NotContains(t, log.String(), "no status LED configured")

	_, err = daemon.OpenIndicator(config.Indicator{Backend: config.IndicatorGPIO, Chip: "gpiochip0", Line: "edgerelay-no-such-line"}, hw.Options{})
	require.ErrorContains(t, err, "gpio")
	require.Equal(t, "gpiochip0 line 17", daemon.IndicatorName(config.Indicator{Backend: config.IndicatorGPIO, Chip: "gpiochip0", Line: "17"}))
}

// TestLEDPatternMetric: /metrics has one edgerelay_led_pattern series per pattern,
// 1 for the one the daemon's state calls for (the heartbeat, healthy and without an
// LED) and 0 for the rest.
func TestLEDPatternMetric(t *testing.T) {
	d, err := daemon.New(daemon.Options{Config: indicatorConfig(t, ""), Log: slog.New(slog.DiscardHandler), Version: "test"})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	defer stop()
	scrape := func() string {
		resp, err := http.Get("http://" + d.Addr() + "/metrics")
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		var b bytes.Buffer
		_, err = b.ReadFrom(resp.Body)
		require.NoError(t, err)
		return b.String()
	}
	var body string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if body = scrape(); strings.Contains(body, `edgerelay_led_pattern{pattern="heartbeat"} 1`) {
			break
		}
		require.True(t, time.Now().Before(deadline), "no heartbeat on /metrics:\n%s", body)
	}
	require.Equal(t, hw.Heartbeat, d.LEDPattern())
	for _, p := range hw.Patterns() {
		want := 0
		if p == hw.Heartbeat {
			want = 1
		}
		require.Contains(t, body, fmt.Sprintf("edgerelay_led_pattern{pattern=%q} %d\n", p, want))
	}
}

// TestIndicatorSysfsLED: the configured LED-class device gets the heartbeat as a
// kernel timer blink, and is given back to its trigger at the end.
func TestIndicatorSysfsLED(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "ACT")
	require.NoError(t, os.Mkdir(dir, 0o755))
	for f, v := range map[string]string{"brightness": "0", "max_brightness": "1", "trigger": "none [mmc0] timer", "delay_on": "500", "delay_off": "500"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644))
	}
	read := func(f string) string {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		return string(b)
	}
	cfg := indicatorConfig(t, fmt.Sprintf("indicator: { backend: sysfs-led, led: ACT, root: %s }\n", root))
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "test"})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	for deadline := time.Now().Add(15 * time.Second); read("delay_on") != "1000"; time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "no heartbeat: trigger %q", read("trigger"))
	}
	require.Equal(t, "timer", read("trigger"))
	require.Equal(t, "1000", read("delay_off"))
	stop()
	require.Equal(t, "mmc0", read("trigger"))
	require.Equal(t, "0", read("brightness"))
}

// TestOpenIndicatorBiColour: with red_led the faults light the red device and the
// healthy patterns the green one; a missing red device closes the green one again.
func TestOpenIndicatorBiColour(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"green", "red"} {
		dir := filepath.Join(root, name)
		require.NoError(t, os.Mkdir(dir, 0o755))
		for f, v := range map[string]string{"brightness": "0", "max_brightness": "1", "trigger": "[none] heartbeat"} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644))
		}
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name, "brightness"))
		require.NoError(t, err)
		return string(b)
	}
	c := config.Indicator{Backend: config.IndicatorSysfsLED, LED: "green", RedLED: "red", Root: root}
	ind, err := daemon.OpenIndicator(c, hw.Options{})
	require.NoError(t, err)
	require.NoError(t, ind.Show(hw.StorageFault))
	require.Equal(t, "1", read("red"))
	require.Equal(t, "0", read("green"))
	require.NoError(t, ind.Close())
	require.Equal(t, "0", read("red"))

	c.AmberLED = "amber"
	_, err = daemon.OpenIndicator(c, hw.Options{})
	require.ErrorIs(t, err, os.ErrNotExist)

	none, err := daemon.OpenIndicator(config.Indicator{Backend: config.IndicatorNone}, hw.Options{})
	require.NoError(t, err)
	require.Nil(t, none)
}
