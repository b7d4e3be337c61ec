package breaker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/breaker"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// step is one action on the breaker and what must hold after it.
type step struct {
	do      string // allow, success, failure, release, advance
	advance time.Duration
	allowed bool          // for allow
	wait    time.Duration // for allow when refused
	state   breaker.State
}

func TestTransitions(t *testing.T) {
	cfg := breaker.Config{Failures: 3, OpenFor: 30 * time.Second}
	tests := []struct {
		name    string
		steps   []step
		changes []breaker.State
	}{
		{"failures below the bound keep it closed", []step{
			{do: "failure", state: breaker.Closed},
			{do: "failure", state: breaker.Closed},
			{do: "success", state: breaker.Closed},
			{do: "failure", state: breaker.Closed},
			{do: "failure", state: breaker.Closed},
			{do: "allow", allowed: true, state: breaker.Closed},
		}, nil},
		{"opens after the bound, refuses until open_for, then one probe", []step{
			{do: "failure", state: breaker.Closed},
			{do: "failure", state: breaker.Closed},
			{do: "failure", state: breaker.Open},
			{do: "allow", wait: 30 * time.Second, state: breaker.Open},
			{do: "advance", advance: 20 * time.Second, state: breaker.Open},
			{do: "allow", wait: 10 * time.Second, state: breaker.Open},
			{do: "advance", advance: 10 * time.Second, state: breaker.Open},
			{do: "allow", allowed: true, state: breaker.HalfOpen},
			{do: "allow", wait: time.Second, state: breaker.HalfOpen},
			{do: "success", state: breaker.Closed},
			{do: "allow", allowed: true, state: breaker.Closed},
		}, []breaker.State{breaker.Open, breaker.HalfOpen, breaker.Closed}},
		{"a failed probe re-opens for another open_for", []step{
			{do: "failure"}, {do: "failure"}, {do: "failure", state: breaker.Open},
			{do: "advance", advance: 30 * time.Second, state: breaker.Open},
			{do: "allow", allowed: true, state: breaker.HalfOpen},
			{do: "failure", state: breaker.Open},
			{do: "allow", wait: 30 * time.Second, state: breaker.Open},
			{do: "advance", advance: 30 * time.Second, state: breaker.Open},
			{do: "allow", allowed: true, state: breaker.HalfOpen},
			{do: "success", state: breaker.Closed},
		}, []breaker.State{breaker.Open, breaker.HalfOpen, breaker.Open, breaker.HalfOpen, breaker.Closed}},
		{"a released probe lets another through", []step{
			{do: "failure"}, {do: "failure"}, {do: "failure", state: breaker.Open},
			{do: "advance", advance: time.Minute, state: breaker.Open},
			{do: "allow", allowed: true, state: breaker.HalfOpen},
			{do: "release", state: breaker.HalfOpen},
			{do: "allow", allowed: true, state: breaker.HalfOpen},
			{do: "failure", state: breaker.Open},
		}, []breaker.State{breaker.Open, breaker.HalfOpen, breaker.Open}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.NewFake(t0)
			var changes []breaker.State
			b := breaker.New(cfg, clk, func(c breaker.Change) {
				require.Equal(t, c.To == breaker.Open, !c.Until.IsZero(), "Until is set for Open only")
				changes = append(changes, c.To)
			})
			require.Equal(t, breaker.Closed, b.State())
			for i, s := range tc.steps {
				switch s.do {
				case "allow":
					ok, wait := b.Allow()
					require.Equal(t, s.allowed, ok, "step %d: allowed", i)
					require.Equal(t, s.wait, wait, "step %d: wait", i)
				case "success":
					b.Success()
				case "failure":
					b.Failure()
				case "release":
					b.Release()
				case "advance":
					clk.Advance(s.advance)
				}
				if s.state != "" {
					require.Equal(t, s.state, b.State(), "step %d (%s): state", i, s.do)
				}
			}
			require.Equal(t, tc.changes, changes)
		})
	}
}

func TestDefaultsAndRemaining(t *testing.T) {
	clk := clocktest.NewFake(t0)
	var last breaker.Change
	b := breaker.New(breaker.Config{}, clk, func(c breaker.Change) { last = c })
	for range breaker.DefaultFailures - 1 {
		b.Failure()
	}
	require.Equal(t, breaker.Closed, b.State())
	require.Zero(t, b.Remaining())
	b.Failure()
	require.Equal(t, breaker.Open, b.State())
	require.Equal(t, breaker.Change{From: breaker.Closed, To: breaker.Open, Failures: breaker.DefaultFailures,
		Until: t0.Add(breaker.DefaultOpenFor)}, last)
	require.Equal(t, breaker.DefaultOpenFor, b.Remaining())
	clk.Advance(breaker.DefaultOpenFor + time.Second)
	require.Zero(t, b.Remaining())
}
