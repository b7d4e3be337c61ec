package hw

import (
	"fmt"
	"strings"
	"time"
)

// Pattern is what the indicator shows: one of the blink codes of docs/leds.md. The
// zero Pattern is Off.
type Pattern uint8

// The patterns, in increasing order of urgency (Choose picks the most urgent that
// applies; Off aside, which means the daemon is not running).
const (
	// Off: the daemon is not running.
	Off Pattern = iota
	// Heartbeat: running, every output healthy, queue empty. 1 s on, 1 s off.
	Heartbeat
	// Draining: running and delivering a backlog. Two slow blinks then a short flash,
	// every 5 s.
	Draining
	// Degraded: an output unreachable or retrying, or the node not ready; events are
	// buffered. A double blink every 2 s.
	Degraded
	// NearFull: the store is close to store.max_bytes (when_full about to act). A
	// triple blink every 2 s.
	NearFull
	// ConfigInvalid: the configuration is invalid and the daemon refuses to start.
	// 5 Hz blink.
	ConfigInvalid
	// StorageFault: the store was quarantined at start, cannot commit, or is full.
	// Solid on.
	StorageFault

	numPatterns = iota
)

// Step is one phase of a pattern: the LED on or off for D. A pattern whose only step
// has a zero D holds that state for good.
type Step struct {
	On bool
	D  time.Duration
}

const ms = time.Millisecond

// Colour is the colour a pattern lights on a bi-colour or RGB LED ([Multi]).
type Colour uint8

// The colours. Amber is green and red together unless the LED has its own amber.
const (
	Green Colour = iota
	Amber
	Red
)

// String returns "green", "amber" or "red".
func (c Colour) String() string {
	switch c {
	case Green:
		return "green"
	case Amber:
		return "amber"
	case Red:
		return "red"
	}
	return fmt.Sprintf("colour(%d)", uint8(c))
}

// patterns is the one definition of every pattern: its name, what it means, its
// colour on a multi-colour LED and its sequence, played in a loop.
var patterns = [numPatterns]struct {
	name, meaning string
	colour        Colour
	steps         []Step
}{
	Off: {"off", "daemon not running", Green, []Step{{false, 0}}},
	Heartbeat: {"heartbeat", "running, all outputs healthy, queue empty", Green,
		[]Step{{true, 1000 * ms}, {false, 1000 * ms}}},
	Draining: {"draining", "running, delivering a backlog", Green,
		[]Step{{true, 1000 * ms}, {false, 1000 * ms}, {true, 1000 * ms}, {false, 1000 * ms}, {true, 150 * ms}, {false, 850 * ms}}},
	Degraded: {"degraded", "an output unreachable or retrying, events buffered", Amber,
		[]Step{{true, 200 * ms}, {false, 200 * ms}, {true, 200 * ms}, {false, 1400 * ms}}},
	NearFull: {"near-full", "store near capacity, when_full about to block or drop", Amber,
		[]Step{{true, 200 * ms}, {false, 200 * ms}, {true, 200 * ms}, {false, 200 * ms}, {true, 200 * ms}, {false, 1000 * ms}}},
	ConfigInvalid: {"config-invalid", "configuration invalid, refusing to start", Red,
		[]Step{{true, 100 * ms}, {false, 100 * ms}}},
	StorageFault: {"storage-fault", "store quarantined, not writable or full", Red,
		[]Step{{true, 0}}},
}

// Colour returns the colour the pattern lights on a multi-colour LED.
func (p Pattern) Colour() Colour {
	if p < numPatterns {
		return patterns[p].colour
	}
	return Green
}

// Patterns returns every pattern in the order led test cycles them.
func Patterns() []Pattern {
	out := make([]Pattern, numPatterns)
	for i := range out {
		out[i] = Pattern(i)
	}
	return out
}

// String returns the pattern's name ("near-full"), or "pattern(N)".
func (p Pattern) String() string {
	if p < numPatterns {
		return patterns[p].name
	}
	return fmt.Sprintf("pattern(%d)", uint8(p))
}

// MarshalText encodes the pattern as its name.
func (p Pattern) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Meaning returns one line saying what the pattern reports.
func (p Pattern) Meaning() string {
	if p < numPatterns {
		return patterns[p].meaning
	}
	return ""
}

// Steps returns the pattern's sequence (a copy), played in a loop; an unknown pattern
// is off.
func (p Pattern) Steps() []Step {
	if p >= numPatterns {
		p = Off
	}
	return append([]Step(nil), patterns[p].steps...)
}

// Steady reports whether the pattern holds one state (off, solid on), and which.
func (p Pattern) Steady() (on, ok bool) {
	s := p.Steps()
	return s[0].On, len(s) == 1
}

// Blink reports whether the pattern is a plain blink (on for one time, off for
// another, repeating), which a kernel LED trigger can play without waking the CPU,
// and its two times.
func (p Pattern) Blink() (on, off time.Duration, ok bool) {
	s := p.Steps()
	if len(s) != 2 || !s[0].On || s[1].On {
		return 0, 0, false
	}
	return s[0].D, s[1].D, true
}

// ParsePattern returns the pattern named s (as String spells it).
func ParsePattern(s string) (Pattern, error) {
	for i := range patterns {
		if patterns[i].name == s {
			return Pattern(i), nil
		}
	}
	names := make([]string, len(patterns))
	for i := range patterns {
		names[i] = patterns[i].name
	}
	return Off, fmt.Errorf("unknown pattern %q (one of %s)", s, strings.Join(names, ", "))
}
