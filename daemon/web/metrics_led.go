package web

// MetricLEDPattern is 1 for the status LED pattern the daemon's state calls for now
// and 0 for the others, by pattern (docs/leds.md's names): what the field technician
// sees on the LED, for the remote operator. It is set with or without an LED.
const MetricLEDPattern = "edgerelay_led_pattern"

// LEDPattern exposes one series per pattern name in patterns, reading 1 for the one
// current returns and 0 for the rest. current is called at each scrape, so the series
// follow the daemon's state without further calls.
func (m *Metrics) LEDPattern(patterns []string, current func() string) {
	for _, p := range patterns {
		m.callbackGauge(series(MetricLEDPattern, "pattern", p), func() float64 {
			if current() == p {
				return 1
			}
			return 0
		})
	}
}
