package hw

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// at is a change expected at offset d from the Show.
type at struct {
	d  time.Duration
	on bool
}

// TestDriverTiming plays every software pattern for two cycles on virtual time and
// checks each on/off instant against the table of docs/leds.md, written out here
// rather than derived from the pattern table.
func TestDriverTiming(t *testing.T) {
	cases := []struct {
		p     Pattern
		cycle time.Duration
		want  []at // one cycle; the test expects it twice
	}{
		{Heartbeat, 2 * time.Second, []at{{0, true}, {1000 * ms, false}}},
		{Draining, 5 * time.Second, []at{{0, true}, {1000 * ms, false}, {2000 * ms, true}, {3000 * ms, false}, {4000 * ms, true}, {4150 * ms, false}}},
		{Degraded, 2 * time.Second, []at{{0, true}, {200 * ms, false}, {400 * ms, true}, {600 * ms, false}}},
		{NearFull, 2 * time.Second, []at{{0, true}, {200 * ms, false}, {400 * ms, true}, {600 * ms, false}, {800 * ms, true}, {1000 * ms, false}}},
		{ConfigInvalid, 200 * ms, []at{{0, true}, {100 * ms, false}}},
	}
	for _, tc := range cases {
		t.Run(tc.p.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				led := &Fake{}
				d := NewDriver(led, Options{})
				led.Reset()
				start := time.Now()
				require.NoError(t, d.Show(tc.p))
				time.Sleep(2*tc.cycle - time.Millisecond)
				synctest.Wait()
				var want []at
				for c := range 2 {
					for _, w := range tc.want {
						want = append(want, at{w.d + time.Duration(c)*tc.cycle, w.on})
					}
				}
				require.Equal(t, want, offsets(start, led.Changes()))
				require.NoError(t, d.Close())
				require.True(t, led.Closed())
				last := led.Changes()[len(led.Changes())-1]
				require.False(t, last.On, "Close turns the LED off")
			})
		})
	}
}

func offsets(start time.Time, cs []Change) []at {
	out := make([]at, 0, len(cs))
	for _, c := range cs {
		out = append(out, at{c.At.Sub(start), c.On})
	}
	return out
}

// TestDriverSteady: off and solid on are one write each and start no goroutine
// (nothing changes however long the bubble waits).
func TestDriverSteady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led := &Fake{}
		d := NewDriver(led, Options{})
		start := time.Now()
		require.Equal(t, []at{{0, false}}, offsets(start, led.Changes()))
		require.NoError(t, d.Show(StorageFault))
		time.Sleep(time.Hour)
		require.NoError(t, d.Show(Off))
		require.Equal(t, []at{{0, false}, {0, true}, {time.Hour, false}}, offsets(start, led.Changes()))
		require.NoError(t, d.Close())
	})
}

// TestDriverSwitch: a new pattern starts its sequence at once, and the old one stops.
func TestDriverSwitch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led := &Fake{}
		d := NewDriver(led, Options{})
		led.Reset()
		start := time.Now()
		require.NoError(t, d.Show(Heartbeat))
		time.Sleep(1500 * ms)
		require.NoError(t, d.Show(Heartbeat)) // same pattern: no restart
		require.NoError(t, d.Show(Degraded))
		require.Equal(t, Degraded, d.Pattern())
		time.Sleep(2*time.Second - ms)
		synctest.Wait()
		require.Equal(t, []at{
			{0, true}, {1000 * ms, false}, // heartbeat, cut during its off phase
			{1500 * ms, true}, {1700 * ms, false}, {1900 * ms, true}, {2100 * ms, false},
		}, offsets(start, led.Changes()))
		require.NoError(t, d.Close())
		require.NoError(t, d.Close())
		require.NoError(t, d.Show(Heartbeat), "Show after Close does nothing")
		require.Equal(t, Off, d.Pattern())
	})
}

// TestDriverHardwareBlink: a plain blink goes to a Blinker once, and no goroutine
// toggles the LED; other patterns are still played in software.
func TestDriverHardwareBlink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led := &Fake{CanBlink: true}
		d := NewDriver(led, Options{})
		led.Reset()
		start := time.Now()
		require.NoError(t, d.Show(Heartbeat))
		time.Sleep(10 * time.Second)
		require.NoError(t, d.Show(ConfigInvalid))
		time.Sleep(10 * time.Second)
		require.NoError(t, d.Show(Degraded))
		time.Sleep(time.Second - ms)
		synctest.Wait()
		cs := led.Changes()
		require.Equal(t, []Change{
			{At: start, Blink: true, BlinkOn: time.Second, BlinkOff: time.Second},
			{At: start.Add(10 * time.Second), Blink: true, BlinkOn: 100 * ms, BlinkOff: 100 * ms},
		}, cs[:2])
		require.Equal(t, []at{{20 * time.Second, true}, {20*time.Second + 200*ms, false}, {20*time.Second + 400*ms, true}, {20*time.Second + 600*ms, false}},
			offsets(start, cs[2:]))
		require.NoError(t, d.Close())
	})
}

// TestDriverWriteError: a failing LED is reported by Show and does not stop the
// pattern; it plays again once the LED works.
func TestDriverWriteError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led := &Fake{}
		d := NewDriver(led, Options{})
		led.SetErr(errors.New("gone"))
		require.Error(t, d.Show(StorageFault))
		require.Error(t, d.Show(Heartbeat), "Show reports the first step's write")
		time.Sleep(1500 * ms)
		led.SetErr(nil)
		led.Reset()
		start := time.Now()
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, []at{{500 * ms, true}}, offsets(start, led.Changes()))
		require.NoError(t, d.Close())
	})
}

func TestParsePattern(t *testing.T) {
	for _, p := range Patterns() {
		got, err := ParsePattern(p.String())
		require.NoError(t, err)
		require.Equal(t, p, got)
		require.NotEmpty(t, p.Meaning())
	}
	_, err := ParsePattern("disco")
	require.ErrorContains(t, err, "heartbeat")
	require.Len(t, Patterns(), 7)
}
