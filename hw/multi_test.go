package hw

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMultiColours: green for the healthy patterns, amber (green and red together)
// for the warnings, red for the faults; the timing is the single-colour one.
func TestMultiColours(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, r := &Fake{}, &Fake{}
		d := NewDriver(&Multi{Green: g, Red: r}, Options{})
		reset := func() { g.Reset(); r.Reset() }

		reset()
		start := time.Now()
		require.NoError(t, d.Show(Heartbeat))
		time.Sleep(2*time.Second - ms)
		synctest.Wait()
		require.Equal(t, []at{{0, true}, {time.Second, false}}, offsets(start, g.Changes()))
		require.Empty(t, r.Changes())

		reset()
		start = time.Now()
		require.NoError(t, d.Show(Degraded))
		time.Sleep(2*time.Second - ms)
		synctest.Wait()
		want := []at{{0, true}, {200 * ms, false}, {400 * ms, true}, {600 * ms, false}}
		require.Equal(t, want, offsets(start, g.Changes()), "amber: green")
		require.Equal(t, want, offsets(start, r.Changes()), "amber: and red")

		reset()
		start = time.Now()
		require.NoError(t, d.Show(StorageFault))
		require.Equal(t, []at{{0, true}}, offsets(start, r.Changes()))
		require.Empty(t, g.Changes(), "green stays off")

		require.NoError(t, d.Close())
		require.True(t, g.Closed())
		require.True(t, r.Closed())
		require.False(t, g.On())
		require.False(t, r.On())
	})
}

// TestMultiOwnAmber: an LED with its own amber channel lights only that one, and
// a plain blink of one channel goes to its kernel timer.
func TestMultiOwnAmber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, a, r := &Fake{CanBlink: true}, &Fake{}, &Fake{CanBlink: true}
		d := NewDriver(&Multi{Green: g, Amber: a, Red: r}, Options{})
		g.Reset()
		a.Reset()
		r.Reset()
		start := time.Now()
		require.NoError(t, d.Show(NearFull))
		time.Sleep(2*time.Second - ms)
		synctest.Wait()
		require.Equal(t, []at{{0, true}, {200 * ms, false}, {400 * ms, true}, {600 * ms, false}, {800 * ms, true}, {1000 * ms, false}},
			offsets(start, a.Changes()))
		require.Empty(t, g.Changes())
		require.Empty(t, r.Changes())

		require.NoError(t, d.Show(ConfigInvalid))
		cs := r.Changes()
		require.Equal(t, Change{At: cs[len(cs)-1].At, Blink: true, BlinkOn: 100 * ms, BlinkOff: 100 * ms}, cs[len(cs)-1])
		require.Equal(t, Red, ConfigInvalid.Colour())
		require.NoError(t, d.Close())
	})
}
