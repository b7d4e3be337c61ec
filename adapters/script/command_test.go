//go:build linux

package script

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
)

// TestCommandReports: a run for an edge connector item (an event with
// env.ILERT_EDGE_ITEM_ID) is reported through Deps.Command: created when it
// starts, then completed (exit 0), failed (another status, with it; a script that
// cannot start, without one) or expired (killed at its timeout, no status). An
// event without an item id reports nothing.
func TestCommandReports(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		timeout time.Duration
		attrs   map[string]string
		want    []adapters.CommandReport // Duration not compared
	}{
		{name: "completed", body: "exit 0", attrs: map[string]string{AttrEdgeItemID: "99", AttrEdgeAlertID: "123"},
			want: []adapters.CommandReport{{State: "created", ItemID: "99", AlertID: "123"},
				{State: "completed", ItemID: "99", AlertID: "123", Exited: true, ExitCode: 0}}},
		{name: "failed", body: "exit 3", attrs: map[string]string{AttrEdgeItemID: "7"},
			want: []adapters.CommandReport{{State: "created", ItemID: "7"},
				{State: "failed", ItemID: "7", Exited: true, ExitCode: 3}}},
		{name: "killed by a signal", body: "kill -9 $$", attrs: map[string]string{AttrEdgeItemID: "8"},
			want: []adapters.CommandReport{{State: "created", ItemID: "8"}, {State: "failed", ItemID: "8"}}},
		{name: "expired", body: "sleep 30", timeout: 200 * time.Millisecond, attrs: map[string]string{AttrEdgeItemID: "9"},
			want: []adapters.CommandReport{{State: "created", ItemID: "9"}, {State: "expired", ItemID: "9"}}},
		{name: "expired, though it exits 0 on the SIGTERM", body: "trap 'exit 0' TERM; sleep 30 & wait", timeout: 200 * time.Millisecond,
			attrs: map[string]string{AttrEdgeItemID: "10"},
			want:  []adapters.CommandReport{{State: "created", ItemID: "10"}, {State: "expired", ItemID: "10"}}},
		{name: "not an item", body: "exit 0", attrs: map[string]string{"env.OTHER": "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []adapters.CommandReport
			d := testDeps(nil)
			d.Command = func(c adapters.CommandReport) {
				mu.Lock()
				defer mu.Unlock()
				c.Duration = 0
				got = append(got, c)
			}
			cfg := Config{Command: writeScript(t, tc.body), Timeout: tc.timeout, KillGrace: 50 * time.Millisecond}
			s, err := New(cfg, d)
			require.NoError(t, err)
			require.NoError(t, s.Connect(context.Background()))
			t.Cleanup(func() { _ = s.Close(context.Background()) })
			_ = s.Send(context.Background(), event(`{}`, tc.attrs))
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, tc.want, got)
		})
	}
}
