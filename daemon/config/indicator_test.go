package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIndicatorDefaults(t *testing.T) {
	cfg, err := Parse([]byte(good), "good.yaml")
	require.NoError(t, err)
	require.Equal(t, Indicator{Backend: IndicatorNone, Root: "/sys/class/leds"}, cfg.Indicator)

	cfg, err = Parse([]byte(good+"indicator:\n  backend: sysfs-led\n  led: ACT\n  active_low: true\n"), "led.yaml")
	require.NoError(t, err)
	require.Equal(t, Indicator{Backend: IndicatorSysfsLED, LED: "ACT", Root: "/sys/class/leds", ActiveLow: true}, cfg.Indicator)

	cfg, err = Parse([]byte(good+"indicator:\n  backend: sysfs-led\n  led: g\n  red_led: r\n  amber_led: y\n"), "rgb.yaml")
	require.NoError(t, err)
	require.Equal(t, Indicator{Backend: IndicatorSysfsLED, LED: "g", RedLED: "r", AmberLED: "y", Root: "/sys/class/leds"}, cfg.Indicator)

	out, err := Print(cfg)
	require.NoError(t, err)
	again, err := Parse(out, "printed.yaml")
	require.NoError(t, err)
	require.Equal(t, cfg.Indicator, again.Indicator)
}

func TestIndicatorProblems(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "indicator:\n  backend: none\n  colour: red\n", "colour"},
		{"unknown backend", "indicator:\n  backend: gpio\n", `indicator.backend: "gpio" is not one of sysfs-led, none`},
		{"no led", "indicator:\n  backend: sysfs-led\n", "indicator.led: required with backend sysfs-led"},
		{"led is a path", "indicator:\n  backend: sysfs-led\n  led: ../ACT\n", `indicator.led: "../ACT" is not a device name`},
		{"red_led is a path", "indicator:\n  backend: sysfs-led\n  led: g\n  red_led: a/b\n", `indicator.red_led: "a/b" is not a device name`},
		{"amber without red", "indicator:\n  backend: sysfs-led\n  led: g\n  amber_led: y\n", "indicator.amber_led: only with indicator.red_led"},
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
	require.Equal(t, Indicator{Backend: IndicatorSysfsLED, LED: "ACT", Root: "/sys/class/leds"}, c)

	c, err = IndicatorSection([]byte("sinks: []\n"))
	require.NoError(t, err)
	require.Equal(t, IndicatorNone, c.Backend)

	_, err = IndicatorSection([]byte("indicator: { backend: sysfs-led }\n"))
	require.ErrorContains(t, err, "indicator.led: required")
	_, err = IndicatorSection([]byte("indicator: [\n"))
	require.Error(t, err)
}
