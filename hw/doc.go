// Package hw shows the daemon's state on a status LED: a [Pattern] for each state
// (the blink codes of docs/leds.md), chosen from the health facts by [Choose], and
// played on an [Indicator].
//
// # Indicators and LEDs
//
// An [Indicator] takes a pattern and keeps showing it until told otherwise. The one
// implementation, [Driver], plays a pattern's on/off sequence on an [LED], a plain
// on/off output, with timers from the daemon's clock (package adapters/clock). An
// LED that can also blink by itself ([Blinker], the LED class's kernel timer
// trigger) gets plain blinks handed over, so the CPU does not wake for them; the
// driver plays the other patterns in software.
//
// The backends: [OpenSysfs], the Linux LED class (/sys/class/leds/<name>); [Multi],
// a bi-colour or RGB LED made of one LED per colour (each pattern has a colour:
// green when healthy, amber for warnings, red for faults); [Fake], a recording LED
// for tests. GPIO lines (the GPIO character device, through periph.io) are package
// hw/gpio, kept apart so that only it imports periph and a build tag can drop it.
//
// # Testing
//
// Timing tests run the driver on the real clock inside a testing/synctest bubble,
// where time is virtual, and assert the instants the fake LED recorded.
package hw
