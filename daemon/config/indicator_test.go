package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIndicatorDefaults(t *testing.T) {
	cfg, err := Parse([]byte(good), "good.yaml")
	require.NoError(t, err)
	require.Equal(t, Indicator{Backend: IndicatorNone, Root: "/sys/class/leds"}, cfg.Indicator)
	out, err := Print(cfg)
	require.NoError(t, err)
	require.Contains(t, string(out), "backend: none # not set in the file: no status LED\n", "print says none is the default")

	cfg, err = Parse([]byte(good+"indicator:\n  backend: none\n"), "none.yaml")
	require.NoError(t, err)
	require.Equal(t, Indicator{Chosen: true, Backend: IndicatorNone, Root: "/sys/class/leds"}, cfg.Indicator, "none given is told from none by default")
	out, err = Print(cfg)
	require.NoError(t, err)
	require.Contains(t, string(out), "backend: none\n")

	cfg, err = Parse([]byte(good+"indicator:\n  backend: sysfs-led\n  led: ACT\n  active_low: true\n"), "led.yaml")
	require.NoError(t, err)
	require.Equal(t, Indicator{Chosen: true, Backend: IndicatorSysfsLED, LED: "ACT", Root: "/sys/class/leds", ActiveLow: true}, cfg.Indicator)

	cfg, err = Parse([]byte(good+"indicator:\n  backend: sysfs-led\n  led: g\n  red_led: r\n  amber_led: y\n"), "rgb.yaml")
	require.NoError(t, err)
	require.Equal(t, Indicator{Chosen: true, Backend: IndicatorSysfsLED, LED: "g", RedLED: "r", AmberLED: "y", Root: "/sys/class/leds"}, cfg.Indicator)

	out, err = Print(cfg)
	require.NoError(t, err)
	again, err := Parse(out, "printed.yaml")
	require.NoError(t, err)
	require.Equal(t, cfg.Indicator, again.Indicator)

	cfg, err = Parse([]byte(good+"indicator:\n  backend: gpio\n  line: GPIO17\n  active_low: true\n"), "gpio.yaml")
	require.NoError(t, err)
	require.Equal(t, Indicator{Chosen: true, Backend: IndicatorGPIO, Line: "GPIO17", Root: "/sys/class/leds", ActiveLow: true}, cfg.Indicator)

	// A YAML number is an offset, kept as written.
	cfg, err = Parse([]byte(good+"indicator:\n  backend: gpio\n  chip: gpiochip0\n  line: 17\n  red_line: 27\n  amber_line: 22\n"), "gpio-rgb.yaml")
	require.NoError(t, err)
	require.Equal(t, Indicator{Chosen: true, Backend: IndicatorGPIO, Chip: "gpiochip0", Line: "17", RedLine: "27", AmberLine: "22", Root: "/sys/class/leds"}, cfg.Indicator)
	out, err = Print(cfg)
	require.NoError(t, err)
	again, err = Parse(out, "printed.yaml")
	require.NoError(t, err)
	require.Equal(t, cfg.Indicator, again.Indicator)
}

func TestIndicatorProblems(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "indicator:\n  backend: none\n  colour: red\n", "colour"},
		{"unknown backend", "indicator:\n  backend: gpoi\n", `indicator.backend: "gpoi" is not one of sysfs-led, gpio, none`},
		{"no led", "indicator:\n  backend: sysfs-led\n", "indicator.led: required with backend sysfs-led"},
		{"led is a path", "indicator:\n  backend: sysfs-led\n  led: ../ACT\n", `indicator.led: "../ACT" is not a device name`},
		{"red_led is a path", "indicator:\n  backend: sysfs-led\n  led: g\n  red_led: a/b\n", `indicator.red_led: "a/b" is not a device name`},
		{"amber without red", "indicator:\n  backend: sysfs-led\n  led: g\n  amber_led: y\n", "indicator.amber_led: only with indicator.red_led"},
		{"gpio key with sysfs-led", "indicator:\n  backend: sysfs-led\n  led: g\n  line: GPIO17\n", "indicator.line: only with backend gpio"},
		{"no line", "indicator:\n  backend: gpio\n  chip: gpiochip0\n", "indicator.line: required with backend gpio"},
		{"sysfs key with gpio", "indicator:\n  backend: gpio\n  line: GPIO17\n  led: ACT\n", "indicator.led: only with backend sysfs-led"},
		{"offset without chip", "indicator:\n  backend: gpio\n  line: 17\n", "indicator.chip: required when indicator.line is a line offset (17)"},
		{"red offset without chip", "indicator:\n  backend: gpio\n  line: GPIO17\n  red_line: 27\n", "indicator.chip: required when indicator.red_line is a line offset (27)"},
		{"amber line without red", "indicator:\n  backend: gpio\n  line: GPIO17\n  amber_line: GPIO22\n", "indicator.amber_line: only with indicator.red_line"},
		{"same line twice", "indicator:\n  backend: gpio\n  line: GPIO17\n  red_line: GPIO17\n", `indicator.red_line: "GPIO17" is indicator.line already`},
		{"chip is a path elsewhere", "indicator:\n  backend: gpio\n  chip: ../gpiochip0\n  line: GPIO17\n", `indicator.chip: "../gpiochip0" is not a chip`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(good+tc.yaml), "bad.yaml")
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestIndicatorSection(t *testing.T) {
	c, err := IndicatorSection([]byte("sinks: [ { type: nonsense } ]\nindicator: { backend: sysfs-led, led: ACT }\n"))
	require.NoError(t, err, "the rest of the file is not looked at")
	require.Equal(t, Indicator{Chosen: true, Backend: IndicatorSysfsLED, LED: "ACT", Root: "/sys/class/leds"}, c)

	c, err = IndicatorSection([]byte("sinks: []\n"))
	require.NoError(t, err)
	require.Equal(t, IndicatorNone, c.Backend)

	_, err = IndicatorSection([]byte("indicator: { backend: sysfs-led }\n"))
	require.ErrorContains(t, err, "indicator.led: required")
	_, err = IndicatorSection([]byte("indicator: [\n"))
	require.Error(t, err)
}
