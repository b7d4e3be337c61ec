package ilert

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
