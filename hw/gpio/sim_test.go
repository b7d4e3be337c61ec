//go:build !edgerelay_omit_gpio

package gpio

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The gpio-sim kernel module (CONFIG_GPIO_SIM) makes GPIO chips that are real
// character devices with simulated lines, configured through configfs; the tests
// below open one through Open, as on a board. periph scans the chips once per
// process, so TestMain makes the chip before any test runs.

const simConfig = "/sys/kernel/config/gpio-sim"

// sim is the chip TestMain made: its device name (gpiochipN), its label, and the
// sysfs directory with one sim_gpio<offset>/value file per line. Empty when the
// kernel offers no gpio-sim; why is in simMissing.
var sim struct {
	chip, label, dev string
}

var simMissing string

// simLines are the simulated chip's line names, by offset.
var simLines = []string{"led-green", "led-red", "spare", "busy"}

func TestMain(m *testing.M) {
	var cleanup func()
	if os.Getenv("EDGERELAY_GPIO_HELPER") == "" { // a helper uses its parent's chip
		var err error
		if cleanup, err = makeSim(); err != nil {
			simMissing = err.Error()
		}
	}
	code := m.Run()
	if cleanup != nil {
		cleanup()
	}
	os.Exit(code)
}

// makeSim makes a gpio-sim chip labelled edgerelay-test with simLines, loading the
// module when it can. It returns the function that removes the chip again.
func makeSim() (cleanup func(), err error) {
	if _, err := os.Stat(simConfig); err != nil {
		if p, lerr := exec.LookPath("modprobe"); lerr == nil {
			_ = exec.Command(p, "gpio-sim").Run()
		}
		if _, err := os.Stat(simConfig); err != nil {
			return nil, fmt.Errorf("the kernel offers no gpio-sim (%s: %v; needs CONFIG_GPIO_SIM, configfs and root)", simConfig, err)
		}
	}
	dev := filepath.Join(simConfig, fmt.Sprintf("edgerelay-test-%d", os.Getpid()))
	bank := filepath.Join(dev, "bank0")
	var made []string // directories to remove, innermost last
	cleanup = func() {
		_ = os.WriteFile(filepath.Join(dev, "live"), []byte("0"), 0)
		for i := len(made) - 1; i >= 0; i-- {
			_ = os.Remove(made[i])
		}
	}
	mkdir := func(d string) error {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
		made = append(made, d)
		return nil
	}
	write := func(f, v string) error { return os.WriteFile(f, []byte(v), 0) }
	steps := []func() error{
		func() error { return mkdir(dev) },
		func() error { return mkdir(bank) },
		func() error { return write(filepath.Join(bank, "label"), "edgerelay-test") },
		func() error { return write(filepath.Join(bank, "num_lines"), fmt.Sprint(len(simLines))) },
	}
	for i, name := range simLines {
		line := filepath.Join(bank, fmt.Sprintf("line%d", i))
		steps = append(steps,
			func() error { return mkdir(line) },
			func() error { return write(filepath.Join(line, "name"), name) })
	}
	steps = append(steps, func() error { return write(filepath.Join(dev, "live"), "1") })
	for _, s := range steps {
		if err := s(); err != nil {
			cleanup()
			return nil, fmt.Errorf("making a gpio-sim chip: %w", err)
		}
	}
	read := func(f string) string {
		b, _ := os.ReadFile(f)
		return strings.TrimSpace(string(b))
	}
	sim.chip, sim.label = read(filepath.Join(bank, "chip_name")), "edgerelay-test"
	sim.dev = filepath.Join("/sys/devices/platform", read(filepath.Join(dev, "dev_name")), sim.chip)
	if sim.chip == "" {
		cleanup()
		return nil, fmt.Errorf("the gpio-sim chip went live without a chip_name")
	}
	return cleanup, nil
}

func needSim(t *testing.T) {
	t.Helper()
	if sim.chip == "" {
		// Not adaptertest.Missing: CI runs in containers without kernel modules, so
		// this cannot be a CI requirement; the gpiotest tests cover the pin logic.
		t.Skipf("SKIP: %s", simMissing)
	}
}

// simValue reads the level the simulated line at offset is driven to ("1" or "0").
func simValue(t *testing.T, offset int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sim.dev, fmt.Sprintf("sim_gpio%d", offset), "value"))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// TestOpenSim opens simulated lines by name (on any chip and on the chip named by
// device name, path or label) and by offset, active-high and active-low, and checks
// the levels the kernel sees.
func TestOpenSim(t *testing.T) {
	needSim(t)
	for _, o := range []Options{
		{Line: "led-green"},
		{Chip: sim.chip, Line: "led-green"},
		{Chip: "/dev/" + sim.chip, Line: "0"},
		{Chip: sim.label, Line: "led-green", ActiveLow: true},
	} {
		l, err := Open(o)
		require.NoError(t, err, "%+v", o)
		off, on := "0", "1"
		if o.ActiveLow {
			off, on = on, off
		}
		require.Equal(t, off, simValue(t, 0), "%+v: opened off", o)
		require.NoError(t, l.Set(true))
		require.Equal(t, on, simValue(t, 0), "%+v: on", o)
		require.NoError(t, l.Close())
		require.Equal(t, off, simValue(t, 0), "%+v: closed off", o)
	}
}

// TestOpenSimErrors: a missing chip or line, an offset past the chip's end and a
// line another program holds are errors that say so.
func TestOpenSimErrors(t *testing.T) {
	needSim(t)
	_, err := Open(Options{Chip: "no-such-chip", Line: "led-green"})
	require.ErrorContains(t, err, `gpio chip "no-such-chip": not found (there are `)
	require.ErrorContains(t, err, sim.label)
	_, err = Open(Options{Chip: sim.chip, Line: "nope"})
	require.ErrorContains(t, err, `gpio line "nope": not found on `+sim.chip)
	_, err = Open(Options{Chip: sim.chip, Line: "9"})
	require.ErrorContains(t, err, fmt.Sprintf("gpio line 9: %s has lines 0 to 3", sim.chip))

	held, err := Open(Options{Chip: sim.chip, Line: "busy"})
	require.NoError(t, err)
	defer func() { _ = held.Close() }()
	// periph hands out one line object per process, so a second holder is another
	// process: this test binary again, asked to open the line and report.
	out, _ := helper(t, "busy")
	require.Contains(t, out, `open: gpio line "busy"`)
	require.Contains(t, out, "(the line is in use by ")
}

// helper runs this test binary as a child that opens the sim line name and prints the
// error.
func helper(t *testing.T, name string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOpen$")
	cmd.Env = append(os.Environ(), "EDGERELAY_GPIO_HELPER="+sim.chip+":"+name)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// TestHelperOpen is the child process of TestOpenSimErrors.
func TestHelperOpen(t *testing.T) {
	spec := os.Getenv("EDGERELAY_GPIO_HELPER")
	if spec == "" {
		t.Skip("a helper process for TestOpenSimErrors")
	}
	chip, line, _ := strings.Cut(spec, ":")
	_, err := Open(Options{Chip: chip, Line: line})
	fmt.Println("open:", err)
}

// TestOpenSimSameLine: the same line by name and by offset is refused, and the line
// opened first is released again (a second OpenEach gets it).
func TestOpenSimSameLine(t *testing.T) {
	needSim(t)
	_, err := OpenEach(sim.chip, false, Line{"indicator.line", "led-red"}, Line{"indicator.red_line", "1"})
	require.EqualError(t, err, fmt.Sprintf(`gpio: indicator.line "led-red" and indicator.red_line "1" are the same line (%s offset 1): each colour needs its own line`, sim.chip))
	leds, err := OpenEach(sim.chip, false, Line{"indicator.line", "led-green"}, Line{"indicator.red_line", "1"})
	require.NoError(t, err)
	require.Len(t, leds, 2)
	for _, l := range leds {
		require.NoError(t, l.Close())
	}
}
