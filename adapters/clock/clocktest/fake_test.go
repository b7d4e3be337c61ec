package clocktest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestFakeFiresInDeadlineOrder(t *testing.T) {
	f := NewFake(t0)
	late := f.NewTimer(2 * time.Second)
	early := f.NewTimer(time.Second)
	fired := make(chan time.Time, 1)
	f.AfterFunc(1500*time.Millisecond, func() { fired <- f.Now() })
	next, ok := f.Next()
	require.True(t, ok)
	require.Equal(t, t0.Add(time.Second), next)

	f.Advance(999 * time.Millisecond)
	require.Empty(t, early.C(), "not due yet")
	f.Advance(time.Millisecond)
	require.Equal(t, t0.Add(time.Second), <-early.C())
	require.Empty(t, late.C())

	f.Advance(time.Second)
	require.Equal(t, t0.Add(2*time.Second), <-late.C())
	at := <-fired
	require.False(t, at.Before(t0.Add(1500*time.Millisecond)))
	_, ok = f.Next()
	require.False(t, ok, "every timer fired")
	require.Equal(t, t0.Add(2*time.Second), f.Now())
}

func TestFakeStopResetAndTicker(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Second)
	require.True(t, tm.Stop())
	require.False(t, tm.Stop())
	f.Advance(time.Hour)
	require.Empty(t, tm.C())
	require.False(t, tm.Reset(time.Minute))
	f.Advance(time.Minute)
	require.Equal(t, t0.Add(time.Hour+time.Minute), <-tm.C())

	tk := f.NewTicker(10 * time.Second)
	f.Advance(10 * time.Second)
	require.Equal(t, t0.Add(time.Hour+time.Minute+10*time.Second), <-tk.C())
	f.Advance(25 * time.Second) // two ticks due, one kept: the channel holds one
	require.Len(t, tk.C(), 1)
	<-tk.C()
	next, _ := f.Next()
	require.Equal(t, f.Now().Add(5*time.Second), next)
	tk.Stop()
	_, ok := f.Next()
	require.False(t, ok)
}

func TestFakeZeroDurationFiresAtOnce(t *testing.T) {
	f := NewFake(t0)
	require.Equal(t, t0, <-f.NewTimer(0).C())
	done := make(chan struct{})
	f.AfterFunc(-time.Second, func() { close(done) })
	<-done
}

// TestFakeStopResetDropStaleTick: after Stop or Reset of a timer or ticker whose tick
// is already in the channel, that tick is not received (Go 1.23 timer semantics).
func TestFakeStopResetDropStaleTick(t *testing.T) {
	tests := []struct {
		name string
		// arm returns the channel and a call that stops or re-arms it; period is when
		// the first tick is due.
		arm func(f *Fake) (<-chan time.Time, func())
		// rearmed tells whether the call left it armed for another period.
		rearmed bool
	}{
		{"timer Stop", func(f *Fake) (<-chan time.Time, func()) {
			tm := f.NewTimer(time.Second)
			return tm.C(), func() { tm.Stop() }
		}, false},
		{"timer Reset", func(f *Fake) (<-chan time.Time, func()) {
			tm := f.NewTimer(time.Second)
			return tm.C(), func() { tm.Reset(time.Second) }
		}, true},
		{"ticker Stop", func(f *Fake) (<-chan time.Time, func()) {
			tk := f.NewTicker(time.Second)
			return tk.C(), tk.Stop
		}, false},
		{"ticker Reset", func(f *Fake) (<-chan time.Time, func()) {
			tk := f.NewTicker(time.Second)
			return tk.C(), func() { tk.Reset(time.Second) }
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFake(t0)
			c, call := tc.arm(f)
			f.Advance(time.Second)
			require.Len(t, c, 1, "the tick is waiting in the channel")
			call()
			require.Empty(t, c, "the stale tick is gone")
			f.Advance(time.Second)
			if !tc.rearmed {
				require.Empty(t, c)
				_, ok := f.Next()
				require.False(t, ok)
				return
			}
			require.Equal(t, t0.Add(2*time.Second), <-c, "the fresh tick comes one period after the call")
		})
	}
}

func TestFakeResetZeroAfterStaleTick(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Second)
	f.Advance(time.Second)
	tm.Reset(0)
	require.Equal(t, t0.Add(time.Second), <-tm.C(), "the fresh value, sent by Reset(0) itself")
	require.Empty(t, tm.C(), "and only that one")
}

// TestWaitNext: WaitNext returns at once when a timer is armed, wakes when one is armed
// later, and gives up after its limit when none is.
func TestWaitNext(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	if _, ok := f.WaitNext(time.Millisecond); ok {
		t.Fatal("WaitNext reported a timer when none was armed")
	}
	woke := make(chan time.Time, 1)
	go func() { // ends when a timer is armed or after 10 s
		at, _ := f.WaitNext(10 * time.Second)
		woke <- at
	}()
	f.AfterFunc(3*time.Second, func() {})
	if at := <-woke; !at.Equal(time.Unix(3, 0)) {
		t.Fatalf("WaitNext woke with %v, want the armed deadline", at)
	}
	if at, ok := f.WaitNext(0); !ok || !at.Equal(time.Unix(3, 0)) {
		t.Fatalf("WaitNext with a timer armed = %v, %v", at, ok)
	}
}
