package ilert

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

// The self-heartbeat (ilagent's -b) pings once at connect and then every interval,
// survives failed pings, and stops with Close.
func TestSelfHeartbeat(t *testing.T) {
	srv := ilerttest.NewServer(t)
	cfg := hostCfg(srv)
	cfg.SelfHeartbeatKey = "il1hbt-self"
	cfg.SelfHeartbeatInterval = time.Second
	srv.FailNext("/api/heartbeats/", 1, http.StatusInternalServerError)
	s, err := New(cfg, testDeps())
	require.NoError(t, err)
	require.NoError(t, s.Connect(context.Background()))
	require.NoError(t, s.Connect(context.Background()), "a reconnect starts no second loop")

	// First ping fails (500); the next ticks succeed.
	require.Eventually(t, func() bool { return len(srv.Heartbeats()) >= 2 }, 15*time.Second, 20*time.Millisecond)
	for _, h := range srv.Heartbeats() {
		require.Equal(t, ilerttest.Heartbeat{Legacy: true, Key: "il1hbt-self"}, h)
	}
	require.NoError(t, s.Close(context.Background()))
	select {
	case <-s.hbDone: // Close returned after the loop did: no ping can follow
	default:
		t.Fatal("Close returned while the self-heartbeat loop still ran")
	}

}

// TestSelfHeartbeatFollowsTheClock: the self-heartbeat ticks on the injected clock.
// With an hour's interval on a fake clock, each ping after the first follows one
// advance of the clock by the interval, and only that.
func TestSelfHeartbeatFollowsTheClock(t *testing.T) {
	srv := ilerttest.NewServer(t)
	cfg := hostCfg(srv)
	cfg.SelfHeartbeatKey = "il1hbt-self"
	cfg.SelfHeartbeatInterval = time.Hour
	clk := clocktest.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	d := testDeps()
	d.Clock, d.Now = clk, clk.Now
	s, err := New(cfg, d)
	require.NoError(t, err)
	require.NoError(t, s.Connect(context.Background()))
	t.Cleanup(func() { _ = s.Close(context.Background()) })

	// The first ping goes out at connect; each later one needs the clock to move.
	for want := 1; want <= 3; want++ {
		if want > 1 {
			clk.Advance(cfg.SelfHeartbeatInterval)
		}
		require.Eventually(t, func() bool { return len(srv.Heartbeats()) >= want }, 15*time.Second, 5*time.Millisecond,
			"ping %d after %d advances", want, want-1)
		// The loop is now back at, or on its way to, its wait: the ping counted is
		// the only one this advance caused (the ticker is the only source of pings).
		require.Len(t, srv.Heartbeats(), want)
	}
}

func TestSelfHeartbeatConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"interval too short", Config{SelfHeartbeatKey: "k", SelfHeartbeatInterval: time.Millisecond}, "self_heartbeat_interval"},
		{"key with slash", Config{SelfHeartbeatKey: "a/b"}, "self_heartbeat_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg.withDefaults()
			require.ErrorContains(t, c.Validate(), tc.want)
		})
	}
	require.Equal(t, DefaultHeartbeatInterval, Config{}.withDefaults().SelfHeartbeatInterval)
}
